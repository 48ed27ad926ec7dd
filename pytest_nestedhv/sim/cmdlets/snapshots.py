"""Checkpoints: Get-VMSnapshot, Checkpoint-VM, Remove-VMSnapshot."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from ..model import rules
from ..model.state import VM, Snapshot, wildcard_match
from ..powershell.cmdlet import Call, Impl
from ..powershell.errors import PSError
from ._common import HV_COMMANDS, VIRT_EXC, as_list, changed, model_of, now, require_hyperv, target_vms
from ._hvobjects import snapshot_out


def get_vm_snapshot(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    node, p = call.ctx.node, call.params
    with call.ctx.world.lock:
        now(call)
        if call.has("Id"):
            pairs = [(vm, s) for vm in node.vms for s in vm.snapshots if s.id == p["Id"]]
        else:
            vms = list(target_vms(call, name_param="VMName"))
            pairs = [(vm, s) for vm in vms for s in vm.snapshots
                     if not p.get("Name") or wildcard_match(p["Name"], s.name)]
        outs = [snapshot_out(node, vm, s) for vm, s in pairs]
    yield from outs


def checkpoint_vm(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    node, p = call.ctx.node, call.params
    outs = []
    with call.ctx.world.lock:
        for vm in list(target_vms(call)):
            t = now(call)
            refusal = rules.checkpoint_refusal(node, vm, regression=call.ctx.world.faults.refuse_nested_checkpoint)
            if refusal is not None:
                call.write_error(PSError(refusal, category="InvalidOperation",
                                         fqid=f"OperationFailed,{HV_COMMANDS}CheckpointVM", target=vm.name,
                                         exception_type=VIRT_EXC))
                continue
            name = p.get("SnapshotName") or f"{vm.name} - ({t:%m/%d/%Y - %I:%M:%S %p})"
            # production checkpoints capture a shut-down image of the guest, so they show Off
            state = vm.state if vm.checkpoint_type == "Standard" else "Off"
            snap = Snapshot(uuid.uuid4(), name, t, vm.parent_snapshot_id, state, vm.processor_count,
                            vm.memory_startup, vm.dynamic_memory, vm.notes)
            vm.snapshots.append(snap)
            vm.parent_snapshot_id = snap.id
            changed(call)
            if p.get("Passthru"):
                outs.append(snapshot_out(node, vm, snap))
    yield from outs


def _descendants(vm: VM, snap: Snapshot) -> list[Snapshot]:
    children = [s for s in vm.snapshots if s.parent_id == snap.id]
    return children + [d for c in children for d in _descendants(vm, c)]


def remove_vm_snapshot(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    p = call.params
    with call.ctx.world.lock:
        now(call)
        if call.has("VMSnapshot"):
            objs = p["VMSnapshot"]
            pairs = [model_of(o) for o in as_list(objs)]
            pairs = [pr for pr in pairs if isinstance(pr, tuple)]
        else:
            names = p.get("Name")
            pairs = [(vm, s) for vm in target_vms(call, name_param="VMName") for s in vm.snapshots
                     if not names or any(wildcard_match(n, s.name) for n in names)]
            if names and not pairs:
                call.write_error(PSError("Unable to find a snapshot matching the given criteria.",
                                         category="InvalidArgument",
                                         fqid=f"InvalidParameter,{HV_COMMANDS}RemoveVMSnapshot",
                                         exception_type=VIRT_EXC))
        for vm, snap in pairs:
            if snap not in vm.snapshots:
                continue
            doomed = [snap] + (_descendants(vm, snap) if p.get("IncludeAllChildSnapshots") else [])
            for s in doomed:
                for child in vm.snapshots:
                    if child.parent_id == s.id:
                        child.parent_id = s.parent_id  # children are merged onto the parent
                if vm.parent_snapshot_id == s.id:
                    vm.parent_snapshot_id = s.parent_id
                vm.snapshots.remove(s)
            changed(call)
    return iter(())


CMDLETS: dict[str, Impl] = {
    "Get-VMSnapshot": get_vm_snapshot,
    "Checkpoint-VM": checkpoint_vm,
    "Remove-VMSnapshot": remove_vm_snapshot,
}
