"""Drive the full emulated host (engine + model) through a real pypsrp client, as a Windows client would.

``WireHost.start(scenario)`` serves a shipped scenario, fast-forwarded so modelled minutes take
milliseconds; ``host.run(cmd(...), cmd(...), ...)`` sends one pipeline, ``host.run_statements``
several statements, and answers with the output and every stream. ``wire_tag`` reads how a
property travelled (``I64``, ``DT``, ``TS``, ``G``, ``Version``...) from the raw CLIXML, because
pypsrp hands DateTime, TimeSpan and Version back as text.
"""
from __future__ import annotations

import dataclasses
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any

from pypsrp.complex_objects import GenericComplexObject, PSCredential
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.serializer import TaggedValue
from pypsrp.wsman import WSMan

from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.powershell.engine import Engine
from pytest_nestedhv.sim.scenario import Scenario, load_scenario
from pytest_nestedhv.sim.server import SimServer

GB = 1024**3
GUEST_USER = "Administrator"
GUEST_PASSWORD = "Sim-Guest-Passw0rd!"  # the shipped scenarios' sim-only guest password
FAST = 100_000.0  # modelled seconds per real second: a 180 s install takes about 2 ms

# System.Management.Automation.ErrorCategory, as pypsrp reports ErrorRecord.category
CATEGORY = {"NotSpecified": 0, "InvalidArgument": 5, "InvalidData": 6, "InvalidOperation": 7,
            "NotImplemented": 11, "ObjectNotFound": 13, "OperationStopped": 14, "OperationTimeout": 15,
            "ResourceExists": 20, "ResourceUnavailable": 21, "WriteError": 23}
IN_GUEST_SCRIPT = resources.files("pytest_nestedhv").joinpath("remote/scripts/Invoke-InGuest.ps1").read_text("utf-8")
IN_NESTED_GUEST_SCRIPT = resources.files("pytest_nestedhv").joinpath(
    "remote/scripts/Invoke-InNestedGuest.ps1").read_text("utf-8")


@dataclasses.dataclass(frozen=True)
class Cmd:
    """One command of a pipeline: its name, named parameters in order, positional arguments."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    args: tuple[Any, ...] = ()


def cmd(name: str, *args: Any, **params: Any) -> Cmd:
    return Cmd(name, tuple(params.items()), args)


def i64(value: int) -> TaggedValue:
    """pypsrp tags every int as Int32; byte sizes must go as Int64, as PowerShell would send them."""
    return TaggedValue("I64", value)


@dataclasses.dataclass
class WireResult:
    output: list[Any]
    errors: list[Any]  # pypsrp ErrorRecord
    warnings: list[str]
    had_errors: bool
    state: int

    @property
    def failed(self) -> bool:
        return self.had_errors and self.state == PSInvocationState.FAILED

    def only_error(self) -> Any:
        assert len(self.errors) == 1, [str(e) for e in self.errors]
        return self.errors[0]


class WireHost:
    """One emulated host, one pypsrp runspace pool to it (basic auth over loopback HTTP: the
    cheapest transport; the auth and transport modes have their own tests)."""

    def __init__(self, world: World, server: SimServer, pool: RunspacePool) -> None:
        self.world = world
        self.server = server
        self.pool = pool

    @classmethod
    @contextmanager
    def start(cls, scenario: str | Scenario, time_scale: float = FAST) -> Iterator[WireHost]:
        loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
        loaded = dataclasses.replace(loaded, faults=dataclasses.replace(loaded.faults, time_scale=time_scale,
                                                                         latency_ms=0, drop_rate=0.0))
        world = World.from_scenario(loaded)
        password = secrets.token_urlsafe(18)
        server = SimServer(Engine(world), users={"wire": password}, auth="basic", https=False,
                           machine_name=loaded.host.computer_name).start()
        try:
            wsman = WSMan(server.host, port=server.port, username="wire", password=password, ssl=False,
                          auth="basic", encryption="never", cert_validation=False, operation_timeout=5,
                          read_timeout=10)
            with wsman, RunspacePool(wsman) as pool:
                pool.exchange_keys()  # SecureString parameters (PSCredential passwords) need the session key
                yield cls(world, server, pool)
        finally:
            server.stop()

    def run(self, *pipeline: Cmd, input: Sequence[Any] | None = None) -> WireResult:
        return self.run_statements([list(pipeline)], input=input)

    def run_statements(self, statements: Sequence[Sequence[Cmd]], input: Sequence[Any] | None = None) -> WireResult:
        ps = PowerShell(self.pool)
        for index, statement in enumerate(statements):
            if index:
                ps.add_statement()
            for command in statement:
                ps.add_cmdlet(command.name)
                for key, value in command.params:
                    ps.add_parameter(key, value)
                for arg in command.args:
                    ps.add_argument(arg)
        output = ps.invoke(input=list(input) if input is not None else None)
        return WireResult(output, list(ps.streams.error), [w.message for w in ps.streams.warning],
                          ps.had_errors, ps.state)

    def ok(self, *pipeline: Cmd) -> list[Any]:
        """Run a pipeline that must succeed without any error record."""
        result = self.run(*pipeline)
        assert not result.errors and not result.had_errors, [str(e) for e in result.errors]
        return result.output

    def in_guest(self, vm_name: str, command: str, password: str = GUEST_PASSWORD, **params: Any) -> WireResult:
        """The plugin's PowerShell Direct trampoline, sent as script text with a real PSCredential."""
        ps = PowerShell(self.pool)
        ps.add_script(IN_GUEST_SCRIPT)
        ps.add_parameter("VMName", vm_name)
        ps.add_parameter("Credential", PSCredential(username=GUEST_USER, password=password))
        ps.add_parameter("Command", command)
        ps.add_parameter("Parameters", params)
        return self._invoke(ps)

    def in_nested_guest(self, l1: str, l2: str, command: str, password: str = GUEST_PASSWORD,
                        inner_password: str = GUEST_PASSWORD, **params: Any) -> WireResult:
        """The plugin's double hop (Invoke-InNestedGuest.ps1): host -> L1 -> L2, real PSCredentials."""
        ps = PowerShell(self.pool)
        ps.add_script(IN_NESTED_GUEST_SCRIPT)
        ps.add_parameter("VMName", l1)
        ps.add_parameter("Credential", PSCredential(username=GUEST_USER, password=password))
        ps.add_parameter("InnerVMName", l2)
        ps.add_parameter("InnerCredential", PSCredential(username=GUEST_USER, password=inner_password))
        ps.add_parameter("Command", command)
        ps.add_parameter("Parameters", params)
        return self._invoke(ps)

    @staticmethod
    def _invoke(ps: PowerShell) -> WireResult:
        output = ps.invoke()
        return WireResult(output, list(ps.streams.error), [w.message for w in ps.streams.warning],
                          ps.had_errors, ps.state)

    def make_l1(self, name: str, *, expose: bool = True, version: str | None = None, start: bool = False,
                memory_gb: int = 8, switch: str | None = None) -> None:
        """The lab's L1: a differencing disk on the host's base image, static memory, extensions, spoofing,
        and no automatic start when the host boots."""
        base = self.world.host.files[0].path
        disk = f"C:\\VMs\\{name}.vhdx"
        self.ok(cmd("New-VHD", Path=disk, ParentPath=base, Differencing=True))
        params: dict[str, Any] = {"Name": name, "Generation": 2, "MemoryStartupBytes": i64(memory_gb * GB),
                                  "VHDPath": disk}
        if version:
            params["Version"] = version
        if switch:
            params["SwitchName"] = switch
        self.ok(cmd("New-VM", **params))
        self.ok(cmd("Set-VM", Name=name, AutomaticStartAction="Nothing"))
        if expose:
            self.ok(cmd("Set-VMProcessor", VMName=name, ExposeVirtualizationExtensions=True, Count=4))
        self.ok(cmd("Set-VMNetworkAdapter", VMName=name, MacAddressSpoofing="On"))
        if start:
            self.ok(cmd("Start-VM", Name=name))
            self.ok(cmd("Wait-VM", Name=name, For="Heartbeat", Timeout=600))


def prop(obj: GenericComplexObject, name: str) -> Any:
    """A property as pypsrp deserialized it; extended members (notes) first, as PowerShell resolves them."""
    if name in obj.extended_properties:
        return obj.extended_properties[name]
    return obj.adapted_properties[name]


def wire_tag(obj: GenericComplexObject, name: str) -> tuple[str, str | None]:
    """(CLIXML tag, text) of a property as it travelled: e.g. ("I64", "8589934592")."""
    root = ET.fromstring(obj._xml)
    for section in ("Props", "MS"):
        container = root.find(section)
        for element in container if container is not None else []:
            if element.get("N") == name:
                return element.tag, element.text
    raise KeyError(name)


def enum_of(obj: GenericComplexObject, name: str) -> str:
    """The name of an enum property, which travels as its string at remoting depth (<S N="State">Off</S>)."""
    tag, text = wire_tag(obj, name)
    assert tag == "S", f"{name} travelled as <{tag}>, not as the enum's name"
    return text or ""


def error_facts(error: Any) -> tuple[str, str, int]:
    """(message, FullyQualifiedErrorId, category number) of a pypsrp ErrorRecord."""
    return str(error), error.fq_error, error.category
