"""docs/requirements.md end to end through pypsrp: one test per rule and per error text the model
produces, each on the shipped scenario that shows it (or a copy changed in one named field).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from pytest_nestedhv.sim.scenario import Scenario, load_scenario
from wire_helpers import CATEGORY, GB, WireHost, cmd, enum_of, error_facts, i64, prop

HVC = "Microsoft.HyperV.PowerShell.Commands."
PROCESSOR_FAILED = "Failed to modify device 'Processor'."
INVALID_STATE = "The operation cannot be performed while the virtual machine is in its current state."
AMD_REFUSAL = "The virtual machine could not be started because this platform does not support nested virtualization."


def host_with(name: str, **host_fields: object) -> Scenario:
    """A shipped scenario with some [host] fields changed."""
    scenario = load_scenario(name)
    return dataclasses.replace(scenario, host=dataclasses.replace(scenario.host, **host_fields))


@pytest.fixture(scope="module")
def default() -> Iterator[WireHost]:
    with WireHost.start("default") as started:
        yield started


def installed_l1(host: WireHost, name: str, *, expose: bool = True, dism: bool = False) -> None:
    """An L1 booted, Hyper-V installed in its guest and the guest rebooted (the lab's chain)."""
    host.make_l1(name, expose=expose, start=True)
    if dism:
        result = host.in_guest(name, "Enable-WindowsOptionalFeature", Online=True, FeatureName="Microsoft-Hyper-V",
                               All=True, NoRestart=True)
    else:
        result = host.in_guest(name, "Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=True)
    assert not result.errors, [str(e) for e in result.errors]
    assert host.in_guest(name, "Restart-Computer", Force=True).errors == []
    host.ok(cmd("Wait-VM", Name=name, For="Reboot", Timeout=600))


def hypervisor_present(host: WireHost, vm: str) -> bool:
    (cs,) = host.in_guest(vm, "Get-CimInstance", ClassName="Win32_ComputerSystem").output
    return bool(prop(cs, "HypervisorPresent"))


def hypervisor_events(host: WireHost, vm: str) -> list[tuple[int, str]]:
    events = host.in_guest(vm, "Get-WinEvent", FilterHashtable={
        "LogName": "System", "ProviderName": "Microsoft-Windows-Hyper-V-Hypervisor"}).output
    return [(prop(e, "Id"), prop(e, "Message")) for e in events]


def processor_error(host: WireHost, vm: str, expose: bool) -> tuple[str, str, int]:
    result = host.run(cmd("Set-VMProcessor", VMName=vm, ExposeVirtualizationExtensions=expose))
    assert not result.had_errors  # a per-VM failure is non-terminating
    return error_facts(result.only_error())


# --- §1: builds and eras -------------------------------------------------------------------------
def test_before_10565_there_is_no_nesting() -> None:
    with WireHost.start(host_with("default", build=10240, ubr=0)) as host:
        host.ok(cmd("New-VM", Name="old"))
        message, fqid, _ = processor_error(host, "old", True)
        assert message == f"{PROCESSOR_FAILED}\nThis version of Hyper-V does not support nested virtualization."
        assert fqid == f"OperationFailed,{HVC}SetVMProcessor"


def test_preview_host_with_vbs_cannot_expose_the_extensions() -> None:
    with WireHost.start("preview-10565") as host:
        message, _, category = processor_error(host, "preview-l1", True)
        assert message == (f"{PROCESSOR_FAILED}\nNested virtualization cannot be enabled while Virtualization Based "
                           "Security is enabled on the host.")
        assert category == CATEGORY["InvalidOperation"]
        (proc,) = host.ok(cmd("Get-VMProcessor", VMName="preview-l1"))
        assert prop(proc, "ExposeVirtualizationExtensions") is False


@pytest.fixture(scope="module")
def preview_no_vbs() -> Iterator[WireHost]:
    with WireHost.start(host_with("preview-10565", vbs="off")) as started:
        yield started


def test_preview_dynamic_memory_keeps_the_l1_from_starting(preview_no_vbs: WireHost) -> None:
    host = preview_no_vbs
    host.ok(cmd("Set-VMProcessor", VMName="preview-l1", ExposeVirtualizationExtensions=True))
    result = host.run(cmd("Start-VM", Name="preview-l1"))
    assert not result.had_errors
    message, fqid, _ = error_facts(result.only_error())
    assert "Dynamic memory" in message and message.startswith("'preview-l1' failed to start.")
    assert fqid == f"OperationFailed,{HVC}StartVM"
    (vm,) = host.ok(cmd("Get-VM", Name="preview-l1"))
    assert enum_of(vm, "State") == "Off"


def test_preview_running_l1_memory_cannot_be_resized_nor_saved(preview_no_vbs: WireHost) -> None:
    host = preview_no_vbs
    host.make_l1("preview-static", version="7.0", start=True, memory_gb=4)
    resize = host.run(cmd("Set-VMMemory", VMName="preview-static", StartupBytes=i64(6 * GB)))
    assert str(resize.only_error()).startswith("Failed to modify device 'Memory'.")
    save = host.run(cmd("Stop-VM", Name="preview-static", Save=True))
    assert "could not be saved" in str(save.only_error())
    (vm,) = host.ok(cmd("Get-VM", Name="preview-static"))
    assert (enum_of(vm, "State"), prop(vm, "MemoryStartup")) == ("Running", 4 * GB)


def test_ga_needs_configuration_version_8_0() -> None:
    with WireHost.start("legacy-vms") as host:  # Server 2019; "legacy" is version 7.0
        message, fqid, _ = processor_error(host, "legacy", True)
        assert message == f"{PROCESSOR_FAILED}\nNested virtualization requires configuration version 8.0 or higher."
        assert fqid == f"OperationFailed,{HVC}SetVMProcessor"
        host.ok(cmd("New-VM", Name="v8", Version="8.0"))
        assert host.run(cmd("Set-VMProcessor", VMName="v8", ExposeVirtualizationExtensions=True)).errors == []


def test_ga_dynamic_memory_does_not_block_boot(default: WireHost) -> None:
    default.make_l1("ga-dynamic")
    default.ok(cmd("Set-VMMemory", VMName="ga-dynamic", DynamicMemoryEnabled=True))
    default.ok(cmd("Start-VM", Name="ga-dynamic"))
    (vm,) = default.ok(cmd("Wait-VM", Name="ga-dynamic", For="Heartbeat", Timeout=600, Passthru=True))
    assert prop(vm, "DynamicMemoryEnabled") is True and enum_of(vm, "State") == "Running"


def test_ga_memory_of_a_running_l1_is_fixed_only_while_hyperv_runs_inside(default: WireHost) -> None:
    default.make_l1("ga-resize", start=True)
    default.ok(cmd("Set-VMMemory", VMName="ga-resize", StartupBytes=i64(10 * GB)))  # no hypervisor inside yet
    installed_l1(default, "ga-fixed")
    assert hypervisor_present(default, "ga-fixed")
    result = default.run(cmd("Set-VMMemory", VMName="ga-fixed", StartupBytes=i64(10 * GB)))
    message, fqid, _ = error_facts(result.only_error())
    assert message.startswith("Failed to modify device 'Memory'.")
    assert fqid == f"OperationFailed,{HVC}SetVMMemory"


def test_ga_vbs_on_the_host_is_reported_not_a_blocker() -> None:
    with WireHost.start("vbs-running") as host:
        (dg,) = host.ok(cmd("Get-CimInstance", ClassName="Win32_DeviceGuard",
                            Namespace="root\\Microsoft\\Windows\\DeviceGuard"))
        assert (prop(dg, "VirtualizationBasedSecurityStatus"), prop(dg, "SecurityServicesRunning")) == (2, [1, 2])
        installed_l1(host, "vbs-l1")
        assert hypervisor_present(host, "vbs-l1")


def test_amd_below_19636_refuses_to_start_a_nesting_l1() -> None:
    with WireHost.start("amd-win10") as host:
        (cpu,) = host.ok(cmd("Get-CimInstance", ClassName="Win32_Processor"))
        assert prop(cpu, "Manufacturer") == "AuthenticAMD"
        host.make_l1("amd-l1")  # exposing is accepted; starting is not
        result = host.run(cmd("Start-VM", Name="amd-l1"))
        assert not result.had_errors
        message, fqid, category = error_facts(result.only_error())
        assert (message, fqid) == (AMD_REFUSAL, f"OperationFailed,{HVC}StartVM")
        assert category == CATEGORY["NotSpecified"]


def test_amd_needs_configuration_version_9_3() -> None:
    with WireHost.start("amd-ws2022") as host:
        assert str(host.run(cmd("Start-VM", Name="old-amd-l1")).only_error()) == AMD_REFUSAL  # version 9.0
        installed_l1(host, "amd-new")  # the host's default 10.0
        assert hypervisor_present(host, "amd-new")


def test_amd_l1_without_exposed_extensions_logs_event_42() -> None:
    with WireHost.start("amd-ws2022") as host:
        installed_l1(host, "amd-plain", expose=False, dism=True)
        assert (42, "Hypervisor launch failed; Either SVM not present or not enabled in BIOS.") in \
            hypervisor_events(host, "amd-plain")


# --- §1: other rules -----------------------------------------------------------------------------
def test_extensions_toggle_only_while_off(default: WireHost) -> None:
    default.make_l1("toggle", start=True)
    message, fqid, category = processor_error(default, "toggle", False)
    assert (message, fqid, category) == (INVALID_STATE, f"InvalidState,{HVC}SetVMProcessor",
                                         CATEGORY["InvalidOperation"])
    default.ok(cmd("Stop-VM", Name="toggle", TurnOff=True))
    default.ok(cmd("Set-VMProcessor", VMName="toggle", ExposeVirtualizationExtensions=False))


def test_saved_vm_needs_its_saved_state_removed_before_toggling() -> None:
    with WireHost.start("legacy-vms") as host:
        message, _, _ = processor_error(host, "legacy-saved", False)
        assert message == INVALID_STATE
        host.ok(cmd("Remove-VMSavedState", VMName="legacy-saved"))
        (proc,) = host.ok(cmd("Set-VMProcessor", VMName="legacy-saved", ExposeVirtualizationExtensions=False,
                              Passthru=True))
        assert prop(proc, "ExposeVirtualizationExtensions") is False


def test_checkpoints_and_saved_state_are_visible_to_the_checker() -> None:
    with WireHost.start("legacy-vms") as host:
        vms = {prop(v, "Name"): v for v in host.ok(cmd("Get-VM"))}
        assert prop(vms["legacy"], "ParentCheckpointId") is not None
        assert enum_of(vms["legacy-saved"], "State") == "Saved"
        assert prop(vms["legacy-saved"], "ParentCheckpointId") is None
        assert len(host.ok(cmd("Get-VMSnapshot", VMName="legacy-running"))) == 2


def test_generation_1_l1_nests_too(default: WireHost) -> None:
    default.ok(cmd("New-VHD", Path="C:\\VMs\\gen1.vhdx", ParentPath="C:\\Images\\ws2025.vhdx", Differencing=True))
    default.ok(cmd("New-VM", Name="gen1", Generation=1, MemoryStartupBytes=i64(8 * GB), VHDPath="C:\\VMs\\gen1.vhdx"))
    default.ok(cmd("Set-VMProcessor", VMName="gen1", ExposeVirtualizationExtensions=True))
    default.ok(cmd("Start-VM", Name="gen1"))
    default.ok(cmd("Wait-VM", Name="gen1", For="Heartbeat", Timeout=600))
    assert default.in_guest("gen1", "Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=True,
                            Restart=True).errors == []
    default.ok(cmd("Wait-VM", Name="gen1", For="Heartbeat", Timeout=600))
    assert hypervisor_present(default, "gen1")


def test_bcd_offernestedvirt_false_disables_nesting() -> None:
    with WireHost.start("bcd-nested-off") as host:
        assert "hypervisorloadoptions   OFFERNESTEDVIRT=FALSE" in host.ok(cmd("bcdedit", "/enum"))
        host.make_l1("bcd-l1", start=True)
        result = host.in_guest("bcd-l1", "Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=True)
        assert str(result.only_error()) == ("A prerequisite check for the Hyper-V feature failed.\n1. Hyper-V cannot "
                                            "be installed: The processor does not have required virtualization "
                                            "capabilities.")


def test_an_l1_running_hyperv_is_a_node_that_holds_l2_vms(default: WireHost) -> None:
    installed_l1(default, "l1-node")
    (l2,) = default.in_guest("l1-node", "New-VM", Name="l2", MemoryStartupBytes=i64(1 * GB)).output
    assert l2.types[0] == "Deserialized.Microsoft.HyperV.PowerShell.VirtualMachine"
    assert prop(l2, "PSComputerName") == "l1-node"
    assert default.in_guest("l1-node", "Start-VM", Name="l2").errors == []
    (running,) = default.in_guest("l1-node", "Get-VM", Name="l2").output
    assert enum_of(running, "State") == "Running"
    on_host = default.run(cmd("Get-VM", Name="l2"))  # the L2 lives in the L1, not on the host
    assert on_host.output == [] and "l2" in str(on_host.only_error())


# --- §3 texts ------------------------------------------------------------------------------------
def test_install_hyperv_without_exposed_extensions(default: WireHost) -> None:
    default.make_l1("no-ext", expose=False, start=True)
    result = default.in_guest("no-ext", "Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=True)
    message, fqid, category = error_facts(result.only_error())
    assert message == ("A prerequisite check for the Hyper-V feature failed.\n1. Hyper-V cannot be installed: "
                       "The processor does not have required virtualization capabilities.")
    assert fqid == ("Alteration_PrerequisiteCheck_Failed,"
                    "Microsoft.Windows.ServerManager.Commands.AddWindowsFeatureCommand")
    assert category == CATEGORY["InvalidOperation"]
    (outcome,) = result.output
    assert prop(outcome, "Success") is False


def test_starting_an_l2_when_the_l1_hypervisor_is_not_running(default: WireHost) -> None:
    installed_l1(default, "no-hv", expose=False, dism=True)  # DISM installs; the hypervisor cannot launch
    assert not hypervisor_present(default, "no-hv")
    assert (41, "Hypervisor launch failed; Either VMX not present or not enabled in BIOS.") in \
        hypervisor_events(default, "no-hv")
    assert default.in_guest("no-hv", "New-VM", Name="l2").errors == []
    result = default.in_guest("no-hv", "Start-VM", Name="l2")
    message, fqid, _ = error_facts(result.only_error())
    assert message == "Failed to start the virtual machine 'l2' because one of the Hyper-V components is not running."
    assert fqid == f"OperationFailed,{HVC}StartVM"


def test_hypervisor_started_event_in_an_l1(default: WireHost) -> None:
    installed_l1(default, "hv-event")
    assert (1, "Hypervisor successfully started.") in hypervisor_events(default, "hv-event")


def test_wait_vm_timeout(default: WireHost) -> None:
    default.ok(cmd("New-VM", Name="no-os"))  # never boots: no heartbeat ever
    default.ok(cmd("Start-VM", Name="no-os"))
    result = default.run(cmd("Wait-VM", Name="no-os", For="Heartbeat", Timeout=5))
    assert not result.had_errors
    message, fqid, category = error_facts(result.only_error())
    assert message == ("This command stopped operation because the specified condition is not satisfied in the "
                       "specified time-out.")
    assert fqid == f"OperationFailed,{HVC}WaitVM"  # ExceptionHelper.CreateOperationFailedException
    assert category == CATEGORY["InvalidOperation"]


def test_client_sku_has_no_server_manager_cmdlets() -> None:
    # docs/requirements.md#guesthyperv-install: Install-WindowsFeature is the server path, DISM the client one
    with WireHost.start("amd-win10") as host:
        result = host.run(cmd("Get-WindowsFeature", Name="Hyper-V"))
        assert result.failed and result.only_error().fq_error == "CommandNotFoundException"
        (feature,) = host.ok(cmd("Get-WindowsOptionalFeature", Online=True, FeatureName="Microsoft-Hyper-V"))
        assert enum_of(feature, "State") == "Enabled"
