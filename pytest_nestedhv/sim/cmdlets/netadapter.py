"""Get-NetAdapter: the network adapters a machine sees (a guest sees its VM's adapters)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model.state import interface_alias
from ..powershell.cmdlet import Call, Impl
from ._common import select_named
from .system import cim_instance, cim_not_found

NETADAPTER_NS = "ROOT/StandardCimv2"
NETADAPTER_CHAIN = ["MSFT_NetAdapter", "CIM_NetworkPort", "CIM_LogicalPort", "CIM_LogicalDevice",
                    "CIM_EnabledLogicalElement", "CIM_LogicalElement", "CIM_ManagedSystemElement", "CIM_ManagedElement"]


def _mac(raw: str) -> str:
    digits = raw.replace("-", "").replace(":", "").upper().rjust(12, "0")
    return "-".join(digits[i:i + 2] for i in range(0, 12, 2))


def _adapters(call: Call) -> list[dict[str, Any]]:
    """(name, description, index, connected, mac) of what the node's OS shows."""
    world, node = call.ctx.world, call.ctx.node
    located = world.locate(node)
    if located is None:
        # assumption: the host has one physical NIC named as Windows names the first one.
        return [_adapter("Ethernet", "Intel(R) Ethernet Controller X710 for 10GbE SFP+", 6, True, "3C-EC-EF-10-20-30")]
    _, vm = located
    rows = []
    for position, adapter in enumerate(vm.adapters):
        name = interface_alias(position)
        description = "Microsoft Hyper-V Network Adapter" + ("" if position == 0 else f" #{position + 1}")
        rows.append(_adapter(name, description, 4 + position, adapter.switch_name is not None,
                             _mac(adapter.mac_address)))
    return rows


def _adapter(name: str, description: str, index: int, connected: bool, mac: str) -> dict[str, Any]:
    return {
        "Name": name,
        "InterfaceDescription": description,
        "ifIndex": index,
        "InterfaceIndex": index,
        "Status": "Up" if connected else "Disconnected",
        "MacAddress": mac,
        "LinkSpeed": "10 Gbps" if connected else "0 bps",
        "MediaConnectionState": 1 if connected else 2,  # Connected 1, Disconnected 2
        "Virtual": description.startswith("Microsoft Hyper-V"),
        "DriverDescription": description,
    }


def get_net_adapter(call: Call) -> Iterator[Any]:
    with call.ctx.world.lock:
        rows = _adapters(call)
    # the CDXML queries these CIM properties (ifIndex is only InterfaceIndex's alias)
    for prop in ("Name", "InterfaceDescription", "InterfaceIndex"):
        if call.params.get(prop) is not None:
            rows = select_named(call, call.params[prop], rows, lambda r, p=prop: r[p],
                                lambda v, p=prop: cim_not_found("MSFT_NetAdapter", p, v, "Get-NetAdapter"))
            break
    yield from (cim_instance(NETADAPTER_NS, NETADAPTER_CHAIN, r) for r in rows)


CMDLETS: dict[str, Impl] = {"Get-NetAdapter": get_net_adapter}
