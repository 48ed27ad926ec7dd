"""The Hyper-V host itself: Get-VMHost, supported versions, switches, NAT."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from ..model import rules
from ..model.state import Nat, Switch, has_wildcard, wildcard_match
from ..powershell.cmdlet import Call, Impl
from ..powershell.errors import PSError
from ._common import changed, now, require_hyperv
from ._hvobjects import host_out, supported_version_out, switch_out
from ._reference import plain_object
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
            switches = [s for s in switches if wildcard_match(p["Name"], s.name)]
            if not switches and not has_wildcard(p["Name"]):
                call.write_error(switch_not_found(call, p["Name"]))
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


def _nat_out(nat: Nat) -> Any:
    cls = "Microsoft.Management.Infrastructure.CimInstance"
    return plain_object([f"{cls}#ROOT/StandardCimv2/MSFT_NetNat", f"{cls}#MSFT_NetNat", cls], {
        "Caption": None, "Description": None, "ElementName": None, "InstanceID": f"{nat.name};0",
        "Active": True, "ExternalIPInterfaceAddressPrefix": nat.external_prefix or None,
        "IcmpQueryTimeout": 30, "InternalIPInterfaceAddressPrefix": nat.internal_prefix or None,
        "InternalRoutingDomainId": "{00000000-0000-0000-0000-000000000000}", "Name": nat.name, "Store": 0,
        "TcpEstablishedConnectionTimeout": 1800, "TcpFilteringBehavior": 0, "TcpTransientConnectionTimeout": 120,
        "UdpFilteringBehavior": 0, "UdpIdleSessionTimeout": 120, "UdpInboundRefresh": 0,
        "PSComputerName": None,
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
    if not names:
        yield from [_nat_out(n) for n in nats]
        return
    for name in names:
        found = [n for n in nats if wildcard_match(name, n.name)]
        if not found and not has_wildcard(name):
            call.write_error(PSError(f"No MSFT_NetNat objects found with property 'Name' equal to '{name}'.  "
                                     "Verify the value of the property and retry.", category="ObjectNotFound",
                                     fqid="CmdletizationQuery_NotFound_Name,Get-NetNat", target=name,
                                     exception_type="Microsoft.PowerShell.Cmdletization.Cim.CimJobException"))
        yield from [_nat_out(n) for n in found]


CMDLETS: dict[str, Impl] = {
    "Get-VMHost": get_vm_host,
    "Get-VMHostSupportedVersion": get_vm_host_supported_version,
    "Get-VMSwitch": get_vm_switch,
    "New-VMSwitch": new_vm_switch,
    "New-NetNat": new_net_nat,
    "Get-NetNat": get_net_nat,
}
