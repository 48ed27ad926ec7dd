"""What a host that went away mid-run left in its System log, read into one typed record.

After an unexpected reboot Windows writes, in the System log:
- 1001 from Microsoft-Windows-WER-SystemErrorReporting when it bugchecked: "The computer has
  rebooted from a bugcheck.  The bugcheck was: 0x0000009f (p1, p2, p3, p4). A dump was saved
  in: C:\\Windows\\MEMORY.DMP. Report Id: <guid>.";
- 41 from Microsoft-Windows-Kernel-Power (Critical): "The system has rebooted without cleanly
  shutting down first. ...", after any unclean reboot (bugcheck, hang, power loss);
- 6008 from EventLog: "The previous system shutdown at 3:14:07 AM on 11/25/2026 was
  unexpected." (the date parts carry left-to-right marks, U+200E).
Pure functions over (id, provider, message) records; nothing here talks to a host.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, Protocol

from ..remote.commands import Cmd

SYSTEM_LOG = "System"
BUGCHECK_EVENT = (1001, "Microsoft-Windows-WER-SystemErrorReporting")
UNCLEAN_REBOOT_EVENT = (41, "Microsoft-Windows-Kernel-Power")
UNEXPECTED_SHUTDOWN_EVENT = (6008, "EventLog")
CRASH_EVENT_IDS = (BUGCHECK_EVENT[0], UNCLEAN_REBOOT_EVENT[0], UNEXPECTED_SHUTDOWN_EVENT[0])

# docs.microsoft.com "Bug check code reference": the codes a nested-virtualization host is seen to stop with
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

_BUGCHECK = re.compile(
    r"The computer has rebooted from a bugcheck\.\s+The bugcheck was:\s*(?P<code>0x[0-9A-Fa-f]+)"
    r"(?:\s*\((?P<params>[^)]*)\))?", re.DOTALL)
_DUMP = re.compile(r"A dump was saved in:\s*(?P<path>.+?)\.(?:\s+Report Id:|\s*$)", re.DOTALL)
_REPORT = re.compile(r"Report Id:\s*(?P<id>[^\s]+?)\.?\s*$")
_UNCLEAN = "The system has rebooted without cleanly shutting down first."
_SHUTDOWN = re.compile(r"The previous system shutdown at (?P<time>.+?) on (?P<date>.+?) was unexpected\.", re.DOTALL)
_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202c"))  # bidi marks Windows puts in dates


class EventLike(Protocol):
    id: int | None
    provider: str
    message: str


@dataclasses.dataclass(frozen=True)
class Bugcheck:
    code: int
    parameters: tuple[int, ...]
    dump_path: str | None = None
    report_id: str | None = None

    @property
    def code_text(self) -> str:
        return f"0x{self.code:08X}"

    @property
    def name(self) -> str | None:
        return BUGCHECK_NAMES.get(self.code)

    @property
    def parameters_text(self) -> str:
        return ", ".join(f"0x{p:016X}" for p in self.parameters)

    def describe(self) -> str:
        """0x0000009F DRIVER_POWER_STATE_FAILURE (0x..., 0x..., 0x..., 0x...)"""
        name = f" {self.name}" if self.name else ""
        return f"{self.code_text}{name} ({self.parameters_text})"


@dataclasses.dataclass(frozen=True)
class HostCrash:
    """Why the host rebooted, as far as its System log says."""

    bugcheck: Bugcheck | None  # None: it rebooted uncleanly without a bugcheck (a hang, power loss)
    unclean_reboot: bool  # Kernel-Power 41 was written
    unexpected_shutdown_at: dt.datetime | str | None  # 6008's time (as text when its format is not en-US)
    last_boot: str | None = None  # Win32_OperatingSystem.LastBootUpTime after the reboot

    def failure(self, step: str) -> str:
        """The one line the running step fails with."""
        if self.bugcheck is None:
            return f"host restarted without a clean shutdown during {step} (no bugcheck recorded)"
        dump = f"; dump: {self.bugcheck.dump_path}" if self.bugcheck.dump_path else ""
        return f"host bugchecked {self.bugcheck.code_text} ({self.bugcheck.parameters_text}) during {step}{dump}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if isinstance(self.unexpected_shutdown_at, dt.datetime):
            data["unexpected_shutdown_at"] = self.unexpected_shutdown_at.isoformat()
        if self.bugcheck is not None:
            data["bugcheck"].update(code=self.bugcheck.code_text, name=self.bugcheck.name,
                                    parameters=[f"0x{p:016X}" for p in self.bugcheck.parameters])
        return data


def _hex(text: str) -> int | None:
    try:
        return int(text.strip(), 16)
    except ValueError:
        return None


def parse_bugcheck(message: str) -> Bugcheck | None:
    """Event 1001's text; None when it is not a bugcheck report."""
    match = _BUGCHECK.search(message or "")
    if match is None:
        return None
    code = _hex(match.group("code"))
    if code is None:
        return None
    params = tuple(p for p in (_hex(x) for x in (match.group("params") or "").split(",") if x.strip())
                   if p is not None)
    rest = message[match.end():]
    dump = _DUMP.search(rest)
    report = _REPORT.search(rest)
    return Bugcheck(code, params, dump.group("path").strip() if dump else None,
                    report.group("id") if report else None)


def is_unclean_reboot(message: str) -> bool:
    """Kernel-Power 41's text."""
    return (message or "").strip().startswith(_UNCLEAN)


def parse_unexpected_shutdown(message: str) -> dt.datetime | str | None:
    """6008's time of the shutdown that was unexpected: a naive local datetime for en-US text,
    the text itself for other formats, None when it is not that event."""
    match = _SHUTDOWN.search((message or "").translate(_MARKS))
    if match is None:
        return None
    time_text, date_text = match.group("time").strip(), match.group("date").strip()
    for fmt in ("%I:%M:%S %p %m/%d/%Y", "%H:%M:%S %m/%d/%Y"):
        try:
            return dt.datetime.strptime(f"{time_text} {date_text}", fmt)
        except ValueError:
            continue
    return f"{time_text} on {date_text}"


def host_crash(events: Iterable[EventLike], last_boot: str | None = None) -> HostCrash | None:
    """The newest crash the events tell of (given newest first, as Get-WinEvent returns them);
    None when none of them is a crash event."""
    bugcheck: Bugcheck | None = None
    unclean = False
    shutdown: dt.datetime | str | None = None
    seen = False
    for event in events:
        key = (event.id, event.provider)
        if key == BUGCHECK_EVENT:
            bugcheck = bugcheck or parse_bugcheck(event.message)
            seen = seen or bugcheck is not None
        elif key == UNCLEAN_REBOOT_EVENT and is_unclean_reboot(event.message):
            unclean = seen = True
        elif key == UNEXPECTED_SHUTDOWN_EVENT:
            shutdown = shutdown or parse_unexpected_shutdown(event.message)
            seen = seen or shutdown is not None
    return HostCrash(bugcheck, unclean, shutdown, last_boot) if seen else None


def crash_events_query(since: dt.datetime, max_events: int = 20) -> Cmd:
    """Get-WinEvent for the three events since ``since`` (UTC)."""
    start = since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Cmd.of("Get-WinEvent", FilterHashtable={"LogName": SYSTEM_LOG, "Id": list(CRASH_EVENT_IDS),
                                                   "StartTime": start}, MaxEvents=max_events)
