"""The physical host going away and coming back: a bugcheck, or a plain restart.

While an outage lasts the host answers nothing (the server stops listening); when it ends the
host has rebooted: every VM is Off (Saved after a planned restart), LastBootUpTime is new, and the System log holds what
Windows writes after such a boot (docs/requirements.md#texthost-crash: 1001 BugCheck,
Kernel-Power 41, EventLog 6008, User32 1074). Every function takes the world's lock as held by the caller.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import TYPE_CHECKING

from ..powershell.errors import Halted, PSError
from . import events
from .state import VM, Node

if TYPE_CHECKING:
    from .world import World

# HYPERVISOR_ERROR: what a host whose hypervisor fails under a nested guest shows.
# assumption: the four parameters (their meaning is undocumented for this code)
BUGCHECK_CODE = 0x00020001
BUGCHECK_PARAMS = (0x11, 0x0, 0x0, 0x0)
DUMP_PATH = "C:\\Windows\\MEMORY.DMP"
LRM = "\u200e"  # Windows puts a left-to-right mark before each part of the date in event 6008

WER_PROVIDER = "Microsoft-Windows-WER-SystemErrorReporting"  # shown as source "BugCheck"
KERNEL_POWER_PROVIDER = "Microsoft-Windows-Kernel-Power"
EVENTLOG_PROVIDER = "EventLog"
USER32_PROVIDER = "User32"
LEVEL_CRITICAL = 1


class HostDown(Halted):
    """The host crashed or restarted under a running command: nothing answers it."""


# Restart-Computer on the host answers, then Windows shuts down. Assumption: a few seconds later
# (shutdown notifications, services stopping; saving the running VMs then takes its own time).
RESTART_DELAY_S = 5.0


@dataclasses.dataclass
class Outage:
    kind: str  # "bugcheck" | "unexpected" (a reset, power loss) | "planned" (a clean restart)
    at: dt.datetime  # when the host goes down (modelled)
    back_at: dt.datetime  # when it answers again
    report_id: str = ""
    gone_down: bool = True  # its VMs have stopped (a restart asked for is scheduled: they stop at ``at``)
    were_running: list[str] = dataclasses.field(default_factory=list)  # VMs running when it went down


def crash(world: World, now: dt.datetime, kind: str) -> HostDown:
    """The host goes down now: every VM stops where it is. Returns the exception the caller raises,
    so that the command that was running never completes."""
    if kind == "planned":
        write_restart_initiated(world.host, now)
    back = now + dt.timedelta(seconds=world.faults.host_reboot_seconds)
    world.outage = Outage(kind, now, back, str(uuid.uuid4()) if kind == "bugcheck" else "", gone_down=False)
    go_down(world)
    return HostDown(f"the host went down ({kind})")


def schedule_restart(world: World, now: dt.datetime) -> None:
    """Restart-Computer (or Install-WindowsFeature -Restart) on the host: the command answers, and
    the host goes down RESTART_DELAY_S later, as a planned restart."""
    at = now + dt.timedelta(seconds=RESTART_DELAY_S)
    write_restart_initiated(world.host, now, by="restart-computer")
    world.outage = Outage("planned", at, at + dt.timedelta(seconds=world.faults.host_reboot_seconds),
                          gone_down=False)


def go_down(world: World) -> None:
    """The outage's moment has come: running VMs are saved (planned) or lose power."""
    outage = world.outage
    assert outage is not None
    if outage.kind == "planned":
        events.write(world.host, outage.at, events.SYSTEM, EVENTLOG_PROVIDER, 6006, events.LEVEL_INFO,
                     "The Event log service was stopped.")
    outage.were_running = [vm.name for vm in world.host.vms if vm.state == "Running"]
    for vm in world.host.vms:
        if outage.kind == "planned" and vm.state == "Running":
            _save(world, world.host, vm, outage.at)
        else:
            _power_off(vm, outage.at)
    outage.gone_down = True
    world.notify_change()


def maybe_restart(world: World, point: str, now: dt.datetime) -> None:
    """[faults] host_restart_at: restart the host once, when the lab reaches ``point``."""
    if world.faults.host_restart_at and world.faults.host_restart_at == point:
        world.faults.host_restart_at = ""  # once: the restarted host behaves normally (and a saved state says so)
        raise crash(world, now, world.faults.host_restart_kind)


def come_back(world: World) -> None:
    """The outage is over: the host has booted and written its boot-time events."""
    outage = world.outage
    assert outage is not None
    host = world.host
    # the boot itself takes the second half of the outage; the first is the dump and firmware
    boot = outage.at + (outage.back_at - outage.at) / 2
    host.features += [f for f in host.pending_features if not host.has_feature(f)]
    host.pending_features = []
    host.last_boot, host.boot_count = boot, host.boot_count + 1
    host.hypervisor_running = host.has_feature("Hyper-V") and host.hypervisor_launch
    step = dt.timedelta(seconds=1)
    events.write(host, boot + step, events.SYSTEM, EVENTLOG_PROVIDER, 6005, events.LEVEL_INFO,
                 "The Event log service was started.")
    if host.hypervisor_running:
        events.hypervisor_started(host, boot + step)
    if outage.kind != "planned":
        events.write(host, boot + 2 * step, events.SYSTEM, EVENTLOG_PROVIDER, 6008, events.LEVEL_ERROR,
                     f"The previous system shutdown at {_time_text(outage.at)} on {_date_text(outage.at)} "
                     "was unexpected.")
        events.write(host, boot + 2 * step, events.SYSTEM, KERNEL_POWER_PROVIDER, 41, LEVEL_CRITICAL,
                     "The system has rebooted without cleanly shutting down first. This error could be caused "
                     "if the system stopped responding, crashed, or lost power unexpectedly.")
    if outage.kind == "bugcheck":
        events.write(host, boot + 20 * step, events.SYSTEM, WER_PROVIDER, 1001, events.LEVEL_ERROR,
                     bugcheck_text(BUGCHECK_CODE, BUGCHECK_PARAMS, DUMP_PATH, outage.report_id))
    world.last_outage, world.outage = outage, None
    _start_automatically(world, outage, boot + 30 * step)


def _start_automatically(world: World, outage: Outage, when: dt.datetime) -> None:
    """The VM management service starts (or resumes) each VM by its AutomaticStartAction: Start
    always, StartIfRunning when it ran as the host went down, Nothing never. Assumption: at once
    (AutomaticStartDelay 0), once the host has booted."""
    from .lifecycle import start  # lifecycle imports this module

    for vm in world.host.vms:
        wanted = vm.automatic_start_action == "Start" or (
            vm.automatic_start_action == "StartIfRunning" and vm.name in outage.were_running)
        if wanted and vm.state in ("Off", "Saved"):
            try:
                start(world, world.host, vm, when)
            except PSError:  # it would not start: the host's log has why, as it would on Windows
                continue


def bugcheck_text(code: int, params: tuple[int, ...], dump: str, report_id: str) -> str:
    """Event 1001's message as Windows 10 / Server 2016 and later write it (two spaces after the first sentence)."""
    args = ", ".join(f"0x{p:016x}" for p in params)
    return (f"The computer has rebooted from a bugcheck.  The bugcheck was: 0x{code:08x} ({args}). "
            f"A dump was saved in: {dump}. Report Id: {report_id}.")


# who a planned restart's 1074 names, by what started it. Assumption: the process, account and
# reason of a typical Windows Update restart ([faults] host_restart_kind = "planned"), and of
# Restart-Computer, which Windows PowerShell carries out through WMI (Win32Shutdown) as the caller
RESTART_INITIATORS = {
    "update": ("C:\\Windows\\system32\\svchost.exe", "NT AUTHORITY\\SYSTEM",
               "Operating System: Service pack (Planned)", "0x80020010"),
    "restart-computer": ("C:\\Windows\\system32\\wbem\\wmiprvse.exe", "{name}\\Administrator",
                         "No title for this reason could be found", "0x800000ff"),
}


def write_restart_initiated(host: Node, when: dt.datetime, by: str = "update") -> None:
    name = host.os.computer_name
    process, user, reason, code = RESTART_INITIATORS[by]
    events.write(host, when, events.SYSTEM, USER32_PROVIDER, 1074, events.LEVEL_INFO,
                 f"The process {process} ({name}) has initiated the restart of computer {name} on behalf of user "
                 f"{user.format(name=name)} for the following reason: {reason}\n Reason Code: {code}\n "
                 "Shutdown Type: restart\n Comment: ")


def _save(world: World, host: Node, vm: VM, when: dt.datetime) -> None:
    """A clean restart saves running VMs, as AutomaticStopAction Save (the default) does; their
    AutomaticStartAction decides what happens at the next boot (_start_automatically)."""
    from .lifecycle import save  # lifecycle imports this module

    try:
        save(world, host, vm, when)
    except PSError:  # a VM that cannot be saved (nested on a preview build) is turned off
        _power_off(vm, when)


def _power_off(vm: VM, when: dt.datetime) -> None:
    """Stopped by the host's fall: no VM or guest writes anything, nothing is saved; a Saved VM
    keeps its saved state (it is on disk)."""
    if vm.state in ("Off", "Saved"):
        return
    vm.state, vm.state_since, vm.started_at = "Off", when, None
    vm.boot_due = vm.crash_due = None
    vm.hangs = False
    if vm.guest is not None:
        vm.guest.booted = False
        vm.guest.hypervisor_running = False
        for inner in vm.guest.vms:
            _power_off(inner, when)


def _time_text(when: dt.datetime) -> str:
    hour = when.hour % 12 or 12
    return f"{hour}:{when.minute:02d}:{when.second:02d} {'AM' if when.hour < 12 else 'PM'}"


def _date_text(when: dt.datetime) -> str:
    return f"{LRM}{when.month}/{LRM}{when.day}/{LRM}{when.year}"
