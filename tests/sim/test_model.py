"""The model: the whole lab lifecycle, every rule and error text of docs/requirements.md, clock, persistence."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.powershell.errors import PSError

from _model_harness import PASSWORD, Shell, make_l1, world

HB = {"For": "Heartbeat", "Timeout": 600}


def boot_l1_with_hyperv(sh: Shell, name: str = "l1") -> Shell:
    """Create, boot, install Hyper-V in and reboot an L1; returns a shell inside it."""
    make_l1(sh, name)
    sh.ok("Start-VM", Name=[name])
    sh.ok("Wait-VM", Name=[name], **HB)
    guest = sh.guest(name)
    result = guest.run("Install-WindowsFeature", Name=["Hyper-V"], IncludeManagementTools=True)
    assert not result.errors and result.output[0].get("Success") is True
    guest.ok("Restart-Computer", Force=True)
    sh.ok("Wait-VM", Name=[name], For="Reboot", Timeout=600)
    return sh.guest(name)


def test_whole_lab_on_the_default_host() -> None:
    sh = Shell(world())
    make_l1(sh)
    vm = sh.ok("Get-VM", Name=["l1"])[0]
    assert vm.get("State").name == "Off" and vm.get("Heartbeat") is None
    sh.ok("Start-VM", Name=["l1"])
    assert sh.ok("Get-VM", Name=["l1"])[0].get("Heartbeat").name == "NoContact"
    sh.ok("Wait-VM", Name=["l1"], **HB)
    assert sh.ok("Get-VM", Name=["l1"])[0].get("Heartbeat").name == "OkApplicationsHealthy"
    guest = sh.guest("l1")
    boot1 = guest.ok("Get-CimInstance", ClassName="Win32_OperatingSystem")[0].get("LastBootUpTime")
    assert guest.ok("Get-CimInstance", ClassName="Win32_ComputerSystem")[0].get("HypervisorPresent") is False
    guest.ok("Install-WindowsFeature", Name=["Hyper-V"], IncludeManagementTools=True)
    guest.ok("Restart-Computer", Force=True)
    with pytest.raises(PSError, match="A remote session might have ended"):
        sh.guest("l1")  # rebooting: PowerShell Direct does not answer
    sh.ok("Wait-VM", Name=["l1"], For="Reboot", Timeout=600)
    guest = sh.guest("l1")
    assert guest.ok("Get-CimInstance", ClassName="Win32_OperatingSystem")[0].get("LastBootUpTime") > boot1
    assert guest.ok("Get-CimInstance", ClassName="Win32_ComputerSystem")[0].get("HypervisorPresent") is True
    assert [e.get("Id") for e in guest.ok("Get-WinEvent", FilterHashtable=[{"LogName": "System", "Id": 1}])] == [1]
    assert guest.ok("Get-Service", Name=["vmms"])[0].get("Status").name == "Running"
    # L2 inside the L1: the same code, one level down
    make_l1(guest, "l2", expose=False)
    guest.ok("Start-VM", Name=["l2"])
    guest.ok("Wait-VM", Name=["l2"], **HB)
    assert guest.ok("Get-VM", Name=["l2"])[0].get("State").name == "Running"
    assert guest.guest("l2").node.depth == 2


def test_rule_extensions_only_change_while_off() -> None:
    sh = Shell(world())
    make_l1(sh, expose=False)
    sh.ok("Start-VM", Name=["l1"])
    result = sh.run("Set-VMProcessor", VMName=["l1"], ExposeVirtualizationExtensions=True)
    assert [e.message for e in result.errors] == [
        "The operation cannot be performed while the virtual machine is in its current state."]
    assert result.errors[0].fqid == "InvalidState,Microsoft.HyperV.PowerShell.Commands.SetVMProcessor"
    assert sh.ok("Get-VMProcessor", VMName=["l1"])[0].get("ExposeVirtualizationExtensions") is False


def test_rule_saved_vm_must_have_saved_state_removed_first() -> None:
    sh = Shell(world("legacy-vms"))
    assert sh.run("Set-VMProcessor", VMName=["legacy-saved"], ExposeVirtualizationExtensions=False).errors
    sh.ok("Remove-VMSavedState", VMName=["legacy-saved"])
    assert sh.ok("Get-VM", Name=["legacy-saved"])[0].get("State").name == "Off"
    sh.ok("Set-VMProcessor", VMName=["legacy-saved"], ExposeVirtualizationExtensions=False)


def test_rule_no_nesting_before_10565() -> None:
    sh = Shell(world(build=10240))
    make_l1(sh, expose=False)
    result = sh.run("Set-VMProcessor", VMName=["l1"], ExposeVirtualizationExtensions=True)
    assert result.errors[0].message.startswith("Failed to modify device 'Processor'.")


def test_rule_version_8_needed_on_ga_builds() -> None:
    sh = Shell(world("legacy-vms"))
    result = sh.run("Set-VMProcessor", VMName=["legacy"], ExposeVirtualizationExtensions=True)  # version 7.0
    assert result.errors[0].message.startswith("Failed to modify device 'Processor'.")
    assert result.errors[0].fqid.endswith(",Microsoft.HyperV.PowerShell.Commands.SetVMProcessor")


def test_update_vm_version_upgrades_only_an_off_vm_to_the_host_default() -> None:
    sh = Shell(world("legacy-vms"))  # build 17763: versions up to 9.0
    for name in ("legacy-saved", "legacy-running"):
        result = sh.run("Update-VMVersion", Name=[name], Force=True)
        assert [e.message for e in result.errors] == [
            "The operation cannot be performed while the virtual machine is in its current state."]
        assert result.errors[0].fqid == "InvalidState,Microsoft.HyperV.PowerShell.Commands.UpdateVMVersion"
    assert sh.ok("Update-VMVersion", Name=["legacy"], Force=True) == []
    assert sh.ok("Get-VM", Name=["legacy"])[0].get("Version") == "9.0"
    # now it may expose the extensions (version 8.0 or higher on a GA build)
    sh.ok("Set-VMProcessor", VMName=["legacy"], ExposeVirtualizationExtensions=True)
    again = sh.ok("Update-VMVersion", Name=["legacy"], Force=True, Passthru=True)
    assert [vm.get("Version") for vm in again] == ["9.0"]


@pytest.mark.parametrize("scenario, version, starts", [
    ("amd-win10", "9.2", False),  # AMD below build 19636
    ("amd-ws2022", "9.0", False),  # AMD on 20348 but version below 9.3
    ("amd-ws2022", "10.0", True),
])
def test_rule_amd_needs_build_19636_and_version_9_3(scenario: str, version: str, starts: bool) -> None:
    sh = Shell(world(scenario))
    make_l1(sh, version=version)
    result = sh.run("Start-VM", Name=["l1"])
    if starts:
        assert not result.errors
    else:
        assert [e.message for e in result.errors] == [
            "The virtual machine could not be started because this platform does not support nested virtualization."]
        assert sh.ok("Get-VM", Name=["l1"])[0].get("State").name == "Off"


def test_rule_dynamic_memory_blocks_l1_boot_on_preview_builds() -> None:
    sh = Shell(world("preview-10565", vbs="off"))
    make_l1(sh, version="7.0", dynamic=True)
    result = sh.run("Start-VM", Name=["l1"])
    assert result.errors and "Dynamic memory" in result.errors[0].message
    sh.ok("Set-VM", Name=["l1"], StaticMemory=True)
    sh.ok("Start-VM", Name=["l1"])


def test_rule_dynamic_memory_does_not_block_on_ga_builds() -> None:
    sh = Shell(world())
    make_l1(sh, dynamic=True)
    sh.ok("Start-VM", Name=["l1"])


def test_rule_host_vbs_blocks_exposing_on_preview_builds_only() -> None:
    preview = Shell(world("preview-10565"))  # vbs running
    make_l1(preview, version="7.0", expose=False)
    result = preview.run("Set-VMProcessor", VMName=["l1"], ExposeVirtualizationExtensions=True)
    assert result.errors and result.errors[0].message.startswith("Failed to modify device 'Processor'.")
    ga = Shell(world("vbs-running"))
    make_l1(ga)  # exposing works
    assert ga.ok("Get-CimInstance", ClassName="Win32_DeviceGuard",
                 Namespace="root\\Microsoft\\Windows\\DeviceGuard")[0].get("VirtualizationBasedSecurityStatus") == 2


def test_rule_bcd_offernestedvirt_false_keeps_the_l1_hypervisor_down() -> None:
    sh = Shell(world("bcd-nested-off"))
    make_l1(sh)
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    guest = sh.guest("l1")
    result = guest.run("Install-WindowsFeature", Name=["Hyper-V"])
    assert result.errors[0].message == ("A prerequisite check for the Hyper-V feature failed.\n1. Hyper-V cannot be "
                                        "installed: The processor does not have required virtualization capabilities.")
    # the client path installs anyway, but the hypervisor cannot launch: event 41
    guest.ok("Enable-WindowsOptionalFeature", Online=True, FeatureName=["Microsoft-Hyper-V"], All=True)
    guest.ok("Restart-Computer", Force=True)
    sh.ok("Wait-VM", Name=["l1"], For="Reboot", Timeout=600)
    guest = sh.guest("l1")
    assert guest.node.hypervisor_running is False
    event = guest.ok("Get-WinEvent", FilterHashtable=[{"LogName": "System", "Id": [1, 41, 42]}])[0]
    assert (event.get("Id"), event.get("Message")) == (
        41, "Hypervisor launch failed; Either VMX not present or not enabled in BIOS.")


def test_rule_l1_without_extensions_cannot_install_hyperv() -> None:
    sh = Shell(world())
    make_l1(sh, expose=False)
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    result = sh.guest("l1").run("Install-WindowsFeature", Name=["Hyper-V"])
    assert result.errors[0].fqid == ("Alteration_PrerequisiteCheck_Failed,"
                                     "Microsoft.Windows.ServerManager.Commands.AddWindowsFeatureCommand")
    assert result.output[0].get("Success") is False


def test_rule_l2_does_not_start_without_a_running_l1_hypervisor() -> None:
    sh = Shell(world("bcd-nested-off"))
    make_l1(sh)
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    guest = sh.guest("l1")
    guest.ok("Enable-WindowsOptionalFeature", Online=True, FeatureName=["Microsoft-Hyper-V-All"])
    guest.ok("Restart-Computer", Force=True)
    sh.ok("Wait-VM", Name=["l1"], For="Reboot", Timeout=600)
    guest = sh.guest("l1")
    make_l1(guest, "l2", expose=False)
    result = guest.run("Start-VM", Name=["l2"])
    assert [e.message for e in result.errors] == [
        "Failed to start the virtual machine 'l2' because one of the Hyper-V components is not running."]


def test_host_without_hypervisor_cannot_start_vms_and_lacks_the_module() -> None:
    sh = Shell(world("no-hypervisor"))
    with pytest.raises(PSError, match="The term 'Get-VM' is not recognized"):
        sh.run("Get-VM")
    assert sh.ok("Get-CimInstance", ClassName="Win32_ComputerSystem")[0].get("HypervisorPresent") is False
    cpu = sh.ok("Get-CimInstance", ClassName="Win32_Processor")[0]
    assert cpu.get("VirtualizationFirmwareEnabled") is True  # readable only without a hypervisor


def test_nested_boot_crash_turns_the_l2_off_and_logs_why() -> None:
    sh = Shell(world("nested-boot-crash"))
    guest = boot_l1_with_hyperv(sh)
    make_l1(guest, "l2", expose=False)
    guest.ok("Start-VM", Name=["l2"])
    # as on Windows, Wait-VM does not notice the VM turned off: it runs out its timeout
    result = guest.run("Wait-VM", Name=["l2"], For="Heartbeat", Timeout=600)
    assert len(result.errors) == 1 and "not satisfied in the specified time-out" in result.errors[0].message
    assert guest.ok("Get-VM", Name=["l2"])[0].get("State").name == "Off"
    ids = [e.get("Id") for e in guest.ok("Get-WinEvent", LogName=["Microsoft-Windows-Hyper-V-Worker-Admin"])]
    assert 18590 in ids and 18500 in ids


def test_nested_boot_hang_times_out_with_the_real_text() -> None:
    sh = Shell(world("nested-boot-hang"))
    guest = boot_l1_with_hyperv(sh)
    make_l1(guest, "l2", expose=False)
    guest.ok("Start-VM", Name=["l2"])
    result = guest.run("Wait-VM", Name=["l2"], For="Heartbeat", Timeout=120)
    assert [e.message for e in result.errors] == [
        "This command stopped operation because the specified condition is not satisfied in the specified time-out."]
    assert result.errors[0].fqid == "OperationFailed,Microsoft.HyperV.PowerShell.Commands.WaitVM"


def test_guest_install_failure() -> None:
    sh = Shell(world("guest-install-fails"))
    make_l1(sh)
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    result = sh.guest("l1").run("Install-WindowsFeature", Name=["Hyper-V"])
    assert result.errors and "source files could not be found" in result.errors[0].message
    assert result.output[0].get("Success") is False


def test_powershell_direct_texts() -> None:
    w = world()
    sh = Shell(w)
    make_l1(sh)
    with pytest.raises(PSError) as missing:
        w.direct(w.host, "nope", "Administrator", PASSWORD)
    assert missing.value.message == "The input VMName parameter does not resolve to any virtual machine."
    with pytest.raises(PSError) as off:
        w.direct(w.host, "l1", "Administrator", PASSWORD)
    assert off.value.message == ("An error has occurred which Windows PowerShell cannot handle. "
                                 "A remote session might have ended.")
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    with pytest.raises(PSError) as bad:
        w.direct(w.host, "l1", "Administrator", "wrong")
    assert bad.value.message == "The credential is invalid."
    assert "wrong" not in repr(bad.value) and PASSWORD not in repr(w.guest_image)
    assert w.direct(w.host, "L1", ".\\administrator", PASSWORD).depth == 1


def test_wait_blocks_for_scaled_real_time_and_wakes_on_cancel() -> None:
    w = world(time_scale=100.0)
    sh = Shell(w)
    make_l1(sh)
    sh.ok("Start-VM", Name=["l1"])
    started = time.monotonic()
    sh.ok("Wait-VM", Name=["l1"], **HB)  # 45 modelled seconds at 100x
    assert 0.3 < time.monotonic() - started < 3.0
    sh.ok("Stop-VM", Name=["l1"], TurnOff=True)
    sh.ok("Start-VM", Name=["l1"])
    threading.Timer(0.1, sh.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(PSError, match="pipeline has been stopped"):
        sh.run("Wait-VM", Name=["l1"], For="Reboot", Timeout=-1)
    assert time.monotonic() - started < 1.0


def test_clock_advance_drives_lazy_transitions() -> None:
    w = world(time_scale=1.0)
    sh = Shell(w)
    make_l1(sh)
    sh.ok("Start-VM", Name=["l1"])
    assert sh.ok("Get-VM", Name=["l1"])[0].get("Heartbeat").name == "NoContact"
    w.clock.advance(46)
    vm = sh.ok("Get-VM", Name=["l1"])[0]
    assert vm.get("Heartbeat").name == "OkApplicationsHealthy" and vm.get("Uptime").total_seconds() >= 46


def test_state_survives_save_and_load_without_secrets(tmp_path: Path) -> None:
    w = world()
    sh = Shell(w)
    boot_l1_with_hyperv(sh)
    path = tmp_path / "state.json"
    w.save(path)
    assert PASSWORD not in path.read_text()
    again = World.load(path)
    vm = again.host.vms[0]
    assert vm.state == "Running" and vm.guest is not None and vm.guest.hypervisor_running
    assert again.now() >= w.host.vms[0].started_at
    assert again.direct(again.host, "l1", "Administrator", PASSWORD).has_feature("Hyper-V")
    assert again.to_dict()["host"] == w.to_dict()["host"]


def test_on_change_is_called() -> None:
    w = world()
    calls: list[int] = []
    w.on_change = lambda: calls.append(1)
    Shell(w).ok("New-VM", Name="x")
    assert calls
