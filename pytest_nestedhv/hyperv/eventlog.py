"""Which Hyper-V event logs say what happened to a VM, and the Get-WinEvent calls that read them.

docs/requirements.md#logscollected: the Worker, VMMS, Hypervisor-Operational and Compute logs, and the System
log's hypervisor events, are the ones worth reading when something went wrong.
"""
from __future__ import annotations

import datetime

from ..remote.commands import Cmd

HYPERVISOR_PROVIDER = "Microsoft-Windows-Hyper-V-Hypervisor"
HYPERV_LOGS = (
    "Microsoft-Windows-Hyper-V-Worker-Admin",
    "Microsoft-Windows-Hyper-V-VMMS-Admin",
    "Microsoft-Windows-Hyper-V-Hypervisor-Operational",
    "Microsoft-Windows-Hyper-V-Compute-Admin",
)
MAX_EVENTS = 50


def event_queries(since: datetime.datetime | None, max_events: int = MAX_EVENTS) -> list[Cmd]:
    """One Get-WinEvent per log (a log with no match answers with an error, not with nothing)."""
    start = {} if since is None else {
        "StartTime": since.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    cmds = [Cmd.of("Get-WinEvent", FilterHashtable={"LogName": name, **start}, MaxEvents=max_events)
            for name in HYPERV_LOGS]
    cmds.append(Cmd.of("Get-WinEvent", FilterHashtable={
        "LogName": "System", "ProviderName": HYPERVISOR_PROVIDER, **start}, MaxEvents=max_events))
    return cmds
