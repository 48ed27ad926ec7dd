"""Event-log records the model writes as things happen, with the ids and texts of real hosts."""
from __future__ import annotations

import datetime as dt

from .state import VM, EventRecord, Node

SYSTEM = "System"
HYPERVISOR_PROVIDER = "Microsoft-Windows-Hyper-V-Hypervisor"
WORKER_LOG = "Microsoft-Windows-Hyper-V-Worker-Admin"
WORKER_PROVIDER = "Microsoft-Windows-Hyper-V-Worker"
VMMS_LOG = "Microsoft-Windows-Hyper-V-VMMS-Admin"
VMMS_PROVIDER = "Microsoft-Windows-Hyper-V-VMMS"

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
