"""Call cmdlet implementations directly, the way the engine does after binding (for model tests)."""
from __future__ import annotations

import dataclasses
import threading
from typing import Any

from pytest_nestedhv.sim.cmdlets import all_cmdlets
from pytest_nestedhv.sim.model.state import Node
from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.powershell.cmdlet import Call, Context, Streams
from pytest_nestedhv.sim.powershell.errors import PSError
from pytest_nestedhv.sim.scenario import load_scenario

PASSWORD = "Sim-Guest-Passw0rd!"  # the shipped scenarios' sim-only guest password


@dataclasses.dataclass
class Result:
    output: list[Any]
    errors: list[PSError]
    warnings: list[str]


class Shell:
    """Runs cmdlets on one node of a world and records their streams."""

    def __init__(self, world: World, node: Node | None = None) -> None:
        self.world = world
        self.node = node or world.host
        self.cancel = threading.Event()
        self.impls = all_cmdlets()

    def run(self, name: str, parameter_set: str = "", input: list[Any] | None = None, **params: Any) -> Result:
        errors: list[PSError] = []
        warnings: list[str] = []
        ctx = Context(self.world, self.node, Streams(errors.append, warnings.append, lambda _m: None), self.cancel)
        call = Call(name, params, parameter_set, iter(input or []), ctx, expects_input=input is not None)
        output = list(self.impls[name](call))
        return Result(output, errors, warnings)

    def ok(self, name: str, **params: Any) -> list[Any]:
        result = self.run(name, **params)
        assert not result.errors, [e.message for e in result.errors]
        return result.output

    def guest(self, vm_name: str) -> Shell:
        return Shell(self.world, self.world.direct(self.node, vm_name, "Administrator", PASSWORD))


def world(name: str = "default", time_scale: float = 100000.0, **host: Any) -> World:
    """A shipped scenario, fast-forwarded so modelled minutes take milliseconds."""
    scenario = load_scenario(name)
    scenario = dataclasses.replace(scenario, faults=dataclasses.replace(scenario.faults, time_scale=time_scale),
                                   host=dataclasses.replace(scenario.host, **host))
    return World.from_scenario(scenario)


def make_l1(sh: Shell, name: str = "l1", *, expose: bool = True, version: str | None = None,
            dynamic: bool = False) -> None:
    base = sh.node.files[0].path if sh.node.depth == 0 else sh.world.guest_image.base_images[0]
    disk = f"C:\\VMs\\{name}.vhdx"
    sh.ok("New-VHD", Path=[disk], ParentPath=base, Differencing=True)
    params: dict[str, Any] = {"Name": name, "Generation": 2, "MemoryStartupBytes": 8 * 1024**3, "VHDPath": disk}
    if version:
        params["Version"] = version
    sh.ok("New-VM", **params)
    sh.ok("Set-VM", Name=[name], AutomaticStartAction="Nothing")  # as the lab makes it: no start at host boot
    if dynamic:
        sh.ok("Set-VM", Name=[name], DynamicMemory=True)
    if expose:
        sh.ok("Set-VMProcessor", VMName=[name], ExposeVirtualizationExtensions=True, Count=4)
    sh.ok("Set-VMNetworkAdapter", VMName=name, MacAddressSpoofing="On")
