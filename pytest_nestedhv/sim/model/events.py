"""Event-log records the model writes as things happen, with the ids and texts of real hosts."""
from __future__ import annotations

import datetime as dt
import uuid

from .state import VM, EventRecord, Node

SYSTEM = "System"
HYPERVISOR_PROVIDER = "Microsoft-Windows-Hyper-V-Hypervisor"
WORKER_LOG = "Microsoft-Windows-Hyper-V-Worker-Admin"
WORKER_PROVIDER = "Microsoft-Windows-Hyper-V-Worker"
VMMS_LOG = "Microsoft-Windows-Hyper-V-VMMS-Admin"
VMMS_PROVIDER = "Microsoft-Windows-Hyper-V-VMMS"

WER_PROVIDER = "Microsoft-Windows-WER-SystemErrorReporting"
KERNEL_POWER_PROVIDER = "Microsoft-Windows-Kernel-Power"
EVENTLOG_PROVIDER = "EventLog"
# what a host stopped by a nested guest shows: HYPERVISOR_ERROR, with the hypervisor's own parameters
HOST_BUGCHECK_CODE = 0x00020001
HOST_BUGCHECK_PARAMETERS = (0x11, 0x3A, 0x2, 0x0)
HOST_DUMP_PATH = "C:\\Windows\\MEMORY.DMP"
LRM = "\u200e"  # the left-to-right mark Windows puts before each part of a date in 6008

LEVEL_CRITICAL = 1
LEVEL_ERROR = 2
LEVEL_WARNING = 3
LEVEL_INFO = 4
LEVEL_NAMES = {1: "Critical", 2: "Error", 3: "Warning", 4: "Information"}


def write(node: Node, when: dt.datetime, log: str, provider: str, event_id: int, level: int, message: str) -> EventRecord:
    record = EventRecord(node.next_record_id, log, provider, event_id, level, message, when)
    node.next_record_id += 1
    node.events.append(record)
    return record


def hypervisor_started(node: Node, when: dt.datetime) -> None:
    write(node, when, SYSTEM, HYPERVISOR_PROVIDER, 1, LEVEL_INFO, "Hypervisor successfully started.")


def hypervisor_launch_failed(node: Node, when: dt.datetime) -> None:
    if node.os.cpu_vendor == "AuthenticAMD":
        write(node, when, SYSTEM, HYPERVISOR_PROVIDER, 42, LEVEL_ERROR,
              "Hypervisor launch failed; Either SVM not present or not enabled in BIOS.")
    else:
        write(node, when, SYSTEM, HYPERVISOR_PROVIDER, 41, LEVEL_ERROR,
              "Hypervisor launch failed; Either VMX not present or not enabled in BIOS.")


def host_rebooted_from_bugcheck(node: Node, crashed: dt.datetime, up: dt.datetime) -> None:
    """What the System log holds after the reboot: Kernel-Power 41, EventLog 6008 and the WER 1001
    bugcheck report, with Windows' texts (the sim's host clock is UTC)."""
    write(node, up, SYSTEM, KERNEL_POWER_PROVIDER, 41, LEVEL_CRITICAL,
          "The system has rebooted without cleanly shutting down first. This error could be caused if the system "
          "stopped responding, crashed, or lost power unexpectedly.")
    hour = crashed.hour % 12 or 12
    clock = f"{hour}:{crashed:%M:%S} {'AM' if crashed.hour < 12 else 'PM'}"
    date = f"{LRM}{crashed.month}/{LRM}{crashed.day}/{LRM}{crashed.year}"
    write(node, up, SYSTEM, EVENTLOG_PROVIDER, 6008, LEVEL_ERROR,
          f"The previous system shutdown at {clock} on {date} was unexpected.")
    params = ", ".join(f"0x{p:016x}" for p in HOST_BUGCHECK_PARAMETERS)
    report = uuid.uuid5(uuid.NAMESPACE_URL, f"{node.os.computer_name}/{crashed.isoformat()}")
    write(node, up, SYSTEM, WER_PROVIDER, 1001, LEVEL_ERROR,
          f"The computer has rebooted from a bugcheck.  The bugcheck was: 0x{HOST_BUGCHECK_CODE:08x} ({params}). "
          f"A dump was saved in: {HOST_DUMP_PATH}. Report Id: {report}.")


def vm_started(node: Node, vm: VM, when: dt.datetime) -> None:
    # assumption: 18500 "started" is reported by third parties (docs/requirements.md#logscollected).
    write(node, when, WORKER_LOG, WORKER_PROVIDER, 18500, LEVEL_INFO,
          f"'{vm.name}' started successfully. (Virtual machine ID {str(vm.id).upper()})")


def vm_turned_off(node: Node, vm: VM, when: dt.datetime) -> None:
    # assumption: 18560 "turned off" is reported by third parties (docs/requirements.md#logscollected).
    write(node, when, WORKER_LOG, WORKER_PROVIDER, 18560, LEVEL_INFO,
          f"'{vm.name}' was turned off. (Virtual machine ID {str(vm.id).upper()})")


def vm_crashed(node: Node, vm: VM, when: dt.datetime, *, with_os: bool = True) -> None:
    # assumption: 18590 is the guest-crash event on real hosts; the texts are paraphrased. Without
    # an OS nothing reports a bugcheck: the virtual processor faults (a triple fault).
    detail = ("The guest operating system reported that it failed with the following error codes: "
              "ErrorCode0: 0x7F." if with_os else
              "An unrecoverable error occurred on a virtual processor that caused a triple fault.")
    write(node, when, WORKER_LOG, WORKER_PROVIDER, 18590, LEVEL_ERROR,
          f"'{vm.name}' has encountered a fatal error. {detail} (Virtual machine ID {str(vm.id).upper()})")


def vm_start_failed(node: Node, vm: VM, when: dt.datetime, reason: str) -> None:
    # assumption: 12010 is the VMMS "could not start" event id.
    write(node, when, VMMS_LOG, VMMS_PROVIDER, 12010, LEVEL_ERROR,
          f"{reason} (Virtual machine ID {str(vm.id).upper()})")
