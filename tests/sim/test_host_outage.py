"""The host going away: [nested] boot = "host-bugcheck" and [faults] host_restart_at.

The model: every VM Off afterwards, a new LastBootUpTime, Windows' boot-time events. The wire:
the port really closes (connections refused) and opens again, with the old shells gone.
"""
from __future__ import annotations

import dataclasses
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from pypsrp.complex_objects import PSCredential
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from pytest_nestedhv.hyperv import crash
from pytest_nestedhv.remote.objects import RemoteObject
from pytest_nestedhv.sim.model import outage
from pytest_nestedhv.sim.model.outage import HostDown
from pytest_nestedhv.sim.powershell.errors import PSError
from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.powershell.engine import Engine
from pytest_nestedhv.sim.scenario import load_scenario
from pytest_nestedhv.sim.server import SimServer

from _model_harness import Shell, make_l1, world
from wire_helpers import GUEST_PASSWORD, GUEST_USER, IN_GUEST_SCRIPT

HB = {"For": "Heartbeat", "Timeout": 600}
BUGCHECK_RE = re.compile(r"^The computer has rebooted from a bugcheck\.  The bugcheck was: 0x([0-9a-f]{8}) "
                         r"\((0x[0-9a-f]{16}, ){3}0x[0-9a-f]{16}\)\. A dump was saved in: C:\\Windows\\MEMORY\.DMP\. "
                         r"Report Id: [0-9a-f-]{36}\.$")
SHUTDOWN_RE = re.compile(r"^The previous system shutdown at \d{1,2}:\d\d:\d\d [AP]M on "
                         r"\u200e\d{1,2}/\u200e\d{1,2}/\u200e\d{4} was unexpected\.$")


def _scenario_world(name: str, **faults: Any) -> World:
    scenario = load_scenario(name)
    faults = {"time_scale": 100000.0, **faults}
    scenario = dataclasses.replace(scenario, faults=dataclasses.replace(scenario.faults, **faults))
    return World.from_scenario(scenario)


def _l1_with_hyperv(sh: Shell) -> Shell:
    make_l1(sh)
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    sh.guest("l1").ok("Install-WindowsFeature", Name=["Hyper-V"], IncludeManagementTools=True)
    sh.guest("l1").ok("Restart-Computer", Force=True)
    sh.ok("Wait-VM", Name=["l1"], For="Reboot", Timeout=600)
    sh.ok("Wait-VM", Name=["l1"], **HB)
    guest = sh.guest("l1")
    guest.ok("New-VM", Name="l2", Generation=2, NoVHD=True, MemoryStartupBytes=512 * 1024**2)
    return guest


def _system(sh: Shell, *ids: int) -> list[Any]:
    return sh.ok("Get-WinEvent", FilterHashtable=[{"LogName": "System", "Id": list(ids)}])


def _last_boot(sh: Shell) -> Any:
    return sh.ok("Get-CimInstance", ClassName="Win32_OperatingSystem")[0].get("LastBootUpTime")


def test_starting_an_l2_bugchecks_the_host_and_it_comes_back_with_everything_off() -> None:
    sh = Shell(world("host-bugcheck"))
    guest = _l1_with_hyperv(sh)
    boot_before = _last_boot(sh)
    reboot = sh.world.faults.host_reboot_seconds = 10.0**7  # modelled time runs 100000x: leave a margin
    with pytest.raises(HostDown):
        guest.run("Start-VM", Name=["l2"])
    assert sh.world.host_down
    sh.world.clock.advance(reboot - 10.0**5)
    assert sh.world.host_down  # still rebooting
    sh.world.clock.advance(10.0**5)
    assert not sh.world.host_down
    assert [vm.state for vm in sh.world.host.vms] == ["Off"]
    inner = sh.world.host.vms[0].guest
    assert inner is not None and not inner.booted and [vm.state for vm in inner.vms] == ["Off"]  # the L2 with it
    l1 = sh.ok("Get-VM", Name=["l1"])[0]
    assert l1.get("State").name == "Off" and l1.get("Heartbeat") is None
    assert _last_boot(sh) > boot_before
    bugcheck = _system(sh, 1001)
    assert len(bugcheck) == 1
    assert bugcheck[0].get("ProviderName") == "Microsoft-Windows-WER-SystemErrorReporting"
    assert bugcheck[0].get("LevelDisplayName") == "Error"
    match = BUGCHECK_RE.match(bugcheck[0].get("Message"))
    assert match and match.group(1) == "00020001", bugcheck[0].get("Message")
    power = _system(sh, 41)
    assert [e.get("ProviderName") for e in power] == ["Microsoft-Windows-Kernel-Power"]
    assert power[0].get("LevelDisplayName") == "Critical"
    assert power[0].get("Message").startswith("The system has rebooted without cleanly shutting down first.")
    unexpected = _system(sh, 6008)
    assert [e.get("ProviderName") for e in unexpected] == ["EventLog"]
    assert SHUTDOWN_RE.match(unexpected[0].get("Message")), unexpected[0].get("Message")
    # every boot-time event is written after the new boot time, so "since LastBootUpTime" finds them
    assert all(e.get("TimeCreated") >= _last_boot(sh) for e in bugcheck + power + unexpected)
    # the client's parser reads what the emulator wrote
    read = sh.ok("Get-CimInstance", ClassName="Win32_OperatingSystem") + bugcheck + power + unexpected
    record = crash.crash_from([RemoteObject(o.type_names, dict(o.properties)) for o in read], "l2-booted",
                              boot_before=boot_before)
    assert record.kind == "bugcheck" and record.bugcheck is not None and record.bugcheck.name == "HYPERVISOR_ERROR"
    assert record.bugcheck.dump_path == "C:\\Windows\\MEMORY.DMP" and record.previous_shutdown is not None
    # the host works again: the L1 starts (a second L2 start would bugcheck again: the scenario's platform bug)
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)


def test_a_saved_vm_stays_saved_through_a_bugcheck() -> None:
    sh = Shell(world("host-bugcheck"))
    guest = _l1_with_hyperv(sh)
    make_l1(sh, "parked", expose=False)
    sh.ok("Start-VM", Name=["parked"])
    sh.ok("Stop-VM", Name=["parked"], Save=True)
    with pytest.raises(HostDown):
        guest.run("Start-VM", Name=["l2"])
    sh.world.clock.advance(sh.world.faults.host_reboot_seconds + 1)
    assert {vm.name: vm.state for vm in sh.world.host.vms} == {"l1": "Off", "parked": "Saved"}


def test_other_scenarios_never_take_the_host_down() -> None:
    sh = Shell(world("nested-boot-crash"))
    guest = _l1_with_hyperv(sh)
    guest.ok("Start-VM", Name=["l2"])  # the L2 crashes, the host stays up
    sh.world.clock.advance(120)
    sh.world.refresh()
    assert not sh.world.host_down and sh.world.last_outage is None
    assert sh.run("Get-WinEvent", FilterHashtable=[{"LogName": "System", "Id": [1001, 41, 6008]}]).output == []


def test_a_restart_during_the_install_is_unexpected_and_happens_once() -> None:
    sh = Shell(_scenario_world("default", host_restart_at="hyperv-installed"))
    make_l1(sh)
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    with pytest.raises(HostDown):
        sh.guest("l1").run("Install-WindowsFeature", Name=["Hyper-V"], IncludeManagementTools=True)
    assert sh.world.host_down and sh.world.host.vms[0].state == "Off"
    sh.world.clock.advance(sh.world.faults.host_reboot_seconds + 1)
    assert not sh.world.host_down
    assert _system(sh, 1001, 41, 6008, 1074) and not sh.run("Get-WinEvent", FilterHashtable=[
        {"LogName": "System", "Id": [1001, 1074]}]).output  # no bugcheck, not planned
    assert {e.get("Id") for e in _system(sh, 41, 6008)} == {41, 6008}
    # the install never finished: the L1 boots without Hyper-V, and a second install goes through
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    assert not sh.world.host.vms[0].guest.has_pending_feature("Hyper-V")
    assert sh.guest("l1").ok("Install-WindowsFeature", Name=["Hyper-V"])[0].get("Success") is True


def test_a_planned_restart_writes_1074_and_no_unexpected_shutdown() -> None:
    sh = Shell(_scenario_world("default", host_restart_at="guest-rebooted", host_restart_kind="planned"))
    make_l1(sh)
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    with pytest.raises(HostDown):
        sh.guest("l1").run("Restart-Computer", Force=True)
    sh.world.clock.advance(sh.world.faults.host_reboot_seconds + 1)
    assert sh.ok("Get-VM", Name=["l1"])[0].get("State").name == "Saved"  # AutomaticStopAction Save
    ids = [e.get("Id") for e in _system(sh, 1074, 6006, 6005, 6008, 41)]
    assert sorted(ids) == [1074, 6005, 6006]
    planned = _system(sh, 1074)[0]
    assert planned.get("ProviderName") == "User32"
    assert "has initiated the restart of computer HV-HOST01" in planned.get("Message")


@pytest.mark.parametrize("point, action", [
    ("l1-created", lambda sh: make_l1(sh)),
    ("guest-rebooted", lambda sh: (make_l1(sh), sh.ok("Start-VM", Name=["l1"]), sh.ok("Wait-VM", Name=["l1"], **HB),
                                   sh.guest("l1").run("Restart-Computer", Force=True))),
])
def test_each_restart_point_takes_the_host_down(point: str, action: Any) -> None:
    sh = Shell(_scenario_world("default", host_restart_at=point))
    with pytest.raises(HostDown):
        action(sh)
    assert sh.world.host_down


def test_an_outage_survives_the_state_file(tmp_path: Path) -> None:
    w = _scenario_world("default", host_restart_at="l1-created")
    w.faults.host_reboot_seconds = 10.0**7  # modelled time runs 100000x: leave a margin
    sh = Shell(w)
    with pytest.raises(HostDown):
        make_l1(sh)
    w.save(tmp_path / "state.json")
    again = World.load(tmp_path / "state.json")
    assert again.host_down and again.faults.host_restart_at == ""  # down, and the one restart is used up
    again.clock.advance(again.faults.host_reboot_seconds + 1)
    assert not again.host_down


def test_the_bugcheck_text_is_windows_format() -> None:
    text = outage.bugcheck_text(0x9F, (3, 0xFFFFE0012D3A5060, 0xFFFFD000213A6960, 0xFFFFE00130C09B00),
                                "C:\\Windows\\MEMORY.DMP", "b6f3e0b8-1111-2222-3333-444455556666")
    assert text == ("The computer has rebooted from a bugcheck.  The bugcheck was: 0x0000009f (0x0000000000000003, "
                    "0xffffe0012d3a5060, 0xffffd000213a6960, 0xffffe00130c09b00). A dump was saved in: "
                    "C:\\Windows\\MEMORY.DMP. Report Id: b6f3e0b8-1111-2222-3333-444455556666.")


# ---------------------------------------------------------------- over the wire


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def _until(condition: Any, seconds: float = 10.0) -> float:
    started = time.monotonic()
    while not condition() and time.monotonic() - started < seconds:
        time.sleep(0.005)
    return time.monotonic() - started


@contextmanager
def _bugcheck_host() -> Iterator[tuple[SimServer, World, Callable[[], WSMan]]]:
    """The host-bugcheck scenario served over loopback HTTP, its L2 ready to start."""
    scenario = load_scenario("host-bugcheck")
    scenario = dataclasses.replace(scenario, faults=dataclasses.replace(scenario.faults, time_scale=100000.0))
    world_ = World.from_scenario(scenario)
    _l1_with_hyperv(Shell(world_))
    password = secrets.token_urlsafe(12)
    server = SimServer(Engine(world_), users={"wire": password}, auth="basic", https=False).start()

    def connect() -> WSMan:
        return WSMan(server.host, port=server.port, username="wire", password=password, ssl=False, auth="basic",
                     encryption="never", cert_validation=False, operation_timeout=5, read_timeout=10)
    try:
        yield server, world_, connect
    finally:
        server.stop()


def _start_l2_over_the_wire(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script(IN_GUEST_SCRIPT)
    ps.add_parameter("VMName", "l1")
    ps.add_parameter("Credential", PSCredential(username=GUEST_USER, password=GUEST_PASSWORD))
    ps.add_parameter("Command", "Start-VM")
    ps.add_parameter("Parameters", {"Name": "l2"})
    ps.invoke()


def test_the_port_closes_during_the_outage_and_opens_again_without_the_old_shells() -> None:
    with _bugcheck_host() as (server, world_, connect):
        world_.faults.host_reboot_seconds = 150_000.0  # about 1.5 real seconds at this time scale
        pool = RunspacePool(connect())
        pool.open()
        pool.exchange_keys()
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ConnectionError):
            _start_l2_over_the_wire(pool)  # the host dies under the call: the connection is reset, no answer
        _until(lambda: server.dark)
        assert server.dark and _refused(server.port)  # nothing listens while it reboots
        assert _until(lambda: not server.dark) + (time.monotonic() - started) >= 1.0
        assert not server.dark and server.outages == 1
        # the old runspace pool died with the reboot: the server no longer knows its shell
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM")
        with pytest.raises(WSManFaultError, match="the shell was not found on the server"):
            ps.invoke()
        # a new session sees the rebooted host: the L1 Off, the bugcheck in the System log
        with RunspacePool(connect()) as fresh:
            ps = PowerShell(fresh)
            ps.add_cmdlet("Get-WinEvent").add_parameter("FilterHashtable", {"LogName": "System", "Id": [1001]})
            events = ps.invoke()
            assert len(events) == 1 and BUGCHECK_RE.match(events[0].adapted_properties["Message"])
            ps = PowerShell(fresh)
            ps.add_cmdlet("Get-VM")
            assert [str(vm.adapted_properties["State"]) for vm in ps.invoke()] == ["Off"]


def test_restart_computer_on_the_host_answers_then_the_host_restarts() -> None:
    """As on Windows: the command returns; moments later the host goes down (a planned restart, its
    running VMs saved) and answers again after reboot_seconds with a new boot time."""
    sh = Shell(_scenario_world("default", time_scale=1.0))  # modelled time moves only when the test says
    make_l1(sh)
    sh.ok("Start-VM", Name=["l1"])
    booted = sh.ok("Get-CimInstance", ClassName="Win32_OperatingSystem")[0].get("LastBootUpTime")
    assert sh.run("Restart-Computer", Force=True).errors == []
    assert not sh.world.host_down  # the answer got out
    sh.world.clock.advance(outage.RESTART_DELAY_S + 1)
    assert sh.world.host_down
    sh.world.clock.advance(sh.world.faults.host_reboot_seconds)
    assert not sh.world.host_down
    assert sh.ok("Get-VM", Name=["l1"])[0].get("State").name == "Saved"
    assert sh.ok("Get-CimInstance", ClassName="Win32_OperatingSystem")[0].get("LastBootUpTime") > booted
    assert sorted(e.get("Id") for e in _system(sh, 1074, 6006, 6005, 6008, 41)) == [1074, 6005, 6006]
    asked = _system(sh, 1074)[0].get("Message")  # by the caller, through WMI: not a Windows Update restart
    assert asked.startswith("The process C:\\Windows\\system32\\wbem\\wmiprvse.exe (HV-HOST01) has initiated the "
                            "restart of computer HV-HOST01 on behalf of user HV-HOST01\\Administrator")


def test_after_a_restart_the_host_starts_its_vms_by_their_automatic_start_action() -> None:
    """New-VM's default, StartIfRunning, brings back what was running; Nothing (the lab's L1s)
    stays as the restart left it; Start starts even what was off."""
    sh = Shell(_scenario_world("default"))
    for name, action, running in (("lab", "Nothing", True), ("default", None, True), ("idle", None, False),
                                  ("always", "Start", False)):
        make_l1(sh, name)
        if action is None:
            sh.ok("Set-VM", Name=[name], AutomaticStartAction="StartIfRunning")
        else:
            sh.ok("Set-VM", Name=[name], AutomaticStartAction=action)
        if running:
            sh.ok("Start-VM", Name=[name])
    assert sh.ok("Get-VM", Name=["default"])[0].get("AutomaticStartAction").name == "StartIfRunning"
    sh.run("Restart-Computer", Force=True)
    sh.world.clock.advance(outage.RESTART_DELAY_S + sh.world.faults.host_reboot_seconds + 60)
    sh.world.refresh()
    states = {vm.get("Name"): vm.get("State").name for vm in sh.ok("Get-VM")}
    assert states == {"lab": "Saved", "default": "Running", "idle": "Off", "always": "Running"}


def test_restart_computer_of_another_computer_is_refused_and_the_host_stays_up() -> None:
    sh = Shell(_scenario_world("default"))
    with pytest.raises(PSError, match="does not implement 'Restart-Computer -ComputerName' for another computer"):
        sh.run("Restart-Computer", ComputerName=["SOMEWHERE-ELSE"], Force=True)
    assert sh.world.outage is None and not sh.run("Get-WinEvent", FilterHashtable=[{"LogName": "System", "Id": [1074]}]).output
    sh.run("Restart-Computer", ComputerName=["localhost"], Force=True)  # this computer, named
    assert sh.world.outage is not None
