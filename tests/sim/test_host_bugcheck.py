"""[nested] boot = "host-bugcheck": an L2 starting takes the physical host down. It reboots for a
modelled time, answering nothing, and comes back with every VM Off, a new LastBootUpTime, no shell
of before, and Kernel-Power 41, EventLog 6008 and the WER 1001 bugcheck report in its System log."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time

import pytest
from _model_harness import Shell, make_l1, world
import requests
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool, RunspacePoolState
from test_model import boot_l1_with_hyperv
from wire_helpers import WireHost, cmd, prop

from pytest_nestedhv.hyperv.host_crash import crash_events_query, host_crash
from pytest_nestedhv.sim.scenario import load_scenario


@dataclasses.dataclass
class Event:
    id: int
    provider: str
    message: str


def events_of(sh: Shell) -> list[Event]:
    result = sh.run("Get-WinEvent", FilterHashtable=[{"LogName": "System", "Id": [1001, 41, 6008]}])
    found = result.output
    assert found or result.errors[0].message == "No events were found that match the specified selection criteria."
    return [Event(e.get("Id"), e.get("ProviderName"), e.get("Message")) for e in found]


def test_an_l2_start_bugchecks_the_host_which_comes_back_with_every_vm_off() -> None:
    w = world("host-bugcheck")
    sh = Shell(w)
    guest = boot_l1_with_hyperv(sh)
    make_l1(guest, "l2", expose=False)
    booted_before = w.host.last_boot
    before = w.now()
    guest.ok("Start-VM", Name=["l2"])
    after = w.now()
    due = w.host.bugcheck_due
    assert due is not None and before + dt.timedelta(seconds=20) <= due <= after + dt.timedelta(seconds=20)
    assert events_of(sh) == [] or w.now() >= due
    w.sleep(25, threading.Event())  # crash_after_seconds = 20 (the fast clock may run further)
    w.refresh()
    assert w.host.down_until == due + dt.timedelta(seconds=180)  # host_reboot_seconds
    assert w.host_down(due + dt.timedelta(seconds=1)) and w.host_down(due + dt.timedelta(seconds=179))
    assert not w.host_down(due + dt.timedelta(seconds=180))
    crashed_at = due
    w.sleep(200, threading.Event())
    assert not w.host_down(w.refresh())
    assert [(vm.name, vm.state) for vm in w.host.vms] == [("l1", "Off")]
    assert w.host.vms[0].guest is not None and w.host.vms[0].guest.vms[0].state == "Off"  # the L2 with it
    os_info = sh.ok("Get-CimInstance", ClassName="Win32_OperatingSystem")[0]
    assert os_info.get("LastBootUpTime") == w.host.down_until and os_info.get("LastBootUpTime") != booted_before
    logged = events_of(sh)
    assert sorted((e.id, e.provider) for e in logged) == [
        (41, "Microsoft-Windows-Kernel-Power"), (1001, "Microsoft-Windows-WER-SystemErrorReporting"),
        (6008, "EventLog")]
    levels = {e.get("Id"): e.get("LevelDisplayName") for e in sh.ok(
        "Get-WinEvent", FilterHashtable=[{"LogName": "System", "Id": [1001, 41, 6008]}])}
    assert levels == {41: "Critical", 6008: "Error", 1001: "Error"}
    crash = host_crash(logged)
    assert crash is not None and crash.bugcheck is not None and crash.unclean_reboot
    assert (crash.bugcheck.code_text, crash.bugcheck.name) == ("0x00020001", "HYPERVISOR_ERROR")
    assert crash.bugcheck.dump_path == "C:\\Windows\\MEMORY.DMP"
    assert crash.unexpected_shutdown_at == crashed_at.replace(tzinfo=None, microsecond=0)
    message = next(e.message for e in logged if e.id == 1001)
    assert message.startswith("The computer has rebooted from a bugcheck.  The bugcheck was: 0x00020001 (")
    assert "\u200e" in next(e.message for e in logged if e.id == 6008)  # Windows' marks in the date
    # nothing crashes twice: starting the L1 again is a normal boot
    sh.ok("Start-VM", Name=["l1"])
    assert w.host.bugcheck_due is None


def test_other_scenarios_never_bugcheck_the_host() -> None:
    w = world("nested-boot-crash")
    sh = Shell(w)
    guest = boot_l1_with_hyperv(sh)
    make_l1(guest, "l2", expose=False)
    guest.ok("Start-VM", Name=["l2"])
    w.sleep(60, threading.Event())
    assert not w.host_down(w.refresh()) and w.host.bugcheck_due is None and events_of(sh) == []


def test_over_the_wire_connections_are_cut_then_the_host_answers_without_its_old_shells() -> None:
    scenario = load_scenario("host-bugcheck")
    with WireHost.start(scenario, time_scale=100) as host:  # the 180 s reboot takes 1.8 s
        assert host.ok(cmd("Get-CimInstance", ClassName="Win32_OperatingSystem"))
        with host.world.lock:
            host.world.host.bugcheck_due = host.world.now()  # what an L2 starting schedules
        with pytest.raises(requests.exceptions.ConnectionError):
            host.run(cmd("Get-Service", Name="vmms"))
        time.sleep(2.0)
        # the shell of before the reboot is gone, with the fault a real host answers
        with pytest.raises(WSManFaultError, match="shell was not found on the server"):
            host.run(cmd("Get-Service", Name="vmms"))
        host.pool.state = RunspacePoolState.CLOSED  # nothing left to close on the server
        with RunspacePool(host.pool.connection) as pool:
            ps = PowerShell(pool)
            query = dict(crash_events_query(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)).params)
            ps.add_cmdlet("Get-WinEvent").add_parameter("FilterHashtable", query["FilterHashtable"])
            assert sorted(prop(e, "Id") for e in ps.invoke()) == [41, 1001, 6008]
