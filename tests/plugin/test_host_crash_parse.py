"""hyperv.host_crash: the System log's bugcheck (1001), unclean reboot (Kernel-Power 41) and unexpected
shutdown (6008) events read into one HostCrash. Table-driven over Windows' own texts."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from pytest_nestedhv.hyperv.host_crash import (
    Bugcheck, HostCrash, crash_events_query, host_crash, parse_bugcheck, parse_unexpected_shutdown,
)

WER = "Microsoft-Windows-WER-SystemErrorReporting"
KP = "Microsoft-Windows-Kernel-Power"
BUGCHECK_9F = ("The computer has rebooted from a bugcheck.  The bugcheck was: 0x0000009f (0x0000000000000003, "
               "0xffffc48a1b2c3060, 0xfffff8016a8a7750, 0xffffc48a1d6e1010). A dump was saved in: "
               "C:\\Windows\\MEMORY.DMP. Report Id: 7c1d4e52-3f7a-4f0e-9b8a-2d5c6e7f8a90.")
UNCLEAN = ("The system has rebooted without cleanly shutting down first. This error could be caused if the "
           "system stopped responding, crashed, or lost power unexpectedly.")
SHUTDOWN = "The previous system shutdown at 3:14:07 AM on \u200e11/\u200e25/\u200e2026 was unexpected."


@dataclasses.dataclass
class Event:
    id: int
    provider: str
    message: str


@pytest.mark.parametrize(("message", "expected"), [
    (BUGCHECK_9F, Bugcheck(0x9F, (3, 0xFFFFC48A1B2C3060, 0xFFFFF8016A8A7750, 0xFFFFC48A1D6E1010),
                           "C:\\Windows\\MEMORY.DMP", "7c1d4e52-3f7a-4f0e-9b8a-2d5c6e7f8a90")),
    # one space after "bugcheck.", a minidump, the older report id
    ("The computer has rebooted from a bugcheck. The bugcheck was: 0x00020001 (0x0000000000000011, "
     "0x0000000000000000, 0x0000000000000000, 0x0000000000000000). A dump was saved in: "
     "C:\\WINDOWS\\Minidump\\112526-10921-01.dmp. Report Id: 112526-10921-01.",
     Bugcheck(0x20001, (0x11, 0, 0, 0), "C:\\WINDOWS\\Minidump\\112526-10921-01.dmp", "112526-10921-01")),
    # no dump could be written
    ("The computer has rebooted from a bugcheck.  The bugcheck was: 0x00000124 (0x0000000000000000, "
     "0xffffe48d3c458028, 0x00000000bf800000, 0x0000000000000800).",
     Bugcheck(0x124, (0, 0xFFFFE48D3C458028, 0xBF800000, 0x800), None, None)),
    ("The computer has rebooted from a bugcheck. The bugcheck was: 0x0000007E.", Bugcheck(0x7E, ())),
    ("Windows Memory Diagnostic tested the computer's memory and detected no errors", None),
    ("", None),
])
def test_bugcheck_event_text(message: str, expected: Bugcheck | None) -> None:
    assert parse_bugcheck(message) == expected


def test_bugcheck_names_and_texts() -> None:
    bugcheck = parse_bugcheck(BUGCHECK_9F)
    assert bugcheck is not None
    assert bugcheck.code_text == "0x0000009F" and bugcheck.name == "DRIVER_POWER_STATE_FAILURE"
    assert bugcheck.describe().startswith("0x0000009F DRIVER_POWER_STATE_FAILURE (0x0000000000000003, ")
    assert Bugcheck(0x1234, ()).name is None


@pytest.mark.parametrize(("message", "expected"), [
    (SHUTDOWN, dt.datetime(2026, 11, 25, 3, 14, 7)),
    ("The previous system shutdown at 11:02:59 PM on 1/2/2027 was unexpected.", dt.datetime(2027, 1, 2, 23, 2, 59)),
    ("The previous system shutdown at 15:14:07 on 11/25/2026 was unexpected.", dt.datetime(2026, 11, 25, 15, 14, 7)),
    ("The previous system shutdown at 15:14:07 on 25.11.2026 was unexpected.", "15:14:07 on 25.11.2026"),
    ("The Event log service was started.", None),
])
def test_unexpected_shutdown_event_text(message: str, expected: object) -> None:
    assert parse_unexpected_shutdown(message) == expected


def test_a_bugcheck_reboot_is_one_record_with_the_newest_bugcheck() -> None:
    older = BUGCHECK_9F.replace("0x0000009f", "0x0000001e")
    events = [Event(41, KP, UNCLEAN), Event(1001, WER, BUGCHECK_9F), Event(6008, "EventLog", SHUTDOWN),
              Event(1001, WER, older)]  # newest first, as Get-WinEvent returns them
    crash = host_crash(events, last_boot="2026-11-25T03:16:40+00:00")
    assert crash is not None and crash.bugcheck is not None
    assert crash.bugcheck.code == 0x9F and crash.unclean_reboot
    assert crash.unexpected_shutdown_at == dt.datetime(2026, 11, 25, 3, 14, 7)
    assert crash.failure("l2-booted") == (
        "host bugchecked 0x0000009F (0x0000000000000003, 0xFFFFC48A1B2C3060, 0xFFFFF8016A8A7750, "
        "0xFFFFC48A1D6E1010) during l2-booted; dump: C:\\Windows\\MEMORY.DMP")
    data = crash.to_dict()
    assert data["bugcheck"]["code"] == "0x0000009F" and data["bugcheck"]["name"] == "DRIVER_POWER_STATE_FAILURE"
    assert data["unexpected_shutdown_at"] == "2026-11-25T03:14:07" and data["last_boot"].startswith("2026-11-25")


def test_an_unclean_reboot_without_bugcheck_and_no_crash_at_all() -> None:
    crash = host_crash([Event(41, KP, UNCLEAN), Event(6008, "EventLog", SHUTDOWN)])
    assert crash == HostCrash(None, True, dt.datetime(2026, 11, 25, 3, 14, 7))
    assert crash.failure("hyperv-installed") == ("host restarted without a clean shutdown during hyperv-installed "
                                                 "(no bugcheck recorded)")
    assert host_crash([]) is None
    # the same ids from other providers are not crash events
    assert host_crash([Event(1001, "Microsoft-Windows-MemoryDiagnostics-Results", BUGCHECK_9F),
                       Event(41, "Microsoft-Windows-Hyper-V-Hypervisor", UNCLEAN)]) is None


def test_the_query_asks_the_system_log_for_the_three_events() -> None:
    cmd = crash_events_query(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.timezone.utc))
    params = dict(cmd.params)
    assert cmd.name == "Get-WinEvent" and params["MaxEvents"] == 20
    assert params["FilterHashtable"] == {"LogName": "System", "Id": [1001, 41, 6008],
                                         "StartTime": "2026-11-25T03:00:00Z"}
