"""Get-WinEvent over the event records the model writes as things happen."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from ..model import events
from ..model.state import EventRecord, Node, wildcard_match
from ..powershell.cmdlet import Call, Impl
from ..powershell.errors import PSError
from ._common import as_list, now
from ._reference import plain_object

COMMAND = "Microsoft.PowerShell.Commands.GetWinEventCommand"
STANDARD_LOGS = ["Application", "Security", "Setup", "System"]
HYPERV_LOGS = [events.WORKER_LOG, events.VMMS_LOG, "Microsoft-Windows-Hyper-V-Hypervisor-Operational",
               "Microsoft-Windows-Hyper-V-Compute-Admin"]


def known_logs(node: Node) -> list[str]:
    hyperv = node.has_feature("Hyper-V") or node.has_pending_feature("Hyper-V")
    return STANDARD_LOGS + (HYPERV_LOGS if hyperv else [])


def record_out(node: Node, r: EventRecord) -> Any:
    return plain_object(["System.Diagnostics.Eventing.Reader.EventLogRecord",
                         "System.Diagnostics.Eventing.Reader.EventRecord"], {
        "Message": r.message, "Id": r.event_id, "Version": 0, "Qualifiers": None, "Level": r.level, "Task": 0,
        "Opcode": 0, "Keywords": -9223372036854775808, "RecordId": r.record_id, "ProviderName": r.provider,
        "ProviderId": uuid.uuid5(uuid.NAMESPACE_URL, r.provider), "LogName": r.log_name, "ProcessId": 4,
        "ThreadId": 8, "MachineName": node.os.computer_name, "UserId": None, "TimeCreated": r.time_created,
        "ActivityId": None, "RelatedActivityId": None, "ContainerLog": r.log_name, "MatchedQueryIds": [],
        "Bookmark": None, "LevelDisplayName": events.LEVEL_NAMES.get(r.level, "Information"),
        "OpcodeDisplayName": "Info", "TaskDisplayName": None, "KeywordsDisplayNames": [], "Properties": [],
    }, to_string="System.Diagnostics.Eventing.Reader.EventLogRecord")


def _as_time(value: Any) -> dt.datetime:
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _matches(r: EventRecord, f: dict[str, Any]) -> bool:
    keys = {k.lower(): v for k, v in f.items()}
    if "logname" in keys and not any(wildcard_match(n, r.log_name) for n in as_list(keys["logname"])):
        return False
    if "providername" in keys and not any(wildcard_match(n, r.provider) for n in as_list(keys["providername"])):
        return False
    if "id" in keys and r.event_id not in [int(i) for i in as_list(keys["id"])]:
        return False
    if "level" in keys and r.level not in [int(i) for i in as_list(keys["level"])]:
        return False
    if "starttime" in keys and r.time_created < _as_time(keys["starttime"]):
        return False
    if "endtime" in keys and r.time_created > _as_time(keys["endtime"]):
        return False
    return True


def get_win_event(call: Call) -> Iterator[Any]:
    node, p = call.ctx.node, call.params
    with call.ctx.world.lock:
        now(call)
        records = list(node.events)
        logs = known_logs(node)
    if "FilterHashtable" in p:
        filters = [dict(f) for f in as_list(p["FilterHashtable"])]
    elif "ProviderName" in p:
        filters = [{"ProviderName": p["ProviderName"]}]
    else:
        filters = [{"LogName": p.get("LogName") or ["*"]}]
    for f in filters:
        for name in as_list(f.get("LogName") or f.get("logname") or []):
            if not any(wildcard_match(name, log) for log in logs):
                raise PSError(f'There is not an event log on the localhost computer that matches "{name}".',
                              category="ObjectNotFound", fqid=f"NoMatchingLogsFound,{COMMAND}", target=name,
                              exception_type="System.Exception", reason="Exception", terminating=False)
    found = [r for r in records if any(_matches(r, f) for f in filters)]
    found.sort(key=lambda r: r.record_id, reverse=not p.get("Oldest"))  # newest first, as Windows returns them
    if "MaxEvents" in p:
        found = found[: int(p["MaxEvents"])]
    if not found:
        call.write_error(PSError("No events were found that match the specified selection criteria.",
                                 category="ObjectNotFound", fqid=f"NoMatchingEventsFound,{COMMAND}",
                                 exception_type="System.Exception", reason="Exception"))
        return
    yield from [record_out(node, r) for r in found]


CMDLETS: dict[str, Impl] = {"Get-WinEvent": get_win_event}
