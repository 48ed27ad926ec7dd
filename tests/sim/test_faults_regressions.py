"""Scenarios that model platform regressions and broken images, at the model/cmdlet level.

Each regression is checked against the healthy default too, so a test fails if the fault
switch stops mattering (or leaks into the healthy host)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.powershell.errors import PSError
from pytest_nestedhv.sim.scenario import ScenarioError, load_scenario

from _model_harness import Shell, make_l1, world

HB = {"For": "Heartbeat", "Timeout": 600}
INVALID_STATE = "The operation cannot be performed while the virtual machine is in its current state."


def running_l1(sh: Shell, name: str = "l1", expose: bool = True) -> Shell:
    make_l1(sh, name, expose=expose)
    sh.ok("Start-VM", Name=[name])
    sh.ok("Wait-VM", Name=[name], **HB)
    return sh.guest(name)


def install_and_reboot(sh: Shell, name: str = "l1") -> tuple[Shell, list[str]]:
    result = sh.guest(name).run("Install-WindowsFeature", Name=["Hyper-V"], IncludeManagementTools=True)
    assert not result.errors and result.output[0].get("Success") is True, [e.message for e in result.errors]
    sh.guest(name).ok("Restart-Computer", Force=True)
    sh.ok("Wait-VM", Name=[name], For="Reboot", Timeout=600)
    sh.ok("Wait-VM", Name=[name], **HB)
    return sh.guest(name), result.warnings


def hypervisor_present(guest: Shell) -> bool:
    return guest.ok("Get-CimInstance", ClassName="Win32_ComputerSystem")[0].get("HypervisorPresent")


# ---------------------------------------------------------------- vm.toggle-while-running


@pytest.mark.parametrize("scenario, accepted", [("default", False), ("toggle-regression", True)])
def test_toggle_on_a_running_vm(scenario: str, accepted: bool) -> None:
    sh = Shell(world(scenario))
    running_l1(sh)
    result = sh.run("Set-VMProcessor", VMName=["l1"], ExposeVirtualizationExtensions=False)
    expose = sh.ok("Get-VMProcessor", VMName=["l1"])[0].get("ExposeVirtualizationExtensions")
    if accepted:
        assert result.errors == [] and expose is False
    else:
        assert [e.message for e in result.errors] == [INVALID_STATE]
        assert result.errors[0].fqid == "InvalidState,Microsoft.HyperV.PowerShell.Commands.SetVMProcessor"
        assert expose is True
    # the regression is about the extensions only: other processor changes are still refused
    count = sh.run("Set-VMProcessor", VMName=["l1"], Count=8)
    assert [e.message for e in count.errors] == [INVALID_STATE]


# ---------------------------------------------------------------- negative.no-extensions


def test_no_extensions_regression_gives_an_unexposed_l1_a_working_hypervisor() -> None:
    sh = Shell(world("no-extensions-regression"))
    guest = running_l1(sh, expose=False)
    assert sh.ok("Get-VMProcessor", VMName=["l1"])[0].get("ExposeVirtualizationExtensions") is False
    cpu = guest.ok("Get-CimInstance", ClassName="Win32_Processor")[0]
    assert cpu.get("VMMonitorModeExtensions") is True and cpu.get("SecondLevelAddressTranslationExtensions") is True
    guest, _ = install_and_reboot(sh)
    assert hypervisor_present(guest) is True
    guest.ok("New-VM", Name="l2", Generation=2, NoVHD=True, MemoryStartupBytes=512 * 1024**2)
    guest.ok("Start-VM", Name=["l2"])
    assert guest.ok("Get-VM", Name=["l2"])[0].get("State").name == "Running"


def test_healthy_host_refuses_an_unexposed_l1_what_the_regression_allows() -> None:
    sh = Shell(world("default"))
    guest = running_l1(sh, expose=False)
    assert guest.ok("Get-CimInstance", ClassName="Win32_Processor")[0].get("VMMonitorModeExtensions") is False
    result = guest.run("Install-WindowsFeature", Name=["Hyper-V"], IncludeManagementTools=True)
    assert "The processor does not have required virtualization capabilities." in result.errors[0].message


def test_no_extensions_regression_keeps_the_other_rules() -> None:
    # BCD OFFERNESTEDVIRT=FALSE still hides VT-x even under the regression
    scenario = load_scenario("no-extensions-regression")
    scenario = dataclasses.replace(scenario, host=dataclasses.replace(scenario.host, bcd_offer_nested=False),
                                   faults=dataclasses.replace(scenario.faults, time_scale=100000.0))
    sh = Shell(World.from_scenario(scenario))
    guest = running_l1(sh, expose=False)
    assert guest.ok("Get-CimInstance", ClassName="Win32_Processor")[0].get("VMMonitorModeExtensions") is False


# ---------------------------------------------------------------- nested.create: no Hyper-V tools in the L1


def test_guest_without_tools_runs_a_hypervisor_but_has_no_hyperv_module() -> None:
    sh = Shell(world("guest-no-hyperv-tools"))
    running_l1(sh)
    guest, warnings = install_and_reboot(sh)
    assert any("management tools could not be installed" in w for w in warnings)
    assert hypervisor_present(guest) is True
    states = {f.get("Name"): f.get("InstallState").name for f in guest.ok("Get-WindowsFeature")}
    assert states["Hyper-V"] == "Installed" and states["Hyper-V-PowerShell"] == "Removed"
    with pytest.raises(PSError) as info:
        guest.run("New-VM", Name="l2", Generation=2, NoVHD=True)
    assert info.value.fqid == "CommandNotFoundException"
    assert info.value.message.startswith("The term 'New-VM' is not recognized as the name of a cmdlet, function, "
                                         "script file, or operable program.")
    # the host is not affected: its own module works
    assert sh.ok("Get-VM", Name=["l1"])[0].get("State").name == "Running"


def test_guest_without_tools_refuses_the_tools_by_name() -> None:
    sh = Shell(world("guest-no-hyperv-tools"))
    guest = running_l1(sh)
    result = guest.run("Install-WindowsFeature", Name=["Hyper-V-PowerShell"])
    assert "The source files could not be found." in result.errors[0].message
    assert result.output[0].get("Success") is False
    with pytest.raises(PSError, match="The source files could not be found"):
        guest.run("Enable-WindowsOptionalFeature", Online=True, FeatureName=["Microsoft-Hyper-V-Management-PowerShell"])


def test_guest_without_tools_dism_all_enables_the_role_only() -> None:
    sh = Shell(world("guest-no-hyperv-tools"))
    guest = running_l1(sh)
    guest.ok("Enable-WindowsOptionalFeature", Online=True, FeatureName=["Microsoft-Hyper-V"], All=True, NoRestart=True)
    guest.ok("Restart-Computer", Force=True)
    sh.ok("Wait-VM", Name=["l1"], For="Reboot", Timeout=600)
    sh.ok("Wait-VM", Name=["l1"], **HB)
    guest = sh.guest("l1")
    assert hypervisor_present(guest) is True
    with pytest.raises(PSError, match="The term 'Get-VM' is not recognized"):
        guest.run("Get-VM")


# ---------------------------------------------------------------- nested.boot: L2 without an OS


def l1_with_hyperv(scenario: str) -> tuple[Shell, Shell]:
    sh = Shell(world(scenario))
    running_l1(sh)
    guest, _ = install_and_reboot(sh)
    guest.ok("New-VM", Name="l2", Generation=2, NoVHD=True, MemoryStartupBytes=512 * 1024**2)
    guest.ok("Start-VM", Name=["l2"])
    return sh, guest


def test_nested_boot_crash_crashes_an_l2_without_an_os() -> None:
    sh, guest = l1_with_hyperv("nested-boot-crash")
    assert guest.ok("Get-VM", Name=["l2"])[0].get("State").name == "Running"
    sh.world.clock.advance(sh.world.nested.crash_after_seconds + 1)
    assert guest.ok("Get-VM", Name=["l2"])[0].get("State").name == "Off"
    events = guest.ok("Get-WinEvent", LogName=["Microsoft-Windows-Hyper-V-Worker-Admin"])
    crash = [e for e in events if e.get("Id") == 18590]
    assert len(crash) == 1 and "triple fault" in crash[0].get("Message")
    assert "guest operating system reported" not in crash[0].get("Message")  # no OS ever ran
    # the L1 is not affected
    assert sh.ok("Get-VM", Name=["l1"])[0].get("State").name == "Running"


@pytest.mark.parametrize("scenario", ["default", "nested-boot-hang"])
def test_an_l2_without_an_os_stays_running_in_firmware(scenario: str) -> None:
    # a hang without an OS is what firmware waiting for a boot disk looks like: Running, no heartbeat
    sh, guest = l1_with_hyperv(scenario)
    sh.world.clock.advance(3600)
    vm = guest.ok("Get-VM", Name=["l2"])[0]
    assert vm.get("State").name == "Running" and vm.get("Heartbeat").name == "NoContact"
    assert [m for m in guest.world.host.vms[0].guest.vms if m.name == "l2"][0].hangs is (scenario == "nested-boot-hang")


def test_a_saved_l2_without_an_os_does_not_crash_while_saved() -> None:
    sh, guest = l1_with_hyperv("nested-boot-crash")
    guest.ok("Stop-VM", Name=["l2"], Save=True)
    sh.world.clock.advance(3600)
    assert guest.ok("Get-VM", Name=["l2"])[0].get("State").name == "Saved"


# ---------------------------------------------------------------- the schema


@pytest.mark.parametrize("text, fragment", [
    ("[faults]\naccept_toggle_while_running = 1\n", "[faults] accept_toggle_while_running: expected bool"),
    ("[faults]\nignore_expose_extensions = 'yes'\n", "[faults] ignore_expose_extensions: expected bool"),
    ("[guest]\nhyperv_install = 'no_tools'\n", "[guest] hyperv_install: expected one of 'ok', 'fail', 'no-tools'"),
    # host outages (tests/sim/test_host_outage.py)
    ("[nested]\nboot = 'bugcheck'\n", "[nested] boot: expected one of 'ok', 'crash', 'hang', 'host-bugcheck'"),
    ("[faults]\nhost_restart_at = 'install'\n", "[faults] host_restart_at: expected one of '', 'l1-created'"),
    ("[faults]\nhost_restart_kind = 'clean'\n", "[faults] host_restart_kind: expected one of 'unexpected', 'planned'"),
    ("[host]\nreboot_seconds = -1\n", "[host] reboot_seconds: must be >= 0"),
])
def test_new_keys_are_validated(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    assert fragment in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name, key", [("toggle-regression", "accept_toggle_while_running"),
                                       ("no-extensions-regression", "ignore_expose_extensions")])
def test_fault_switches_survive_the_state_file(tmp_path: Path, name: str, key: str) -> None:
    w = World.from_scenario(load_scenario(name))
    assert getattr(w.faults, key) is True
    w.save(tmp_path / "state.json")
    assert getattr(World.load(tmp_path / "state.json").faults, key) is True
    assert getattr(World.from_scenario(load_scenario("default")).faults, key) is False


def test_a_state_file_from_before_the_switches_still_loads(tmp_path: Path) -> None:
    w = World.from_scenario(load_scenario("default"))
    data = w.to_dict()
    for key in ("accept_toggle_while_running", "ignore_expose_extensions"):
        del data["faults"][key]
    (tmp_path / "old.json").write_text(json.dumps(data), encoding="utf-8")
    loaded = World.load(tmp_path / "old.json")
    assert loaded.faults.accept_toggle_while_running is False and loaded.faults.ignore_expose_extensions is False
