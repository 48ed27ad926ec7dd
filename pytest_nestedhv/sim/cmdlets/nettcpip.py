"""New-NetIPAddress and Test-Connection: static addresses inside guests, and pings between them.

A ping gets an answer when both machines are guests of the same node, running and booted, with
their first adapters on the same virtual switch there and the addresses in one subnet (or when
the address is the sender's own). That is what two L2s on an internal switch inside an L1 need.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from ..model.state import IPAddress, Node, interface_alias
from ..powershell.cmdlet import Call, Impl
from ..powershell.errors import PSError
from ._common import changed, now
from ._reference import plain_object
from .system import cim_instance, cim_not_found

NETIP_NS = "ROOT/StandardCimv2"
NETIP_CHAIN = ["MSFT_NetIPAddress", "CIM_IPProtocolEndpoint", "CIM_ProtocolEndpoint", "CIM_ServiceAccessPoint",
               "CIM_EnabledLogicalElement", "CIM_LogicalElement", "CIM_ManagedSystemElement", "CIM_ManagedElement"]
DEFAULT_PREFIX = {4: 24, 6: 64}  # assumption: what an address without -PrefixLength gets, by IP version
ADDRESS_FAMILY = {4: 2, 6: 23}  # MSFT_NetIPAddress AddressFamily: IPv4 2, IPv6 23
STORES = {"ActiveStore": 1, "PersistentStore": 0}  # its Store, as the PolicyStore names it
PING_COMMAND = "Microsoft.PowerShell.Commands.TestConnectionCommand"
# Windows PowerShell 5.1's text for a computer that does not answer (PingException)
PING_FAILED = "Testing connection to computer '{0}' failed: Error due to lack of resources"


def _aliases(call: Call) -> list[str]:
    located = call.ctx.world.locate(call.ctx.node)
    count = len(located[1].adapters) if located else 1
    return [interface_alias(i) for i in range(count)]


def _address_out(node: Node, a: IPAddress, index: int, store: str) -> Any:
    return cim_instance(NETIP_NS, NETIP_CHAIN, {
        "IPAddress": a.address, "InterfaceIndex": index, "InterfaceAlias": a.interface_alias,
        "AddressFamily": ADDRESS_FAMILY[ipaddress.ip_address(a.address).version], "Type": 1, "PrefixLength": a.prefix_length, "PrefixOrigin": 1, "SuffixOrigin": 1,
        "AddressState": 1 if store == "ActiveStore" else 4,  # Tentative at first in the active store
        "ValidLifetime": None, "PreferredLifetime": None, "SkipAsSource": False, "PolicyStore": store,
        "Store": STORES[store],
    }, to_string=f"MSFT_NetIPAddress (Name = \"{a.address}\", CreationClassName = \"\", "
                 f"SystemCreationClassName = \"\", SystemName = \"\")")


def new_net_ip_address(call: Call) -> Iterator[Any]:
    node, p = call.ctx.node, call.params
    aliases = _aliases(call)
    if "InterfaceIndex" in p:
        index = int(p["InterfaceIndex"])
        if not 4 <= index < 4 + len(aliases):
            raise cim_not_found("MSFT_NetIPInterface", "InterfaceIndex", index, "New-NetIPAddress")
        alias = aliases[index - 4]
    else:
        matches = [a for a in aliases if a.lower() == str(p["InterfaceAlias"]).lower()]
        if not matches:
            raise cim_not_found("MSFT_NetIPInterface", "InterfaceAlias", p["InterfaceAlias"], "New-NetIPAddress")
        alias = matches[0]
    try:
        version = ipaddress.ip_address(str(p["IPAddress"])).version
    except ValueError:
        raise PSError("Invalid parameter IPAddress", category="InvalidArgument",
                      fqid="Windows System Error 87,New-NetIPAddress", target=p["IPAddress"],
                      exception_type="Microsoft.Management.Infrastructure.CimException") from None
    with call.ctx.world.lock:
        now(call)
        if any(a.address == str(p["IPAddress"]) for a in node.addresses):
            raise PSError("The object already exists.", category="ResourceExists",
                          fqid="Windows System Error 5010,New-NetIPAddress", target=p["IPAddress"],
                          exception_type="Microsoft.Management.Infrastructure.CimException")
        address = IPAddress(alias, str(p["IPAddress"]), int(p.get("PrefixLength") or DEFAULT_PREFIX[version]))
        node.addresses.append(address)
        index = 4 + aliases.index(alias)
    changed(call)
    # one instance for the running configuration, one for the persistent store, as Windows writes;
    # -PolicyStore ActiveStore alone sets an address until the next boot
    for store in [p["PolicyStore"]] if p.get("PolicyStore") in STORES else list(STORES):
        yield _address_out(node, address, index, store)


def _same_subnet(a: IPAddress, target: str) -> bool:
    try:
        return ipaddress.ip_address(target) in ipaddress.ip_interface(f"{a.address}/{a.prefix_length}").network
    except ValueError:
        return False


def answers(call: Call, target: str) -> bool:
    """Whether ``target`` answers a ping from this node (see the module's docstring)."""
    world, node = call.ctx.world, call.ctx.node
    if any(a.address == target for a in node.addresses) or target.lower() in ("localhost", "127.0.0.1"):
        return True
    located = world.locate(node)
    if located is None:
        return False  # assumption: the host's own network is not modelled
    parent, me = located
    mine = me.adapters[0].switch_name if me.adapters else None
    if not mine or not any(_same_subnet(a, target) for a in node.addresses):
        return False
    for vm in parent.vms:
        if vm is me or vm.state != "Running" or vm.guest is None or not vm.guest.booted or not vm.adapters:
            continue
        theirs = vm.adapters[0].switch_name
        if theirs and theirs.lower() == mine.lower() and any(a.address == target for a in vm.guest.addresses):
            return True
    return False


def _ping_status(node: Node, target: str, buffer_size: int) -> Any:
    return plain_object(["System.Management.ManagementObject#root\\cimv2\\Win32_PingStatus",
                         "System.Management.ManagementObject", "System.Management.ManagementBaseObject",
                         "System.ComponentModel.Component", "System.MarshalByRefObject"], {
        "__CLASS": "Win32_PingStatus", "__SERVER": node.os.computer_name, "Address": target,
        "BufferSize": buffer_size, "NoFragmentation": False, "PrimaryAddressResolutionStatus": 0,
        "ProtocolAddress": target, "ProtocolAddressResolved": "", "ReplyInconsistency": False,
        "ReplySize": buffer_size, "ResolveAddressNames": False, "ResponseTime": 0, "ResponseTimeToLive": 128,
        "StatusCode": 0, "Timeout": 4000, "TimeToLive": 80, "PSComputerName": node.os.computer_name,
    }, to_string="\\\\" + node.os.computer_name + "\\root\\cimv2:Win32_PingStatus")


def test_connection(call: Call) -> Iterator[Any]:
    p = call.params
    targets = [str(t) for t in (p["ComputerName"] if isinstance(p["ComputerName"], list) else [p["ComputerName"]])]
    count = int(p.get("Count") or 4)
    outs: list[Any] = []
    with call.ctx.world.lock:
        now(call)
        reached = {t: answers(call, t) for t in targets}
        node = call.ctx.node
    if p.get("Quiet"):
        yield from [reached[t] for t in targets]
        return
    for target in targets:
        if reached[target]:
            outs += [_ping_status(node, target, int(p.get("BufferSize") or 32)) for _ in range(count)]
        else:
            call.write_error(PSError(PING_FAILED.format(target), category="ResourceUnavailable",
                                     fqid=f"TestConnectionException,{PING_COMMAND}", target=target,
                                     exception_type="System.Net.NetworkInformation.PingException",
                                     reason="PingException"))
    yield from outs


CMDLETS: dict[str, Impl] = {"New-NetIPAddress": new_net_ip_address, "Test-Connection": test_connection}
