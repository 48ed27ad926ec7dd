"""Event-log entries from host and guest, collected when a test fails.

Best effort and bounded: one round trip on the host (every log in one invocation), one
PowerShell Direct call per log in the L1 when its guest was reachable. Any error just means
fewer events. The calls are tagged with a "report:" step so repro.ps1 never replays them.
"""
from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Iterator
from typing import Any

from ..hyperv.eventlog import event_queries
from ..hyperv.ports import flatten
from ..remote.commands import Cmd
from ..remote.secrets import SecretMask
from .powershell import REPORT_STEP_PREFIX
from .records import EventRecord
from .wire import iso

log = logging.getLogger("pytest_nestedhv.reporting")

# assumption: host and controller clocks agree within this margin
CLOCK_MARGIN = datetime.timedelta(minutes=2)
HOST_TIMEOUT_S = 30.0
GUEST_TIMEOUT_S = 30.0
STEP = REPORT_STEP_PREFIX + "events"


def queries(since: datetime.datetime) -> list[Cmd]:
    return event_queries(since - CLOCK_MARGIN)


def to_record(obj: Any, machine: str, mask: SecretMask, test: str | None) -> EventRecord | None:
    getter = getattr(obj, "get", None)
    if getter is None:
        return None
    event_id = getter("Id")
    try:
        event_id = int(event_id) if event_id is not None else None
    except (TypeError, ValueError):
        event_id = None
    level = getter("LevelDisplayName") or getter("Level") or ""
    return EventRecord(
        machine=machine,
        log=mask.mask(str(getter("LogName") or "")),
        id=event_id,
        level=mask.mask(str(level)),
        provider=mask.mask(str(getter("ProviderName") or "")),
        time=iso(getter("TimeCreated")),
        message=mask.mask(" ".join(str(getter("Message") or "").split())),
        test=test,
    )


@contextlib.contextmanager
def _tagged(session: Any) -> Iterator[None]:
    transcript = getattr(session, "transcript", None)
    if transcript is not None and hasattr(transcript, "step"):
        with transcript.step(STEP):
            yield
    else:
        yield


def collect(session: Any, since: datetime.datetime, mask: SecretMask, test: str | None, *,
            guest_vm: str | None = None, guest_cred: Any = None) -> list[EventRecord]:
    out: list[EventRecord] = []
    cmds = queries(since)
    with _tagged(session):
        try:
            result = session.run_statements([(c,) for c in cmds], timeout=HOST_TIMEOUT_S, check=False)
            out += [r for r in (to_record(o, "host", mask, test) for o in flatten(result)) if r]
        except Exception as err:  # noqa: BLE001 - events are an extra; never fail the report for them
            log.info("could not read host event logs: %s", mask.mask(str(err)))
        if guest_vm and guest_cred is not None:
            for cmd in cmds:
                try:
                    result = session.in_guest(guest_vm, guest_cred, cmd, timeout=GUEST_TIMEOUT_S)
                except Exception as err:  # noqa: BLE001 - no events in the guest is a common answer
                    log.debug("guest events %s: %s", cmd.param("FilterHashtable"), mask.mask(str(err)))
                    continue
                out += [r for r in (to_record(o, f"guest:{guest_vm}", mask, test) for o in flatten(result)) if r]
    return out

