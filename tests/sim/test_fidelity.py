"""Fidelity to the reference: what the emulator implements and emits exists in cmdlets.json."""
from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import Any

import pytest

from pytest_nestedhv.sim import cmdlets
from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.powershell.binding import bind
from pytest_nestedhv.sim.powershell.engine import Engine
from pytest_nestedhv.sim.powershell.errors import PSError
from pytest_nestedhv.sim.powershell.reference import load_reference
from pytest_nestedhv.sim.powershell.request import CommandSpec
from pytest_nestedhv.sim.powershell.values import EnumValue, PSOut
from pytest_nestedhv.sim.scenario import load_scenario

REF = load_reference()
HV = "Microsoft.HyperV.PowerShell."


def _implemented() -> dict[str, Any]:
    table: dict[str, Any] = {}
    for info in pkgutil.iter_modules(cmdlets.__path__):
        module = importlib.import_module(f"{cmdlets.__name__}.{info.name}")
        table.update(getattr(module, "CMDLETS", {}))
    return table


IMPLEMENTED = sorted(_implemented())


def test_the_emulator_implements_the_cmdlets_the_plugin_needs() -> None:
    needed = {"Get-VM", "New-VM", "Start-VM", "Stop-VM", "Remove-VM", "Set-VM", "Get-VMProcessor", "Set-VMProcessor",
              "Get-VMMemory", "Set-VMMemory", "Get-VMNetworkAdapter", "Set-VMNetworkAdapter", "Get-VMSwitch",
              "New-VMSwitch", "Get-VMHost", "Get-VMHostSupportedVersion", "Wait-VM", "Get-VMIntegrationService",
              "New-VHD", "Remove-VMSavedState", "Get-VMSnapshot", "Checkpoint-VM", "Get-CimInstance",
              "Get-ItemProperty", "Get-WindowsOptionalFeature", "Enable-WindowsOptionalFeature", "Get-WindowsFeature",
              "Install-WindowsFeature", "Get-Service", "Restart-Computer", "Get-WinEvent", "Test-Path", "Remove-Item"}
    assert needed <= set(IMPLEMENTED)


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_every_implemented_cmdlet_is_in_the_reference_under_its_own_name(name: str) -> None:
    signature = REF.signature(name)
    assert signature is not None and signature.name == name


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_no_implemented_cmdlet_binds_a_parameter_the_reference_lacks(name: str) -> None:
    signature = REF.signature(name)
    assert signature is not None
    with pytest.raises(PSError) as info:
        bind(signature, [("NestedhvNoSuchParameter", 1)], None, REF)
    assert info.value.fqid == f"NamedParameterNotFound,{signature.class_name}"


def _emitted_objects() -> list[PSOut]:
    """Everything the Hyper-V cmdlets write on the default host with its VMs, before and after a start."""
    world = World.from_scenario(load_scenario("legacy-vms"))
    engine = Engine(world)
    out: list[PSOut] = []

    class Sink:
        def output(self, obj: Any) -> None: ...
        def error(self, record: PSError) -> None: ...
        def warning(self, message: str) -> None: ...
        def verbose(self, message: str) -> None: ...

    from pytest_nestedhv.sim.powershell.cmdlet import Context, Streams

    ctx = Context(world, world.host, Streams(lambda e: None, lambda m: None, lambda m: None), threading.Event())
    vm = "nestedhv-fidelity"
    base = load_scenario("legacy-vms").host.base_images[0]
    script = [
        ("New-VHD", [("Path", f"C:\\VMs\\{vm}.vhdx"), ("ParentPath", base), ("Differencing", True)]),
        ("New-VM", [("Name", vm), ("Generation", 2), ("MemoryStartupBytes", 4 * 1024**3),
                    ("VHDPath", f"C:\\VMs\\{vm}.vhdx")]),
        ("Checkpoint-VM", [("Name", vm), ("Passthru", True)]),
        ("Get-VM", []), ("Get-VMProcessor", [("VMName", "*")]), ("Get-VMMemory", [("VMName", "*")]),
        ("Get-VMNetworkAdapter", [("VMName", "*")]), ("Get-VMHost", []), ("Get-VMHostSupportedVersion", []),
        ("Get-VMSwitch", []), ("Get-VMSnapshot", [("VMName", "*")]), ("Get-VMIntegrationService", [("VMName", vm)]),
        ("Start-VM", [("Name", vm), ("Passthru", True)]), ("Get-VM", [("Name", vm)]),
    ]
    for name, params in script:
        out.extend(o for o in engine.execute([CommandSpec(name, False, params)], None, ctx) if isinstance(o, PSOut))
    return out


def _enum_values(value: Any) -> list[EnumValue]:
    if isinstance(value, EnumValue):
        return [value]
    if isinstance(value, list):
        return [v for item in value for v in _enum_values(item)]
    return []


def test_hyperv_objects_have_exactly_the_reference_properties_and_enum_values() -> None:
    objects = _emitted_objects()
    seen: set[str] = set()
    for obj in objects:
        type_name = obj.type_names[0]
        if not type_name.startswith(HV):
            continue
        short = type_name.removeprefix(HV)
        shape = REF.output_types.get(short)
        assert shape is not None, f"{type_name} is not an output type of the reference"
        seen.add(short)
        assert obj.type_names[: len(shape["class_chain"])] == [HV + c for c in shape["class_chain"]]
        assert obj.type_names[-1] == "System.Object"
        assert set(obj.properties) == set(shape["properties"]), short
        assert set(obj.alias_properties) <= set(shape.get("ps_alias_properties", {})), short
        for value in obj.properties.values():
            for enum in _enum_values(value):
                assert REF.enums[enum.type_name][enum.name] == enum.value, enum
    assert {"VirtualMachine", "VMProcessor", "VMMemory", "VMNetworkAdapter", "VMHost", "VMHostSupportedVersion",
            "VMSnapshot", "VMIntegrationComponent"} <= seen
