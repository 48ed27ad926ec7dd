"""Get-VM, New-VM, Start-VM, Stop-VM, Remove-VM, Set-VM, Wait-VM, Remove-VMSavedState, Update-VMVersion."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import lifecycle, outage, rules
from ..model.state import VM, DiskFile, HardDisk, Node
from ..model.world import new_vm
from ..powershell.cmdlet import Call, Impl
from ..powershell.errors import PSError
from ._common import (HV_COMMANDS, VIRT_EXC, changed, command_class, invalid_state, now, require_hyperv,
                      target_vms)
from ._hvobjects import vm_out

GB = 1024**3


def get_vm(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node = call.ctx.world, call.ctx.node
    with world.lock:
        t = now(call)
        if call.has("Id"):
            vm = node.vm_by_id(call.params["Id"])
            if vm is None:
                call.write_error(PSError(f'Hyper-V was unable to find a virtual machine with id "{call.params["Id"]}".',
                                         category="InvalidArgument", fqid=f"InvalidParameter,{HV_COMMANDS}GetVM",
                                         target=str(call.params["Id"]), exception_type=VIRT_EXC))
                return
            yield vm_out(node, vm, t)
            return
        outs = [vm_out(node, vm, t) for vm in target_vms(call)]
    yield from outs


def new_vm_cmdlet(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node = call.ctx.world, call.ctx.node
    p = call.params
    with world.lock:
        t = now(call)
        if node.depth == 0:
            outage.maybe_restart(world, "l1-created", t)
        version = str(p["Version"]) if p.get("Version") is not None else rules.default_version(node.os.build)
        if version not in rules.supported_versions(node.os.build):
            # assumption: the text for an unsupported -Version
            raise PSError(f"The specified version '{version}' is not supported on this host. Use "
                          "Get-VMHostSupportedVersion to list the supported versions.", category="InvalidArgument",
                          fqid=f"InvalidParameter,{HV_COMMANDS}NewVM", target=version, exception_type=VIRT_EXC,
                          terminating=True)
        switch = p.get("SwitchName")
        if switch is not None and not any(s.name.lower() == switch.lower() for s in node.switches):
            raise switch_not_found(call, switch)
        disk_path = p.get("VHDPath") or p.get("NewVHDPath")
        if p.get("VHDPath") and node.file(p["VHDPath"]) is None:
            raise PSError(f"Failed to add device 'Virtual Hard Disk'.\nThe system cannot find the file "
                          f"'{p['VHDPath']}'. (0x80070002).", category="ObjectNotFound",
                          fqid=f"ObjectNotFound,{HV_COMMANDS}NewVM", target=p["VHDPath"], exception_type=VIRT_EXC,
                          terminating=True)
        if p.get("NewVHDPath"):
            if node.file(p["NewVHDPath"]) is not None:
                raise PSError(f"Failed to create the virtual hard disk.\nThe system failed to create "
                              f"'{p['NewVHDPath']}': The file exists. (0x80070050).", category="ResourceExists",
                              fqid=f"OperationFailed,{HV_COMMANDS}NewVM", target=p["NewVHDPath"],
                              exception_type=VIRT_EXC, terminating=True)
            node.files.append(DiskFile(p["NewVHDPath"], int(p["NewVHDSizeBytes"]), created=t))
        name = p.get("Name") or "New Virtual Machine"
        generation = int(p.get("Generation") or 1)
        path = f"{p['Path'].rstrip(chr(92))}\\{name}" if p.get("Path") else None
        vm = new_vm(node, name, t, version=version, generation=generation,
                    memory_startup=int(p.get("MemoryStartupBytes") or GB), switch_name=switch, path=path)
        if disk_path:
            vm.disks.append(HardDisk(disk_path, "IDE" if generation == 1 else "SCSI"))
        out = vm_out(node, vm, t)
    changed(call)
    yield out


def switch_not_found(call: Call, name: str) -> PSError:
    # assumption: mirrors the VM wording
    return PSError(f'Hyper-V was unable to find a virtual switch with name "{name}".', category="InvalidArgument",
                   fqid=f"InvalidParameter,{HV_COMMANDS}{command_class(call)}", target=name, exception_type=VIRT_EXC)


def start_vm(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node = call.ctx.world, call.ctx.node
    outs = []
    with world.lock:
        for vm in list(target_vms(call)):
            t = now(call)
            if vm.state == "Running":
                call.write_warning(f"The virtual machine '{vm.name}' is already in the specified state.")
                continue
            try:
                lifecycle.start(world, node, vm, t)
            except PSError as error:
                call.write_error(error)
                continue
            finally:
                changed(call)
            if call.params.get("Passthru"):
                outs.append(vm_out(node, vm, t))
    yield from outs


def _passthru(call: Call, node: Node, vm: VM) -> list[Any]:
    """-Passthru: the VM as it is now."""
    if not call.params.get("Passthru"):
        return []
    with call.ctx.world.lock:
        return [vm_out(node, vm, now(call))]


def stop_vm(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node = call.ctx.world, call.ctx.node
    outs = []
    for vm in list(target_vms(call)):
        with world.lock:
            t = now(call)
            if vm.state == "Off":
                pass
            elif call.params.get("Save"):
                if vm.state == "Running":
                    try:
                        lifecycle.save(world, node, vm, t)
                    except PSError as error:
                        call.write_error(error)
                        continue
            elif call.params.get("TurnOff") or vm.guest is None or not vm.guest.booted:
                # assumption: a VM without a running guest cannot shut down cleanly and is turned off
                lifecycle.turn_off(world, node, vm, t)
            else:
                vm.state, vm.state_since = "Stopping", t
                changed(call)
        if vm.state == "Stopping":
            # the guest shuts down through the Shutdown integration service; assumption: 10 modelled seconds
            world.sleep(10.0, call.ctx.cancel)
            with world.lock:
                lifecycle.turn_off(world, node, vm, now(call))
        changed(call)
        outs.extend(_passthru(call, node, vm))
    yield from outs


def remove_vm(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node = call.ctx.world, call.ctx.node
    outs = []
    with world.lock:
        for vm in list(target_vms(call)):
            t = now(call)
            if vm.state != "Off":
                lifecycle.turn_off(world, node, vm, t)
            if call.params.get("Passthru"):
                outs.append(vm_out(node, vm, t))
            node.vms.remove(vm)  # its disks stay on the file system, as on a real host
            changed(call)
    yield from outs


def set_vm(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node = call.ctx.world, call.ctx.node
    p = call.params
    outs = []
    with world.lock:
        for vm in list(target_vms(call)):
            t = now(call)
            offline_only = [k for k in ("ProcessorCount", "DynamicMemory", "StaticMemory") if p.get(k) is not None
                            and p.get(k) is not False]
            if offline_only and vm.state != "Off":
                call.write_error(invalid_state(call, vm))
                continue
            if "MemoryStartupBytes" in p:
                error = memory_change_error(call, vm, "Memory")
                if error is not None:
                    call.write_error(error)
                    continue
                vm.memory_startup = int(p["MemoryStartupBytes"])
            if "ProcessorCount" in p:
                vm.processor_count = int(p["ProcessorCount"])
            if p.get("DynamicMemory"):
                vm.dynamic_memory = True
            if p.get("StaticMemory"):
                vm.dynamic_memory = False
            if "MemoryMinimumBytes" in p:
                vm.memory_minimum = int(p["MemoryMinimumBytes"])
            if "MemoryMaximumBytes" in p:
                vm.memory_maximum = int(p["MemoryMaximumBytes"])
            if "Notes" in p:
                vm.notes = p["Notes"] or ""
            if p.get("NewVMName"):
                vm.name = p["NewVMName"]
            if "AutomaticCheckpointsEnabled" in p:
                vm.automatic_checkpoints = bool(p["AutomaticCheckpointsEnabled"])
            if "CheckpointType" in p:
                vm.checkpoint_type = p["CheckpointType"]
            if "AutomaticStartAction" in p:
                vm.automatic_start_action = str(p["AutomaticStartAction"])
            changed(call)
            if p.get("Passthru"):
                outs.append(vm_out(node, vm, t))
    yield from outs


def memory_change_error(call: Call, vm: VM, device: str) -> PSError | None:
    """Memory of a running VM: resizable, except an L1 on preview builds or one whose guest runs
    Hyper-V (docs/requirements.md#vmdynamic-memory: its memory is fixed then)."""
    if vm.state == "Off":
        return None
    if vm.state != "Running":
        return invalid_state(call, vm)
    node = call.ctx.node
    if (rules.is_preview_era(node.os.build) and vm.expose_virtualization_extensions) or (
            vm.guest is not None and vm.guest.hypervisor_running):
        # assumption: the detail line; the first line follows the 'Failed to modify device' pattern of §3
        return PSError(f"Failed to modify device '{device}'.\nThe memory of a virtual machine running a hypervisor "
                       "cannot be resized while it is running.", category="InvalidOperation",
                       fqid=f"OperationFailed,{HV_COMMANDS}{command_class(call)}", target=vm.name,
                       exception_type=VIRT_EXC)
    return None


WAIT_TIMEOUT_TEXT = ("This command stopped operation because the specified condition is not satisfied in the "
                     "specified time-out.")


def wait_vm(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node = call.ctx.world, call.ctx.node
    kind = call.params.get("For") or "Heartbeat"
    timeout_s = call.params.get("Timeout", -1)
    timeout = None if timeout_s is None or int(timeout_s) < 0 else float(timeout_s)
    outs = []
    with world.lock:
        vms = list(target_vms(call))
    for vm in vms:
        with world.lock:
            boots_before = vm.guest.boot_count if vm.guest is not None else 0

        def done(vm: VM = vm, boots_before: int = boots_before) -> bool:
            up = vm.state == "Running" and vm.guest is not None and vm.guest.booted
            if kind == "Reboot":
                return up and vm.guest is not None and vm.guest.boot_count > boots_before
            if kind == "IPAddress":
                return up and any(rules.has_route(world, node, a) for a in vm.adapters)
            return up  # Heartbeat, MemoryOperations

        # Like the real Wait-VM, a VM that turned off is not noticed: the wait runs out its timeout
        # (the plugin waits in slices and reads the state between them).
        ok = world.wait_until(done, timeout=timeout, cancel=call.ctx.cancel)
        if not ok:
            # the module throws CreateOperationFailedException: id OperationFailed, category InvalidOperation
            call.write_error(PSError(WAIT_TIMEOUT_TEXT, category="InvalidOperation",
                                     fqid=f"OperationFailed,{HV_COMMANDS}WaitVM", target=vm.name,
                                     exception_type=VIRT_EXC))
            continue
        outs.extend(_passthru(call, node, vm))
    yield from outs


def remove_vm_saved_state(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node = call.ctx.world, call.ctx.node
    with world.lock:
        for vm in list(target_vms(call, name_param="VMName")):
            if vm.state != "Saved":
                call.write_error(invalid_state(call, vm))
                continue
            lifecycle.remove_saved_state(world, node, vm, now(call))
            changed(call)
    return iter(())


def update_vm_version(call: Call) -> Iterator[Any]:
    """Update-VMVersion: the VM's configuration version becomes the host's default (its highest).

    Windows upgrades only a VM that is Off (a Saved or running VM gets the invalid-state error);
    a VM already at the host's version is left as it is. assumption: without -Force Windows asks
    for confirmation; a remote session cannot answer, so the plugin always passes -Force and the
    emulator does not model the prompt."""
    require_hyperv(call)
    world, node = call.ctx.world, call.ctx.node
    outs = []
    with world.lock:
        target = rules.default_version(node.os.build)
        for vm in list(target_vms(call)):
            if vm.state != "Off":
                call.write_error(invalid_state(call, vm))
                continue
            if rules.version_tuple(vm.version) < rules.version_tuple(target):
                vm.version = target
                changed(call)
            outs.extend(_passthru(call, node, vm))
    yield from outs


CMDLETS: dict[str, Impl] = {
    "Get-VM": get_vm,
    "New-VM": new_vm_cmdlet,
    "Start-VM": start_vm,
    "Stop-VM": stop_vm,
    "Remove-VM": remove_vm,
    "Set-VM": set_vm,
    "Wait-VM": wait_vm,
    "Remove-VMSavedState": remove_vm_saved_state,
    "Update-VMVersion": update_vm_version,
}
