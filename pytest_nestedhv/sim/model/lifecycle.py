"""The VM state machine: start, stop, save, crash, guest boot; transitions are lazy.

Every function takes the world's lock as held by the caller and ``now`` as modelled time.
Timed transitions (a guest finishing its boot, an L2 crashing) are stored as due times on
the VM and applied by ``refresh`` whenever somebody looks, so nothing needs a timer thread.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

from ..powershell.errors import PSError
from . import events, outage, rules
from .state import VM, Node, OSFacts

if TYPE_CHECKING:
    from .world import World

HYPERV_ROLE = "Hyper-V"


def refresh(world: World, node: Node, now: dt.datetime) -> None:
    """Apply every transition due by ``now`` on ``node`` and, recursively, in its guests."""
    for vm in list(node.vms):
        if vm.crash_due is not None and vm.crash_due <= now:
            when = vm.crash_due
            with_os = vm.guest is not None
            events.vm_crashed(node, vm, when, with_os=with_os)
            phase = "while its guest operating system was booting" if with_os else "at power-on, in firmware"
            turn_off(world, node, vm, when, reason=f"The virtual machine '{vm.name}' crashed {phase} "
                                                    "and was turned off.")
        if vm.boot_due is not None and vm.boot_due <= now:
            complete_boot(world, node, vm, vm.boot_due)
        if vm.guest is not None:
            refresh(world, vm.guest, now)


def next_due(node: Node) -> dt.datetime | None:
    """The earliest pending transition on ``node`` or below it."""
    dues: list[dt.datetime] = []
    for vm in node.vms:
        dues += [d for d in (vm.boot_due, vm.crash_due) if d is not None]
        if vm.guest is not None and (d := next_due(vm.guest)) is not None:
            dues.append(d)
    return min(dues, default=None)


def has_os(node: Node, vm: VM) -> bool:
    """Whether the VM's first disk is, or differences from, a base image with an OS."""
    if not vm.disks:
        return False
    seen: set[str] = set()
    current = node.file(vm.disks[0].path)
    while current is not None and current.path.lower() not in seen:
        if current.base_image:
            return True
        seen.add(current.path.lower())
        current = node.file(current.parent) if current.parent else None
    return False


def make_guest(world: World, node: Node, vm: VM) -> Node:
    image = world.guest_image
    digest = hashlib.sha1(vm.id.bytes).hexdigest().upper()
    facts = OSFacts(
        computer_name=f"WIN-{digest[:11]}",
        build=image.build, ubr=image.ubr, edition=image.edition, installation_type=image.installation_type,
        product_name=image.product_name or rules.product_name(image.build, image.installation_type, image.edition),
        cpu_vendor=node.os.cpu_vendor, cpu_model=node.os.cpu_model,
        memory_bytes=vm.memory_startup, logical_processors=vm.processor_count,
    )
    guest = Node(os=facts, depth=node.depth + 1, booted=False, boot_count=0, hypervisor_running=False)
    from .state import DiskFile  # local: keeps the import list above about behaviour

    guest.files = [DiskFile(path, 20 * 1024**3, base_image=True) for path in image.base_images]
    return guest


def start(world: World, node: Node, vm: VM, now: dt.datetime, command: str = "StartVM") -> None:
    """Off or Saved -> Running; raises PSError (non-terminating) with the real texts on refusal."""
    if vm.state == "Running":
        return
    outage.maybe_restart(world, "l1-booted" if node.depth == 0 else "l2-booted", now)
    if not node.hypervisor_running:
        fail_start(node, vm, now, f"Failed to start the virtual machine '{vm.name}' because one of the Hyper-V "
                                  "components is not running.", command)
    refusal = rules.start_refusal(node, vm)
    if refusal is not None:
        fail_start(node, vm, now, refusal, command)
    if node.depth >= 1 and world.nested.boot == "host-bugcheck":
        raise outage.crash(world, now, "bugcheck")  # the L2's start takes the physical host down with it
    resumed = vm.state == "Saved"
    vm.state, vm.state_since, vm.started_at = "Running", now, now
    vm.last_off_reason = ""
    events.vm_started(node, vm, now)
    if resumed and vm.guest is not None and vm.guest.booted:
        return  # the saved memory holds the running guest
    if has_os(node, vm):
        if vm.guest is None:
            vm.guest = make_guest(world, node, vm)
        vm.guest.os.memory_bytes, vm.guest.os.logical_processors = vm.memory_startup, vm.processor_count
        schedule_boot(world, node, vm, now)
    elif node.depth >= 1:
        schedule_firmware(world, vm, now)


def schedule_firmware(world: World, vm: VM, now: dt.datetime) -> None:
    """An L2 without an OS sits in firmware. A nested-hypervisor crash happens at power-on, before
    any OS, so it crashes all the same; a hang looks like firmware waiting (Running, no heartbeat)."""
    vm.boot_due = vm.crash_due = None
    vm.hangs = world.nested.boot == "hang"
    if world.nested.boot == "crash":
        vm.crash_due = now + dt.timedelta(seconds=world.nested.crash_after_seconds)


def schedule_boot(world: World, node: Node, vm: VM, now: dt.datetime) -> None:
    """The guest begins booting: it answers after boot_seconds, or crashes/hangs as an L2 may."""
    assert vm.guest is not None
    vm.guest.booted = False
    vm.boot_due = vm.crash_due = None
    vm.hangs = False
    behaviour = world.nested.boot if node.depth >= 1 else "ok"
    if behaviour == "crash":
        vm.crash_due = now + dt.timedelta(seconds=world.nested.crash_after_seconds)
    elif behaviour == "hang":
        vm.hangs = True
    else:
        vm.boot_due = now + dt.timedelta(seconds=world.guest_image.boot_seconds)


def fail_start(node: Node, vm: VM, now: dt.datetime, message: str, command: str) -> None:
    events.vm_start_failed(node, vm, now, message)
    raise PSError(message, category="NotSpecified", fqid=f"OperationFailed,Microsoft.HyperV.PowerShell.Commands.{command}",
                  target=vm.name, exception_type="Microsoft.HyperV.PowerShell.VirtualizationException",
                  reason="VirtualizationException")


def complete_boot(world: World, node: Node, vm: VM, when: dt.datetime) -> None:
    """The guest OS is up: pending features take effect and its hypervisor launches or fails."""
    guest = vm.guest
    vm.boot_due = None
    if guest is None:
        return
    guest.booted, guest.last_boot = True, when
    guest.boot_count += 1
    guest.features += [f for f in guest.pending_features if not guest.has_feature(f)]
    guest.pending_features = []
    guest.hypervisor_running = False
    if guest.has_feature(HYPERV_ROLE) and guest.hypervisor_launch:
        if rules.offers_virtualization(node, vm, ignore_expose=world.faults.ignore_expose_extensions):
            guest.hypervisor_running = True
            events.hypervisor_started(guest, when)
        else:
            events.hypervisor_launch_failed(guest, when)


def turn_off(world: World, node: Node, vm: VM, when: dt.datetime, reason: str = "") -> None:
    """Power off: the guest goes down with everything running inside it."""
    vm.state, vm.state_since, vm.started_at = "Off", when, None
    vm.boot_due = vm.crash_due = None
    vm.hangs = False
    vm.last_off_reason = reason
    events.vm_turned_off(node, vm, when)
    if vm.guest is not None:
        shut_down_guest(world, vm.guest, when)


def shut_down_guest(world: World, guest: Node, when: dt.datetime) -> None:
    guest.booted = False
    guest.hypervisor_running = False
    for inner in guest.vms:
        if inner.state != "Off":
            turn_off(world, guest, inner, when)


def save(world: World, node: Node, vm: VM, now: dt.datetime) -> None:
    """Running -> Saved; the guest's memory (and a boot in progress) is frozen."""
    if rules.is_preview_era(node.os.build) and vm.expose_virtualization_extensions:
        # docs/requirements.md#hostbuild: save/restore of an L1 fails on preview builds. assumption: the text.
        raise PSError(f"'{vm.name}' could not be saved. Saving a virtual machine with nested virtualization "
                      "enabled is not supported.", category="InvalidOperation",
                      fqid="OperationFailed,Microsoft.HyperV.PowerShell.Commands.StopVM", target=vm.name,
                      exception_type="Microsoft.HyperV.PowerShell.VirtualizationException")
    vm.state, vm.state_since, vm.started_at = "Saved", now, None
    vm.boot_due = vm.crash_due = None  # assumption: a half-booted guest (or firmware) restarts its boot on resume


def remove_saved_state(world: World, node: Node, vm: VM, now: dt.datetime) -> None:
    vm.state, vm.state_since = "Off", now
    if vm.guest is not None:
        shut_down_guest(world, vm.guest, now)


def reboot_guest(world: World, node: Node, vm: VM, now: dt.datetime) -> None:
    """Restart-Computer inside the guest: it goes down at once and boots again."""
    assert vm.guest is not None
    outage.maybe_restart(world, "guest-rebooted", now)
    shut_down_guest(world, vm.guest, now)
    schedule_boot(world, node, vm, now)


def heartbeat(vm: VM) -> str | None:
    """VMHeartbeatStatus name: None unless running; NoContact until the guest OS answers."""
    if vm.state != "Running":
        return None
    if vm.guest is not None and vm.guest.booted:
        return "OkApplicationsHealthy"
    return "NoContact"


def uptime(vm: VM, now: dt.datetime) -> dt.timedelta:
    if vm.state != "Running" or vm.started_at is None:
        return dt.timedelta(0)
    return dt.timedelta(seconds=int((now - vm.started_at).total_seconds()))
