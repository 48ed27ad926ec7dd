"""The engine with fake cmdlets: lookup, error actions, builtins, serialization, the trampoline twin."""
from __future__ import annotations

import dataclasses
import threading
import uuid
from xml.etree import ElementTree
from collections.abc import Iterable
from importlib import resources
from typing import Any

import pytest
from psrpcore.types import PSObject
from psrpcore.types._serializer import serialize

from pytest_nestedhv.sim.powershell.cmdlet import Call
from pytest_nestedhv.sim.powershell.engine import Engine
from pytest_nestedhv.sim.powershell.errors import PSError
from pytest_nestedhv.sim.powershell.request import CommandSpec, PipelineRequest
from pytest_nestedhv.sim.powershell.values import EnumValue, PSOut

VM_TYPES = ["Microsoft.HyperV.PowerShell.VirtualMachine", "Microsoft.HyperV.PowerShell.VirtualMachineBase",
            "System.Object"]


def _vm(name: str, state: str, value: int) -> PSOut:
    return PSOut(VM_TYPES, {"Name": name, "State": EnumValue("Microsoft.HyperV.PowerShell.VMState", state, value),
                            "MemoryStartup": 4 * 1024**3, "ProcessorCount": 2, "Generation": 2,
                            "NetworkAdapters": [PSOut(["Microsoft.HyperV.PowerShell.VMNetworkAdapter"], {},
                                                      to_string="VMNetworkAdapter (Name = 'Network Adapter')")]},
                 to_string=f"VirtualMachine (Name = '{name}')", alias_properties={"VMName": "Name"})


@dataclasses.dataclass
class FakeNode:
    vms: list[PSOut]
    guests: dict[str, "FakeNode"] = dataclasses.field(default_factory=dict)
    password: str = "pw"

    def direct(self, vm_name: str, user: str, password: str) -> "FakeNode":
        if vm_name not in self.guests:
            raise PSError("The input VMName parameter does not resolve to any virtual machine.", "InvalidArgument",
                          "InvalidVMNameNotSingle,Microsoft.PowerShell.Commands.InvokeCommandCommand")
        if password != self.password:
            raise PSError("The credential is invalid.", "InvalidArgument",
                          "CredentialInvalid,Microsoft.PowerShell.Commands.InvokeCommandCommand")
        return self.guests[vm_name]


@dataclasses.dataclass
class FakeWorld:
    host: FakeNode

    def direct(self, node: FakeNode, vm_name: str, user: str, password: str) -> FakeNode:
        return node.direct(vm_name, user, password)


def get_vm(call: Call) -> Iterable[Any]:
    names = call.params.get("Name")
    for vm in call.ctx.node.vms:
        if names is None or vm.get("Name") in names:
            yield vm
    for name in names or []:
        if name not in [v.get("Name") for v in call.ctx.node.vms]:
            call.write_error(PSError(f'Hyper-V was unable to find a virtual machine with name "{name}".',
                                     "InvalidArgument", "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM"))


def stop_vm(call: Call) -> Iterable[Any]:
    raise PSError("boom", "InvalidOperation", "Boom,Microsoft.HyperV.PowerShell.Commands.StopVM", terminating=True)


class Sink:
    def __init__(self) -> None:
        self.out: list[Any] = []
        self.errors: list[PSError] = []
        self.warnings: list[str] = []

    def output(self, obj: Any) -> None:
        self.out.append(obj)

    def error(self, record: PSError) -> None:
        self.errors.append(record)

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def verbose(self, message: str) -> None:
        pass


@pytest.fixture
def engine() -> Engine:
    guest = FakeNode([_vm("l2", "Running", 2)])
    host = FakeNode([_vm("a", "Running", 2), _vm("b", "Off", 3)], {"a": guest})
    return Engine(FakeWorld(host), cmdlets={"Get-VM": get_vm, "Stop-VM": stop_vm})  # type: ignore[arg-type]


def run(engine: Engine, *statements: list[CommandSpec], input_objects: list[Any] | None = None) -> Sink:
    sink = Sink()
    engine.run(PipelineRequest(list(statements), input_objects or []), sink, threading.Event())
    return sink


def cmd(name: str, **params: Any) -> CommandSpec:
    return CommandSpec(name, False, list(params.items()))


def props(obj: PSObject) -> dict[str, Any]:
    return {p.name: p.get_value(obj) for p in obj.PSObject.adapted_properties + obj.PSObject.extended_properties}


def test_unknown_command_is_command_not_found(engine: Engine) -> None:
    with pytest.raises(PSError) as info:
        run(engine, [cmd("Get-Vmm")])
    assert info.value.message.startswith("The term 'Get-Vmm' is not recognized as the name of a cmdlet, function, "
                                         "script file, or operable program.")
    assert info.value.fqid == "CommandNotFoundException"
    assert info.value.exception_type == "System.Management.Automation.CommandNotFoundException"


def test_documented_but_unimplemented_cmdlet_says_so(engine: Engine) -> None:
    with pytest.raises(PSError, match="does not implement 'Get-VMBios'"):
        run(engine, [cmd("Get-VMBios", VMName="a")])


def test_objects_serialize_with_type_names_enums_and_declared_int_widths(engine: Engine) -> None:
    sink = run(engine, [cmd("Get-VM", Name="a")])
    (vm,) = sink.out
    assert vm.PSObject.type_names[0] == "Microsoft.HyperV.PowerShell.VirtualMachine"
    values = props(vm)
    # depth 1: an enum property arrives as its name (PowerShell's serializer at depth 0)
    wire = ElementTree.tostring(serialize(vm, None)).decode()
    assert values["State"] == "Running" and '<S N="State">Running</S>' in wire
    assert "VMState" not in wire
    assert type(values["MemoryStartup"]).__name__ == "PSInt64"  # declared long
    assert type(values["Generation"]).__name__ == "PSInt"  # declared int
    assert values["VMName"] == "a"  # alias property in <MS>
    # depth 1: a nested object arrives as its ToString text
    assert values["NetworkAdapters"] == ["VMNetworkAdapter (Name = 'Network Adapter')"]
    assert values["NetworkAdapters"].PSObject.type_names[0] == (
        "System.Collections.Generic.List`1[[Microsoft.HyperV.PowerShell.VMNetworkAdapter, "
        "Microsoft.HyperV.PowerShell.Objects, Version=10.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]")


def test_a_top_level_enum_keeps_its_type(engine: Engine) -> None:
    sink = run(engine, [cmd("Get-VM", Name="a"), cmd("Select-Object", ExpandProperty="State")])
    (state,) = sink.out
    wire = ElementTree.tostring(serialize(state, None)).decode()
    assert int(state) == 2 and "<ToString>Running</ToString>" in wire and "<I32>2</I32>" in wire
    assert state.PSObject.type_names[0] == "Microsoft.HyperV.PowerShell.VMState"


def test_non_terminating_error_continues_and_error_action_changes_it(engine: Engine) -> None:
    sink = run(engine, [cmd("Get-VM", Name=["a", "zz"])])
    assert len(sink.out) == 1 and "unable to find a virtual machine with name \"zz\"" in sink.errors[0].message
    assert not run(engine, [cmd("Get-VM", Name="zz", ErrorAction="SilentlyContinue")]).errors
    with pytest.raises(PSError, match="zz"):
        run(engine, [cmd("Get-VM", Name="zz", ErrorAction="Stop")])


def test_terminating_error_fails_the_pipeline(engine: Engine) -> None:
    with pytest.raises(PSError, match="boom"):
        run(engine, [cmd("Stop-VM", Name="a")])


def test_several_statements_and_builtins(engine: Engine) -> None:
    sink = run(engine,
               [cmd("Get-VM"), cmd("Where-Object", Property="State", EQ=True, Value="off"),
                cmd("Select-Object", ExpandProperty="Name")],
               [cmd("Get-VM"), cmd("Select-Object", Property=["Name", "State"], First=1)])
    assert sink.out[0] == "b"
    selected = sink.out[1]
    assert selected.PSObject.type_names[0] == "Selected.Microsoft.HyperV.PowerShell.VirtualMachine"
    assert set(props(selected)) == {"Name", "State"}


def test_binding_errors_surface_from_the_engine(engine: Engine) -> None:
    with pytest.raises(PSError) as info:
        run(engine, [cmd("Get-VM", Bogus=1)])
    assert info.value.fqid == "NamedParameterNotFound,Microsoft.HyperV.PowerShell.Commands.GetVM"


def test_arbitrary_script_is_refused(engine: Engine) -> None:
    with pytest.raises(PSError, match="no-language mode") as info:
        run(engine, [CommandSpec("Get-Process | Stop-Process", True, [])])
    assert (info.value.fqid, info.value.category, info.value.target) == (
        "ScriptsNotAllowed", "ParserError", "Get-Process | Stop-Process")


@dataclasses.dataclass
class Cred:
    UserName: str
    Password: str


def _trampoline() -> str:
    path = resources.files("pytest_nestedhv").joinpath("remote/scripts/Invoke-InGuest.ps1")
    if not path.is_file():
        pytest.fail("the plugin's PowerShell Direct trampoline is missing")
    return path.read_text("utf-8")


def test_trampoline_runs_the_command_in_the_guest_with_remoting_notes(engine: Engine) -> None:
    script = CommandSpec(_trampoline(), True, [("VMName", "a"), ("Credential", Cred("Administrator", "pw")),
                                              ("Command", "Get-VM"), ("Parameters", {"Name": "l2"})])
    sink = run(engine, [script])
    (vm,) = sink.out
    assert vm.PSObject.type_names[0] == "Deserialized.Microsoft.HyperV.PowerShell.VirtualMachine"
    values = props(vm)
    assert values["PSComputerName"] == "a" and values["Name"] == "l2"
    assert isinstance(values["RunspaceId"], uuid.UUID)


def test_trampoline_reports_powershell_direct_failures_as_errors(engine: Engine) -> None:
    bad = CommandSpec(_trampoline(), True, [("VMName", "a"), ("Credential", Cred("Administrator", "nope")),
                                           ("Command", "Get-VM")])
    sink = run(engine, [bad])
    assert not sink.out and sink.errors[0].message == "The credential is invalid."
    with pytest.raises(PSError, match="missing mandatory parameters: Command"):
        run(engine, [CommandSpec(_trampoline(), True, [("VMName", "a"), ("Credential", Cred("x", "pw"))])])
