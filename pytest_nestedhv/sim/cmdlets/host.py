"""The Hyper-V host itself: Get-VMHost, supported versions, switches, NAT."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from ..model import rules
from ..model.state import Nat, Switch
from ..powershell.cmdlet import Call, Impl
from ._common import changed, model_of, now, require_hyperv, select_named
from ._hvobjects import host_out, supported_version_out, switch_out
from .system import cim_instance, cim_not_found
from .vm import switch_not_found


def get_vm_host(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    with call.ctx.world.lock:
        now(call)
        out = host_out(call.ctx.node)
    yield out


def get_vm_host_supported_version(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    node = call.ctx.node
    versions = rules.supported_versions(node.os.build)
    default = versions[-1]
    if call.params.get("Default"):
        versions = [default]
    yield from [supported_version_out(node, v, v == default) for v in versions]


def get_vm_switch(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    node, p = call.ctx.node, call.params
    with call.ctx.world.lock:
        switches = list(node.switches)
        if p.get("Name"):
            switches = select_named(call, [p["Name"]], switches, lambda s: s.name,
                                    lambda name: switch_not_found(call, name))
        if p.get("Id"):
            switches = [s for s in switches if s.id in p["Id"]]
        if p.get("SwitchType"):
            switches = [s for s in switches if s.switch_type in p["SwitchType"]]
        outs = [switch_out(node, s) for s in switches]
    yield from outs


def new_vm_switch(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    node, p = call.ctx.node, call.params
    switch_type = p.get("SwitchType") or "External"
    with call.ctx.world.lock:
        switch = Switch(uuid.uuid4(), p["Name"], switch_type, notes=p.get("Notes") or "",
                        allow_management_os=switch_type != "Private" and p.get("AllowManagementOS", True))
        node.switches.append(switch)
        out = switch_out(node, switch)
    changed(call)
    yield out


def remove_vm_switch(call: Call) -> Iterator[Any]:
    """Remove-VMSwitch -Name, or -VMSwitch (Get-VMSwitch | Remove-VMSwitch): the adapters connected
    to it are left disconnected."""
    require_hyperv(call)
    node, p = call.ctx.node, call.params
    with call.ctx.world.lock:
        if call.has("VMSwitch"):
            given = p["VMSwitch"] if isinstance(p["VMSwitch"], list) else [p["VMSwitch"]]
            found = [model_of(s) for s in given]
            doomed = [s for s in found if any(s is known for known in node.switches)]
        else:
            names = p["Name"] if isinstance(p.get("Name"), list) else [p.get("Name")]
            doomed = select_named(call, names, node.switches, lambda s: s.name,
                                  lambda name: switch_not_found(call, name))
        doomed = list({id(s): s for s in doomed}.values())  # 'int*','int1' name one switch twice
        for switch in doomed:
            for vm in node.vms:
                for adapter in vm.adapters:
                    if adapter.switch_name and adapter.switch_name.lower() == switch.name.lower():
                        adapter.switch_name = None
            node.switches.remove(switch)
    changed(call)
    return iter(())


def _nat_out(nat: Nat) -> Any:
    return cim_instance("ROOT/StandardCimv2", ["MSFT_NetNat"], {
        "Caption": None, "Description": None, "ElementName": None, "InstanceID": f"{nat.name};0",
        "Active": True, "ExternalIPInterfaceAddressPrefix": nat.external_prefix or None,
        "IcmpQueryTimeout": 30, "InternalIPInterfaceAddressPrefix": nat.internal_prefix or None,
        "InternalRoutingDomainId": "{00000000-0000-0000-0000-000000000000}", "Name": nat.name, "Store": 0,
        "TcpEstablishedConnectionTimeout": 1800, "TcpFilteringBehavior": 0, "TcpTransientConnectionTimeout": 120,
        "UdpFilteringBehavior": 0, "UdpIdleSessionTimeout": 120, "UdpInboundRefresh": 0,
    }, model=nat, to_string=f"MSFT_NetNat (InstanceID = \"{nat.name};0\")")


def new_net_nat(call: Call) -> Iterator[Any]:
    node, p = call.ctx.node, call.params
    with call.ctx.world.lock:
        nat = Nat(p["Name"], p.get("InternalIPInterfaceAddressPrefix") or "",
                  p.get("ExternalIPInterfaceAddressPrefix") or "")
        node.nats.append(nat)
        out = _nat_out(nat)
    changed(call)
    yield out


def get_net_nat(call: Call) -> Iterator[Any]:
    node = call.ctx.node
    names = call.params.get("Name")
    with call.ctx.world.lock:
        nats = list(node.nats)
    if names:
        nats = select_named(call, names, nats, lambda n: n.name,
                            lambda name: cim_not_found("MSFT_NetNat", "Name", name, "Get-NetNat"))
    yield from [_nat_out(n) for n in nats]


CMDLETS: dict[str, Impl] = {
    "Get-VMHost": get_vm_host,
    "Get-VMHostSupportedVersion": get_vm_host_supported_version,
    "Get-VMSwitch": get_vm_switch,
    "New-VMSwitch": new_vm_switch,
    "Remove-VMSwitch": remove_vm_switch,
    "New-NetNat": new_net_nat,
    "Get-NetNat": get_net_nat,
}
