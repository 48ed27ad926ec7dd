"""VM devices: processor, memory, network adapters, integration services, hard disk drives."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..model import rules
from ..model.state import VM, NetAdapter, Node, wildcard_match
from ..powershell.cmdlet import Call, Impl
from ..powershell.errors import PSError
from ._common import (HV_COMMANDS, VIRT_EXC, as_list, changed, invalid_state, model_of, now,
                      require_hyperv, resolve_vm_object, target_vms)
from ._hvobjects import adapter_out, hard_disk_out, integration_services, memory_out, processor_out
from .vm import memory_change_error, switch_not_found


def _vms(call: Call, device_param: str | None = None) -> list[VM]:
    """VMs by -VMName, -VM, or device objects (-VMProcessor / -VMMemory) that point back to them."""
    if device_param and call.has(device_param):
        objs = call.params[device_param]
        found = [resolve_vm_object(call, o) for o in as_list(objs)]
        return [vm for vm in found if vm is not None]
    return list(target_vms(call, name_param="VMName"))


def _device_getter(build: Callable[[Node, VM], Any]) -> Impl:
    """Get-VMProcessor, Get-VMMemory: one object per VM, built by ``build``."""

    def get(call: Call) -> Iterator[Any]:
        require_hyperv(call)
        with call.ctx.world.lock:
            now(call)
            outs = [build(call.ctx.node, vm) for vm in _vms(call)]
        yield from outs

    return get


def set_vm_processor(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node, p = call.ctx.world, call.ctx.node, call.params
    outs = []
    with world.lock:
        now(call)
        for vm in _vms(call, "VMProcessor"):
            count_change = "Count" in p and int(p["Count"]) != vm.processor_count
            toggle = ("ExposeVirtualizationExtensions" in p
                      and bool(p["ExposeVirtualizationExtensions"]) != vm.expose_virtualization_extensions)
            # docs/requirements.md#vmtoggle-while-running: only while Off; a [faults] regression lets the toggle through
            refused_toggle = toggle and not world.faults.accept_toggle_while_running
            if (count_change or refused_toggle) and vm.state != "Off":
                call.write_error(invalid_state(call, vm))
                continue
            if p.get("ExposeVirtualizationExtensions"):
                refusal = rules.expose_refusal(node, vm)
                if refusal is not None:
                    call.write_error(PSError(f"Failed to modify device 'Processor'.\n{refusal}",
                                             category="InvalidOperation",
                                             fqid=f"OperationFailed,{HV_COMMANDS}SetVMProcessor", target=vm.name,
                                             exception_type=VIRT_EXC))
                    continue
            if "ExposeVirtualizationExtensions" in p:
                vm.expose_virtualization_extensions = bool(p["ExposeVirtualizationExtensions"])
            if "Count" in p:
                vm.processor_count = int(p["Count"])
            changed(call)
            if p.get("Passthru"):
                outs.append(processor_out(node, vm))
    yield from outs


def set_vm_memory(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node, p = call.ctx.world, call.ctx.node, call.params
    outs = []
    with world.lock:
        now(call)
        for vm in _vms(call, "VMMemory"):
            if "DynamicMemoryEnabled" in p and bool(p["DynamicMemoryEnabled"]) != vm.dynamic_memory \
                    and vm.state != "Off" and not world.faults.accept_memory_change_while_running:
                call.write_error(invalid_state(call, vm))
                continue
            if "StartupBytes" in p:
                error = memory_change_error(call, vm, "Memory")
                if error is not None:
                    call.write_error(error)
                    continue
                vm.memory_startup = int(p["StartupBytes"])
            if "DynamicMemoryEnabled" in p:
                vm.dynamic_memory = bool(p["DynamicMemoryEnabled"])
            if "MinimumBytes" in p:
                vm.memory_minimum = int(p["MinimumBytes"])
            if "MaximumBytes" in p:
                vm.memory_maximum = int(p["MaximumBytes"])
            changed(call)
            if p.get("Passthru"):
                outs.append(memory_out(node, vm))
    yield from outs


def _adapters(call: Call) -> list[tuple[VM, NetAdapter]]:
    """Adapters by -VMNetworkAdapter objects, else by VM (-VMName/-VM/-All) and -Name."""
    node = call.ctx.node
    if call.has("VMNetworkAdapter"):
        objs = call.params["VMNetworkAdapter"]
        pairs = [model_of(o) for o in as_list(objs)]
        return [pair for pair in pairs if isinstance(pair, tuple) and any(pair[0] is vm for vm in node.vms)]
    if call.params.get("ManagementOS"):
        return []  # assumption: the host's own virtual NICs are not modelled
    vms = list(node.vms) if call.params.get("All") else list(target_vms(call, name_param="VMName"))
    name = call.params.get("Name")
    names = as_list(name) if name else None
    return [(vm, a) for vm in vms for a in vm.adapters if names is None or any(wildcard_match(n, a.name) for n in names)]


def get_vm_network_adapter(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    with call.ctx.world.lock:
        now(call)
        world, node = call.ctx.world, call.ctx.node
        outs = [adapter_out(node, vm, a, rules.has_route(world, node, a)) for vm, a in _adapters(call)]
    yield from outs


def set_vm_network_adapter(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node, p = call.ctx.world, call.ctx.node, call.params
    outs = []
    with world.lock:
        now(call)
        for vm, adapter in _adapters(call):
            if "MacAddressSpoofing" in p:
                adapter.mac_spoofing = p["MacAddressSpoofing"] == "On"
            if p.get("StaticMacAddress"):
                if vm.state != "Off":
                    call.write_error(invalid_state(call, vm))
                    continue
                adapter.mac_address = p["StaticMacAddress"].replace("-", "").replace(":", "").upper()
                adapter.dynamic_mac = False
            if p.get("DynamicMacAddress"):
                adapter.dynamic_mac = True
            changed(call)
            if p.get("Passthru"):
                outs.append(adapter_out(node, vm, adapter, rules.has_route(world, node, adapter)))
    yield from outs


def connect_vm_network_adapter(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    world, node, p = call.ctx.world, call.ctx.node, call.params
    switch_obj = model_of(p.get("VMSwitch"))
    switch_name = switch_obj.name if switch_obj is not None else p.get("SwitchName")
    outs = []
    with world.lock:
        now(call)
        if switch_name is not None and not any(s.name.lower() == switch_name.lower() for s in node.switches):
            call.write_error(switch_not_found(call, switch_name))
            return
        if p.get("UseAutomaticConnection"):
            switch_name = node.switches[0].name if node.switches else None
        for vm, adapter in _adapters(call):
            adapter.switch_name = switch_name
            changed(call)
            if p.get("Passthru"):
                outs.append(adapter_out(node, vm, adapter, rules.has_route(world, node, adapter)))
    yield from outs


def get_vm_integration_service(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    names = call.params.get("Name")
    with call.ctx.world.lock:
        now(call)
        outs = [ic for vm in _vms(call) for ic in integration_services(call.ctx.node, vm)
                if not names or any(wildcard_match(n, ic.get("Name")) for n in names)]
    yield from outs


def get_vm_hard_disk_drive(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    p = call.params
    with call.ctx.world.lock:
        now(call)
        outs = []
        for vm in _vms(call):
            for disk in vm.disks:
                out = hard_disk_out(call.ctx.node, vm, disk)
                if "ControllerType" in p and out.get("ControllerType").name != p["ControllerType"]:
                    continue
                if "ControllerNumber" in p and disk.controller_number != int(p["ControllerNumber"]):
                    continue
                if "ControllerLocation" in p and disk.controller_location != int(p["ControllerLocation"]):
                    continue
                outs.append(out)
    yield from outs



CMDLETS: dict[str, Impl] = {
    "Get-VMProcessor": _device_getter(processor_out),
    "Set-VMProcessor": set_vm_processor,
    "Get-VMMemory": _device_getter(memory_out),
    "Set-VMMemory": set_vm_memory,
    "Get-VMNetworkAdapter": get_vm_network_adapter,
    "Set-VMNetworkAdapter": set_vm_network_adapter,
    "Connect-VMNetworkAdapter": connect_vm_network_adapter,
    "Get-VMIntegrationService": get_vm_integration_service,
    "Get-VMHardDiskDrive": get_vm_hard_disk_drive,
}
