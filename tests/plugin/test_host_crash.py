"""hyperv/crash.py: what the System log says after a host came back, read from Windows' own texts."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from pytest_nestedhv.hyperv import crash
from pytest_nestedhv.hyperv import requirements as req
from pytest_nestedhv.hyperv.lab import Lab, LabBlocked, LabConfig, Step
from pytest_nestedhv.hyperv.recovery import HostRecovery
from pytest_nestedhv.remote.errors import HostGone, HostUnreachable, RemoteError
from pytest_nestedhv.remote.objects import RemoteObject
from pytest_nestedhv.remote.reconnect import WaitPolicy
from pytest_nestedhv.remote.secrets import GuestCredential, Secret

from .fake_hyperv import FakeSession

EVENT_TYPES = ["System.Diagnostics.Eventing.Reader.EventLogRecord", "System.Diagnostics.Eventing.Reader.EventRecord"]
OS_TYPES = ["Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_OperatingSystem"]
BOOT = "2026-12-01T14:05:12.5000000Z"


def event(event_id: int, provider: str, message: str, when: str = "2026-12-01T14:05:40.0000000Z") -> RemoteObject:
    return RemoteObject(EVENT_TYPES, {"Id": event_id, "ProviderName": provider, "Message": message,
                                      "TimeCreated": when, "LogName": "System"})


def os_obj(boot: str = BOOT) -> RemoteObject:
    return RemoteObject(OS_TYPES, {"LastBootUpTime": boot, "LocalDateTime": "2026-12-01T14:06:00.0000000Z"})


WER = "Microsoft-Windows-WER-SystemErrorReporting"
KP41 = ("Microsoft-Windows-Kernel-Power", "The system has rebooted without cleanly shutting down first. This error "
        "could be caused if the system stopped responding, crashed, or lost power unexpectedly.")
E6008 = "The previous system shutdown at 2:03:55 PM on \u200e12/\u200e1/\u200e2026 was unexpected."


@pytest.mark.parametrize("text, code, params, dump, report", [
    # Windows 10 / 11 / Server 2016+: a GUID report id
    ("The computer has rebooted from a bugcheck.  The bugcheck was: 0x00020001 (0x0000000000000011, "
     "0x0000000000000000, 0x0000000000000000, 0x0000000000000000). A dump was saved in: C:\\Windows\\MEMORY.DMP. "
     "Report Id: 6c1a2d7e-3b0f-4b5e-9f55-2f1d0c7a9e11.",
     0x20001, (0x11, 0, 0, 0), "C:\\Windows\\MEMORY.DMP", "6c1a2d7e-3b0f-4b5e-9f55-2f1d0c7a9e11"),
    # Windows 7 era: a dated report id, upper-case path
    ("The computer has rebooted from a bugcheck.  The bugcheck was: 0x0000009f (0x0000000000000003, "
     "0xfffffa8006b2d060, 0xfffff80000b9c518, 0xfffffa800a1b8a10). A dump was saved in: C:\\WINDOWS\\MEMORY.DMP. "
     "Report Id: 092415-12234-01.",
     0x9F, (3, 0xFFFFFA8006B2D060, 0xFFFFF80000B9C518, 0xFFFFFA800A1B8A10), "C:\\WINDOWS\\MEMORY.DMP",
     "092415-12234-01"),
    # one space, a space before the colon, upper-case hex, a minidump, no report id
    ("The computer has rebooted from a bugcheck. The bugcheck was : 0xC00000E2 (0xFFFFFFFFFFFFFFFF, "
     "0x0000000000000001, 0x0000000000000000, 0x0000000000000000). A dump was saved in: "
     "C:\\Windows\\Minidump\\120126-9218-01.dmp.",
     0xC00000E2, (2**64 - 1, 1, 0, 0), "C:\\Windows\\Minidump\\120126-9218-01.dmp", None),
    # 32-bit Windows: 8-digit parameters
    ("The computer has rebooted from a bugcheck.  The bugcheck was: 0x1000007e (0xc0000005, 0x8b4a1e5c, "
     "0x9a3f7b24, 0x9a3f7820). A dump was saved in: C:\\Windows\\MEMORY.DMP. Report Id: 011226-21450-01.",
     0x1000007E, (0xC0000005, 0x8B4A1E5C, 0x9A3F7B24, 0x9A3F7820), "C:\\Windows\\MEMORY.DMP", "011226-21450-01"),
    # no dump could be written, and so no report id
    ("The computer has rebooted from a bugcheck.  The bugcheck was: 0x00000124 (0x0000000000000000, "
     "0xffffe48d3c458028, 0x00000000bf800000, 0x0000000000000800).",
     0x124, (0, 0xFFFFE48D3C458028, 0xBF800000, 0x800), None, None),
    # no parameters at all
    ("The computer has rebooted from a bugcheck. The bugcheck was: 0x0000007E.", 0x7E, (), None, None),
])
def test_parse_bugcheck(text: str, code: int, params: tuple[int, ...], dump: str | None, report: str | None) -> None:
    parsed = crash.parse_bugcheck(text)
    assert parsed == crash.Bugcheck(code, params, dump, report)


@pytest.mark.parametrize("code, name", [(0x20001, "HYPERVISOR_ERROR"), (0x9F, "DRIVER_POWER_STATE_FAILURE"),
                                        (0x101, "CLOCK_WATCHDOG_TIMEOUT"), (0x1234, None)])
def test_bugcheck_names(code: int, name: str | None) -> None:
    assert crash.Bugcheck(code, (), None, None).name == name


def test_the_same_ids_from_other_providers_are_not_crash_events() -> None:
    memory_test = event(1001, "Microsoft-Windows-MemoryDiagnostics-Results", BUGCHECK_TEXT)
    hypervisor = event(41, "Microsoft-Windows-Hyper-V-Hypervisor", KP41[1])
    record = crash.crash_from([os_obj(), memory_test, hypervisor], "l2-booted", boot_before=BOOT)
    assert record.kind == "no-reboot" and record.events == () and record.bugcheck is None


@pytest.mark.parametrize("text", ["", "The previous system shutdown at 2:03:55 PM on 12/1/2026 was unexpected.",
                                  "Dump file creation failed due to error during dump creation."])
def test_not_a_bugcheck(text: str) -> None:
    assert crash.parse_bugcheck(text) is None


@pytest.mark.parametrize("text, when", [
    (E6008, "2:03:55 PM on 12/1/2026"),
    ("The previous system shutdown at 10:43:16 AM on 11/29/2019 was unexpected.", "10:43:16 AM on 11/29/2019"),
    ("The previous system shutdown at 23:01:02 on \u200e01.\u200e12.\u200e2026 was unexpected.",
     "23:01:02 on 01.12.2026"),
    ("The system has rebooted without cleanly shutting down first.", None),
])
def test_parse_previous_shutdown(text: str, when: str | None) -> None:
    assert crash.parse_previous_shutdown(text) == when


BUGCHECK_TEXT = ("The computer has rebooted from a bugcheck.  The bugcheck was: 0x00020001 (0x0000000000000011, "
                 "0x0000000000000000, 0x0000000000000000, 0x0000000000000000). A dump was saved in: "
                 "C:\\Windows\\MEMORY.DMP. Report Id: 6c1a2d7e-3b0f-4b5e-9f55-2f1d0c7a9e11.")
PLANNED_TEXT = ("The process C:\\Windows\\system32\\svchost.exe (HV-HOST01) has initiated the restart of computer "
                "HV-HOST01 on behalf of user NT AUTHORITY\\SYSTEM for the following reason: Operating System: "
                "Service pack (Planned)\n Reason Code: 0x80020010\n Shutdown Type: restart\n Comment: ")


@pytest.mark.parametrize("objects, boot_before, kind, message", [
    ([os_obj(), event(1001, WER, BUGCHECK_TEXT), event(41, *KP41), event(6008, "EventLog", E6008)], None, "bugcheck",
     "host bugchecked 0x00020001 (0x0000000000000011, 0x0000000000000000, 0x0000000000000000, 0x0000000000000000) "
     "during l2-booted; dump: C:\\Windows\\MEMORY.DMP"),
    ([os_obj(), event(41, *KP41), event(6008, "EventLog", E6008)], None, "unexpected",
     "host restarted unexpectedly during l2-booted (the previous shutdown at 2:03:55 PM on 12/1/2026 was unexpected)"),
    ([os_obj(), event(41, *KP41)], None, "unexpected", "host restarted unexpectedly during l2-booted"),
    ([os_obj(), event(1074, "User32", PLANNED_TEXT, "2026-12-01T14:03:00.0000000Z")], None, "planned",
     "host restarted (a planned restart: Operating System: Service pack (Planned)) during l2-booted"),
    # events of an older boot do not count: a bugcheck last week is not this outage
    ([os_obj(), event(1001, WER, BUGCHECK_TEXT, "2026-11-24T09:00:00.0000000Z")], BOOT, "no-reboot",
     "host stopped answering for 42 s during l2-booted and came back without a reboot"),
    # the same boot as before the outage: a bugcheck in its log happened before this run
    ([os_obj(), event(1001, WER, BUGCHECK_TEXT)], BOOT, "no-reboot",
     "host stopped answering for 42 s during l2-booted and came back without a reboot"),
    # the boot time changed but the log says nothing (cleared, or not readable): still a restart
    ([os_obj()], "2026-11-30T08:00:00.0000000Z", "unexpected", "host restarted unexpectedly during l2-booted"),
    # a dump that could not be written
    ([os_obj(), event(1001, WER, BUGCHECK_TEXT.split(" A dump")[0])], None, "bugcheck",
     "host bugchecked 0x00020001 (0x0000000000000011, 0x0000000000000000, 0x0000000000000000, 0x0000000000000000) "
     "during l2-booted; dump: none written"),
])
def test_crash_from_probe_output(objects: list[Any], boot_before: str | None, kind: str, message: str) -> None:
    record = crash.crash_from(objects, "l2-booted", boot_before=boot_before, downtime_s=42.0)
    assert record.kind == kind
    assert record.message() == message
    assert "\n" not in record.message()


def test_the_record_for_the_bundle() -> None:
    record = crash.crash_from([os_obj(), event(6008, "EventLog", E6008, "2026-12-01T14:05:15.0000000Z"),
                               event(1001, WER, BUGCHECK_TEXT), event(41, *KP41, "2026-12-01T14:05:14.0000000Z")],
                              "l2-booted", downtime_s=250.0)
    data = record.to_dict()
    assert data["bugcheck"] == {"code": "0x00020001", "name": "HYPERVISOR_ERROR", "params": ["0x0000000000000011", *["0x0000000000000000"] * 3],
                                "dump_path": "C:\\Windows\\MEMORY.DMP",
                                "report_id": "6c1a2d7e-3b0f-4b5e-9f55-2f1d0c7a9e11"}
    assert data["event_kinds"] == ["kernel-power", "unexpected-shutdown", "bugcheck"]  # in the order written
    assert data["boot_time"] == "2026-12-01T14:05:12.500000+00:00"
    assert data["step"] == "l2-booted" and data["downtime_s"] == 250.0
    assert record.title() == "host bugcheck 0x00020001 HYPERVISOR_ERROR during lab step l2-booted"
    assert data["title"] == record.title()


def test_the_probe_is_one_round_trip_of_real_cmdlets() -> None:
    probe = crash.crash_probe()
    assert [c.name for (c,) in probe] == ["Get-CimInstance", "Get-WinEvent"]
    assert dict(probe[1][0].params)["FilterHashtable"] == {"LogName": "System", "Id": [1001, 41, 6008, 1074]}


# ---------------------------------------------------------------- the lab and the recovery


class _FakeHostSession:
    """Answers the recovery's calls: down for ``down`` reopen attempts, then the probe's objects."""

    def __init__(self, down: int, objects: list[Any]) -> None:
        self.down = down
        self.objects = objects
        self.reopens = 0

    def reopen(self) -> None:
        self.reopens += 1
        if self.reopens <= self.down:
            raise HostUnreachable("hostA: 10.0.0.5:5986 refused the connection")

    def run(self, *cmds: Any, timeout: float | None = None, check: bool = True) -> list[Any]:
        return [os_obj("2026-11-20T08:00:00.0000000Z")]

    def run_statements(self, pipelines: Any, timeout: float | None = None, check: bool = True) -> list[Any]:
        assert not check  # "no events" is an error record on Windows
        return self.objects


FAST = WaitPolicy(timeout_s=5, first_wait_s=0.001, max_wait_s=0.002, progress_every_s=0)


def test_recovery_waits_reads_and_hands_the_record_over() -> None:
    session = _FakeHostSession(2, [os_obj(), event(1001, WER, BUGCHECK_TEXT), event(41, *KP41)])
    lines: list[str] = []
    handed: list[crash.HostCrash] = []
    recovery = HostRecovery(session, "hostA", FAST, progress=lines.append, on_crash=handed.append)
    recovery.remember_boot()
    assert recovery.boot_before == "2026-11-20T08:00:00.0000000Z"
    record = recovery(Step.L2_BOOTED, HostUnreachable("hostA: lost the connection"))
    assert session.reopens == 3 and handed == [record] == recovery.crashes
    assert record.kind == "bugcheck" and record.downtime_s is not None
    assert lines[0] == "hostA: the host stopped answering during lab step l2-booted: hostA: lost the connection"
    assert lines[-1] == f"hostA: {record.message()}"


def test_recovery_of_a_host_that_stays_away_records_it_and_raises() -> None:
    handed: list[crash.HostCrash] = []
    recovery = HostRecovery(_FakeHostSession(10**6, []), "hostA", dataclasses.replace(FAST, timeout_s=0.05),
                            progress=lambda _l: None, on_crash=handed.append)
    with pytest.raises(HostGone, match="did not come back within 0 s"):
        recovery(Step.HYPERV_INSTALLED, HostUnreachable("x"))
    assert [c.kind for c in handed] == ["gone"]
    assert handed[0].message() == "host stopped answering during hyperv-installed and did not come back within 0 s"


def _lab(session: FakeSession) -> Lab:
    cred = GuestCredential("Administrator", Secret("pw-not-logged"))
    return Lab(session, LabConfig(run_id="abc123", base_image="C:\\Images\\base.vhdx", guest_cred=cred, slice_s=10))


def test_the_step_a_bugcheck_went_under_fails_with_it_and_blocks_everything_later() -> None:
    s = FakeSession()
    s.fail["Install-WindowsFeature"] = HostUnreachable("hostA: lost the connection to 10.0.0.5:5986")
    lab = _lab(s)
    record = crash.crash_from([os_obj(), event(41, *KP41), event(6008, "EventLog", E6008),
                               event(1001, WER, BUGCHECK_TEXT)], Step.HYPERV_INSTALLED)
    seen: list[tuple[str, str]] = []
    lab.on_host_lost = lambda step, err: seen.append((step, str(err))) or record
    outcome = lab.reach(Step.HYPERV_INSTALLED)
    assert seen == [(Step.HYPERV_INSTALLED, "hostA: lost the connection to 10.0.0.5:5986")]
    assert not outcome.ok and outcome.error == record.message() and outcome.fqid == req.HOST_CRASH_FQID
    assert outcome.evidence["host_crash"]["kind"] == "bugcheck" and lab.host_crash is record
    assert lab.timeline[-1].step == Step.HYPERV_INSTALLED and not lab.timeline[-1].ok
    del s.fail["Install-WindowsFeature"]
    calls = len(s.calls)
    blocked = f"lab step 'hyperv-installed' failed: {record.message()}"
    for later in (Step.L2_BOOTED, Step.NEGATIVE):  # the side branch too: nothing runs on that host now
        with pytest.raises(LabBlocked) as info:
            lab.reach(later)
        assert str(info.value) == blocked
    with pytest.raises(LabBlocked):
        lab.reach(Step.TOGGLE)  # the L1 it would toggle went down with the host
    assert len(s.calls) == calls
    assert lab.reach(Step.L1_BOOTED).ok  # what was observed before the crash stays observed


def test_without_a_recovery_the_lost_host_propagates() -> None:
    s = FakeSession()
    s.fail["Install-WindowsFeature"] = HostUnreachable("gone")
    with pytest.raises(HostUnreachable):
        _lab(s).reach(Step.HYPERV_INSTALLED)


class _FailOnce(dict):
    """FakeSession.fail that fails a command the first time only (the host went away under it)."""

    def get(self, name, default=None):  # type: ignore[no-untyped-def, override]
        return self.pop(name, default)


def _unexpected(step: Step) -> crash.HostCrash:
    return crash.crash_from([os_obj(), event(41, *KP41), event(6008, "EventLog", E6008)], step)


def test_a_restart_is_survived_once_what_it_undid_runs_again_then_the_step() -> None:
    s = FakeSession()
    s.fail = _FailOnce({"Install-WindowsFeature": HostUnreachable("hostA: lost the connection")})
    lab = _lab(s)
    records = [_unexpected(Step.HYPERV_INSTALLED)]
    lab.on_host_lost = lambda step, err: records[0]
    assert lab.reach(Step.GUEST_HYPERVISOR).ok
    assert lab.survived == records and lab.host_crash is None
    assert s.names("host").count("Start-VM") == 2  # the L1 booted again after the host's restart
    assert s.names(f"guest:{lab.names.l1}").count("Install-WindowsFeature") == 2
    installs = [p for p in lab.timeline if p.step == Step.HYPERV_INSTALLED]
    assert [p.ok for p in installs] == [False, True] and "host restarted unexpectedly" in (installs[0].error or "")
    assert [p.step for p in lab.timeline].count(Step.L1_CREATED) == 1  # the VM itself survived


def test_a_second_outage_under_the_same_lab_ends_it() -> None:
    s = FakeSession()
    s.fail = _FailOnce({"Install-WindowsFeature": HostUnreachable("hostA: lost the connection")})
    lab = _lab(s)
    first, second = _unexpected(Step.HYPERV_INSTALLED), _unexpected(Step.L2_BOOTED)
    outages = iter([first, second])
    lab.on_host_lost = lambda step, err: next(outages)
    assert lab.reach(Step.GUEST_HYPERVISOR).ok
    s.fail = _FailOnce({"Start-VM": HostUnreachable("hostA: lost the connection")})
    outcome = lab.reach(Step.L2_BOOTED)
    assert not outcome.ok and outcome.error == second.message() and lab.host_crash is second
    with pytest.raises(LabBlocked, match="lab step 'l2-booted' failed: host restarted unexpectedly"):
        lab.reach(Step.L2_NETWORK)


def test_a_restart_asked_for_that_never_happens_is_one_line_not_a_hang() -> None:
    session = _FakeHostSession(0, [])  # accepts Restart-Computer, keeps its boot time for ever
    recovery = HostRecovery(session, "hostA", dataclasses.replace(FAST, timeout_s=0.05), progress=lambda _l: None)
    with pytest.raises(RemoteError, match="hostA: Restart-Computer was accepted but the host did not restart within 0 s"):
        recovery.restart("nested_host.restart()", poll_s=0.01)
    assert recovery.crashes == []


def test_a_restart_asked_for_is_kept_as_asked_and_not_handed_to_the_reports() -> None:
    class Restarting(_FakeHostSession):
        def run(self, *cmds: Any, timeout: float | None = None, check: bool = True) -> list[Any]:
            if cmds[0].name == "Restart-Computer":
                self.restarted = True
            if getattr(self, "restarted", False):
                raise HostUnreachable("hostA: lost the connection")
            return [os_obj("2026-11-20T08:00:00.0000000Z")]

        def reopen(self) -> None:
            super().reopen()
            self.restarted = False

    planned = event(1074, "User32", "The process C:\\Windows\\system32\\shutdown.exe (HOSTA) has initiated the "
                    "restart of computer HOSTA on behalf of user HOSTA\\admin for the following reason: No title "
                    "for this reason could be found\n Reason Code: 0x800000ff", "2026-12-01T14:04:00.0000000Z")
    handed: list[crash.HostCrash] = []
    recovery = HostRecovery(Restarting(1, [os_obj(), planned]), "hostA", FAST, progress=lambda _l: None,
                            on_crash=handed.append)
    record = recovery.restart("nested_host.restart()")
    assert record.asked and record.kind == "planned" and recovery.crashes == [record] and handed == []
    assert record.title() == "host restarted during nested_host.restart()"


@pytest.mark.parametrize("label, scheme, address, kind", [
    ("local", "stdio", "localhost", "local"),  # --nested-host=local
    ("localhost", "https", "localhost", "winrm"),  # this machine, named over WinRM
    ("127.0.0.1", "http", "127.0.0.1", "winrm"),
])
def test_nested_host_restart_refuses_the_machine_the_run_is_on(label: str, scheme: str, address: str,
                                                               kind: str) -> None:
    from pytest_nestedhv.config import Settings
    from pytest_nestedhv.hyperv.machines import HyperVHost
    from pytest_nestedhv.target import HostTarget

    session = FakeSession()
    target = HostTarget(label, scheme, address, 5986, kind=kind)  # type: ignore[arg-type]
    host = HyperVHost(target, session, Settings(), None, None)
    with pytest.raises(RemoteError, match=rf"^{re.escape(label)}: nested_host.restart\(\) would restart the machine "
                                          "this run is on"):
        host.restart()
    assert session.calls == []  # nothing was sent


def test_a_branch_a_restart_cut_short_runs_again_and_nobody_else_had_waited() -> None:
    """The negative probe runs beside the L1's chain on its own session. When the host restarts
    under it while the main chain is between calls, the join waits for the host, the lab survives
    the restart, and the probe runs again (its half-made VM removed first) instead of failing with
    a connection error and a wrong remedy."""
    from .test_lab import _Clonable, make_lab

    class RestartsUnderTheProbe(_Clonable):
        cut = down = False  # the host goes down at the probe's Start-VM, until somebody waits for it

        def _maybe_fail(self, cmd: Any) -> None:
            if cmd.name == "Start-VM" and cmd.param("Name") == "nestedhv-abc123-neg" and not self.cut:
                self.cut = self.down = True
            if self.down:
                raise HostUnreachable("hostA: lost the connection")
            super()._maybe_fail(cmd)

    def wait_for_host(step: str, err: Exception) -> crash.HostCrash:
        waited.append(step)
        s.down = False
        return _unexpected(Step.NEGATIVE)

    s = RestartsUnderTheProbe()
    lab = make_lab(s, background=(Step.NEGATIVE,))
    waited: list[str] = []
    lab.on_host_lost = wait_for_host
    assert lab.reach(Step.HOST_CHECKED).ok  # the probe starts in the background now
    outcome = lab.reach(Step.NEGATIVE)
    assert outcome.ok and "required virtualization capabilities" in outcome.evidence["refusal"], outcome.error
    assert waited == [Step.NEGATIVE] and lab.host_crash is None and len(lab.survived) == 1
    tries = [p for p in lab.timeline if p.step == Step.NEGATIVE]
    assert [p.ok for p in tries] == [False, True] and "host restarted unexpectedly" in (tries[0].error or "")
    assert "nestedhv-abc123-neg" not in s.vms and lab.created_vms.count("nestedhv-abc123-neg") == 1
