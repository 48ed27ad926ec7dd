"""What happened to a host that stopped answering: read after it is back, from its System log.

Windows writes these after booting from a crash or restart (docs/requirements.md#texthost-crash):
1001 (Microsoft-Windows-WER-SystemErrorReporting, shown as source BugCheck) "The computer has
rebooted from a bugcheck.  The bugcheck was: 0x... (0x..., 0x..., 0x..., 0x...). A dump was saved
in: PATH. Report Id: ID."; Kernel-Power 41 "The system has rebooted without cleanly shutting down
first. ..."; EventLog 6008 "The previous system shutdown at TIME on DATE was unexpected."; and,
before a clean restart, User32 1074 "The process ... has initiated the restart of computer ...".
``Win32_OperatingSystem.LastBootUpTime`` says when it booted. Pure: parsing and wording only,
plus ``crash_probe``, the one round trip that reads it all.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable
from typing import Any

from ..remote.commands import Cmd
from .ports import as_datetime, has_type, prop
from .steps import Step

BUGCHECK_ID, KERNEL_POWER_ID, UNEXPECTED_ID, PLANNED_ID = 1001, 41, 6008, 1074
EVENT_IDS = (BUGCHECK_ID, KERNEL_POWER_ID, UNEXPECTED_ID, PLANNED_ID)
# events written before the boot belong to this outage only if they are this recent (1074 precedes it)
BEFORE_BOOT = datetime.timedelta(minutes=30)
MAX_EVENTS = 40

# what each event says, for people and for events/host-crash.json
KINDS = {BUGCHECK_ID: "bugcheck", KERNEL_POWER_ID: "kernel-power", UNEXPECTED_ID: "unexpected-shutdown",
         PLANNED_ID: "planned-restart"}
# who writes each: the same ids from other providers (memory diagnostics' 1001, the hypervisor's 41) are not these
PROVIDERS = {BUGCHECK_ID: "Microsoft-Windows-WER-SystemErrorReporting",
             KERNEL_POWER_ID: "Microsoft-Windows-Kernel-Power", UNEXPECTED_ID: "EventLog", PLANNED_ID: "User32"}

# the "Bug check code reference" names of the codes a nested-virtualization host is seen to stop with
BUGCHECK_NAMES = {
    0x0000000A: "IRQL_NOT_LESS_OR_EQUAL",
    0x0000001A: "MEMORY_MANAGEMENT",
    0x0000001E: "KMODE_EXCEPTION_NOT_HANDLED",
    0x0000003B: "SYSTEM_SERVICE_EXCEPTION",
    0x00000050: "PAGE_FAULT_IN_NONPAGED_AREA",
    0x0000007E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED",
    0x0000009F: "DRIVER_POWER_STATE_FAILURE",
    0x000000D1: "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
    0x000000EF: "CRITICAL_PROCESS_DIED",
    0x00000101: "CLOCK_WATCHDOG_TIMEOUT",
    0x00000124: "WHEA_UNCORRECTABLE_ERROR",
    0x00000133: "DPC_WATCHDOG_VIOLATION",
    0x00000139: "KERNEL_SECURITY_CHECK_FAILURE",
    0x00020001: "HYPERVISOR_ERROR",
}

_BUGCHECK = re.compile(r"bugcheck was\s*:\s*(?P<code>0x[0-9a-f]+)(?:\s*\((?P<params>[^)]*)\))?", re.IGNORECASE)
_DUMP = re.compile(r"dump was saved in\s*:\s*(?P<path>.+?)\.?(?:\s+Report Id\s*:|\s*$)", re.IGNORECASE)
_REPORT = re.compile(r"Report Id\s*:\s*(?P<id>[0-9a-z-]+)", re.IGNORECASE)
_SHUTDOWN = re.compile(r"previous system shutdown at (?P<when>.+?) was unexpected", re.IGNORECASE)
_REASON = re.compile(r"for the following reason\s*:\s*(?P<reason>[^\r\n]+)", re.IGNORECASE)
_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202c"))  # the date in 6008 carries left-to-right marks


@dataclasses.dataclass(frozen=True)
class Bugcheck:
    code: int
    params: tuple[int, ...]
    dump_path: str | None
    report_id: str | None

    @property
    def code_text(self) -> str:
        return f"0x{self.code:08x}"  # as Windows writes it

    @property
    def name(self) -> str | None:
        return BUGCHECK_NAMES.get(self.code)

    @property
    def params_text(self) -> str:
        return ", ".join(f"0x{p:016x}" for p in self.params)


@dataclasses.dataclass(frozen=True)
class HostEvent:
    id: int
    provider: str
    time: str | None
    message: str

    @property
    def kind(self) -> str:
        return KINDS.get(self.id, str(self.id))


def where(step: str) -> str:
    """What was running: a lab step ("l2-booted"), a test ("test test_x[hostA]") or a call."""
    return f"lab step {step}" if step in set(Step) else step


@dataclasses.dataclass(frozen=True)
class HostCrash:
    """The record of one outage: what the host's own log says happened during ``step``."""

    step: str
    kind: str  # "bugcheck" | "unexpected" | "planned" | "no-reboot" (back without a reboot) | "gone" (never back)
    boot_time: str | None  # LastBootUpTime after the outage, ISO text
    bugcheck: Bugcheck | None
    previous_shutdown: str | None  # as 6008 gives it, marks removed
    planned_reason: str | None  # as 1074 gives it
    events: tuple[HostEvent, ...]
    downtime_s: float | None = None  # seen from the client: first failure until the host answered again
    asked: bool = False  # a restart the test asked for (nested_host.restart()): no crash, nothing failed

    @property
    def event_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.kind for e in self.events))

    def message(self) -> str:
        """One line for the failing step: "host bugchecked 0x... (params) during STEP; dump: PATH"."""
        if self.bugcheck is not None:
            b = self.bugcheck
            dump = b.dump_path or "none written"
            return f"host bugchecked {b.code_text} ({b.params_text}) during {self.step}; dump: {dump}"
        if self.kind == "unexpected":
            at = f" (the previous shutdown at {self.previous_shutdown} was unexpected)" if self.previous_shutdown else ""
            return f"host restarted unexpectedly during {self.step}{at}"
        if self.kind == "planned":
            why = f": {self.planned_reason}" if self.planned_reason else ""
            return f"host restarted (a planned restart{why}) during {self.step}"
        gone = f" for {self.downtime_s:.0f} s" if self.downtime_s is not None else ""
        if self.kind == "gone":
            return f"host stopped answering during {self.step} and did not come back within {self.downtime_s or 0:.0f} s"
        return f"host stopped answering{gone} during {self.step} and came back without a reboot"

    def title(self) -> str:
        """Short, for a report title."""
        if self.bugcheck is not None:
            name = f" {self.bugcheck.name}" if self.bugcheck.name else ""
            return f"host bugcheck {self.bugcheck.code_text}{name} during {where(self.step)}"
        return {"unexpected": "host restarted unexpectedly", "planned": "host restarted",
                "gone": "host stopped answering and never came back"}.get(
            self.kind, "host stopped answering") + f" during {where(self.step)}"

    def to_dict(self) -> dict[str, Any]:
        b = self.bugcheck
        return {
            "step": self.step, "kind": self.kind, "message": self.message(), "title": self.title(),
            "boot_time": self.boot_time,
            "bugcheck": None if b is None else {"code": b.code_text, "name": b.name,
                                                "params": [f"0x{p:016x}" for p in b.params],
                                                "dump_path": b.dump_path, "report_id": b.report_id},
            "previous_shutdown": self.previous_shutdown, "planned_reason": self.planned_reason,
            "event_kinds": list(self.event_kinds), "downtime_s": self.downtime_s, "asked": self.asked,
            "events": [dataclasses.asdict(e) for e in self.events],
        }


def parse_bugcheck(message: str) -> Bugcheck | None:
    """Event 1001's text -> code, parameters, dump path, report id; None when it is not a bugcheck."""
    match = _BUGCHECK.search(message or "")
    if match is None:
        return None
    params = tuple(int(p, 16) for p in re.findall(r"0x[0-9a-f]+", match.group("params") or "", re.IGNORECASE))
    dump = _DUMP.search(message)
    report = _REPORT.search(message)
    return Bugcheck(int(match.group("code"), 16), params, dump.group("path").strip() if dump else None,
                    report.group("id").rstrip(".") if report else None)


def parse_previous_shutdown(message: str) -> str | None:
    """Event 6008's time and date ("3:14:07 PM on 12/1/2026"), without the direction marks."""
    match = _SHUTDOWN.search((message or "").translate(_MARKS))
    return match.group("when").strip() if match else None


def crash_probe() -> list[tuple[Cmd, ...]]:
    """One round trip: the boot time and the System log's crash and restart events (newest first).
    No events at all is a non-terminating error on Windows: run it with check=False."""
    return [
        (Cmd.of("Get-CimInstance", ClassName="Win32_OperatingSystem"),),
        (Cmd.of("Get-WinEvent", FilterHashtable={"LogName": "System", "Id": list(EVENT_IDS)}, MaxEvents=MAX_EVENTS),),
    ]


def crash_from(objects: Iterable[Any], step: str, *, boot_before: str | None = None,
               downtime_s: float | None = None) -> HostCrash:
    """The record from ``crash_probe``'s output. Only events of this boot count (and those written
    shortly before it: a planned restart's 1074); ``boot_before`` (LastBootUpTime before the outage,
    when known) tells a host that never rebooted."""
    objs = list(objects)
    os_obj = next((o for o in objs if has_type(o, "Win32_OperatingSystem")), None)
    boot = as_datetime(prop(os_obj, "LastBootUpTime")) if os_obj is not None else None
    events = [e for e in (_event(o) for o in objs if o is not os_obj) if e is not None]
    rebooted = boot_before is None or boot is None or _iso(boot) != _iso(as_datetime(boot_before))
    if not rebooted:
        events = []  # the same boot: whatever its log holds happened before this run
    elif boot is not None:
        events = [e for e in events if (t := as_datetime(e[1])) is None or t >= boot - BEFORE_BOOT]
    records = tuple(HostEvent(int(prop(o, "Id")), str(prop(o, "ProviderName", "") or ""), _iso(when), msg)
                    for o, when, msg in sorted(events, key=lambda e: _sort_key(e[1])))
    bugcheck = next((b for e in reversed(records) if e.id == BUGCHECK_ID
                     and (b := parse_bugcheck(e.message)) is not None), None)
    shutdown = next((p for e in reversed(records) if e.id == UNEXPECTED_ID
                     and (p := parse_previous_shutdown(e.message)) is not None), None)
    planned = next((e for e in reversed(records) if e.id == PLANNED_ID), None)
    reason = None
    if planned is not None and (m := _REASON.search(planned.message)) is not None:
        reason = m.group("reason").strip()
    if bugcheck is not None:
        kind = "bugcheck"
    elif any(e.id in (KERNEL_POWER_ID, UNEXPECTED_ID) for e in records):
        kind = "unexpected"
    elif planned is not None:
        kind = "planned"
    else:
        kind = "unexpected" if rebooted and boot_before is not None else "no-reboot"
    return HostCrash(step, kind, _iso(boot), bugcheck, shutdown, reason, records, downtime_s)


def _event(obj: Any) -> tuple[Any, Any, str] | None:
    event_id = prop(obj, "Id")
    if not isinstance(event_id, int) or isinstance(event_id, bool) or event_id not in EVENT_IDS:
        return None
    provider = prop(obj, "ProviderName")
    if provider and str(provider) != PROVIDERS[event_id]:
        return None
    return obj, prop(obj, "TimeCreated"), str(prop(obj, "Message", "") or "")


def _iso(value: Any) -> str | None:
    when = as_datetime(value) if value is not None else None
    return when.isoformat() if when is not None else None


def _sort_key(value: Any) -> datetime.datetime:
    return as_datetime(value) or datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)

