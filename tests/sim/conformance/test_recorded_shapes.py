"""Objects as Windows sent them (``recorded_objects.json``, from pypsrp's recordings): the plugin
reads both shapes of an enum (a string at depth, an object at top level), and the emulator's
error, warning and verbose records carry the recorded members in the recorded order."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from psrpcore.types._serializer import serialize
from pypsrp.serializer import Serializer

from pytest_nestedhv.hyperv.ports import prop
from pytest_nestedhv.remote.objects import RemoteObject, from_wire
from pytest_nestedhv.sim.powershell.errors import PSError
from pytest_nestedhv.sim.server.clixml_order import windows_order
from pytest_nestedhv.sim.server.error_records import error_record, informational_record
from wire_facts import clixml

RECORDED = json.loads((Path(__file__).parent / "recorded_objects.json").read_text("utf-8"))


def recorded(message_type: str, type_name: str) -> str:
    return next(r["clixml"] for r in RECORDED
                if r["type"] == message_type and f"<T>{type_name}</T>" in r["clixml"][:400])


def read(xml: str) -> RemoteObject:
    """One output object as the plugin reads it: pypsrp's deserializer, then remote.objects."""
    return from_wire(Serializer().deserialize(xml))


# --- the plugin reads the recorded shapes ----------------------------------------------------------
def test_an_enum_property_at_depth_arrives_as_its_name() -> None:
    history = read(recorded("PipelineOutput", "Microsoft.PowerShell.Commands.HistoryInfo"))
    assert '<S N="ExecutionStatus">Completed</S>' in recorded("PipelineOutput", "Microsoft.PowerShell.Commands.HistoryInfo")
    assert history["ExecutionStatus"] == "Completed" and prop(history, "executionstatus") == "Completed"
    assert history.type_name == "Microsoft.PowerShell.Commands.HistoryInfo" and history["Id"] == 1


def test_an_enum_object_reads_as_its_name_too() -> None:
    xml = recorded("PipelineOutput", "Selected.System.Management.Automation.CmdletInfo")
    info = read(xml)
    assert info["CommandType"] == "Cmdlet" and info["Name"] == "New-PSSession"
    # the same enum written on its own (a top-level enum keeps its type): a RemoteObject with the name
    element = ET.fromstring(xml).find("MS/Obj[@N='CommandType']")
    assert element is not None
    element.attrib.pop("N")
    top = read(ET.tostring(element, encoding="unicode"))
    assert top.value == "Cmdlet" and str(top) == "Cmdlet"
    assert top.type_names[:2] == ["System.Management.Automation.CommandTypes", "System.Enum"]


def test_nested_objects_and_collections_of_a_recorded_object() -> None:
    leaf = read(recorded("PipelineOutput", "Microsoft.WSMan.Management.WSManConfigLeafElement"))
    assert leaf["Name"] == "AllowUnencrypted" and leaf["Value"] == "true"
    assert prop(leaf, "PSChildName") == "AllowUnencrypted"
    # pypsrp turns a CultureInfo into its own class; the plugin keeps what PowerShell would show
    assert str(read(recorded("PipelineOutput", "System.Globalization.CultureInfo"))) == "en-US"


# --- the emulator's records carry the recorded members --------------------------------------------
def _shape(obj: Any) -> dict[str, Any]:
    xml = ET.tostring(serialize(obj, None), encoding="utf-8")
    return clixml(ET.fromstring(windows_order(xml)))


def _names(shape: dict[str, Any], section: str = "MS") -> list[str]:
    return [n for n, _ in shape.get(section, [])]


def _member(shape: dict[str, Any], name: str) -> Any:
    return next(v for section in ("Props", "MS") for n, v in shape.get(section, []) if n == name)


@pytest.fixture
def not_found() -> PSError:
    return PSError('Hyper-V was unable to find a virtual machine with name "nosuch".', "InvalidArgument",
                   "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM", target="nosuch",
                   exception_type="Microsoft.HyperV.PowerShell.VirtualizationException")


def test_a_written_cmdlet_error_has_the_recorded_members(not_found: PSError) -> None:
    windows = clixml(ET.fromstring(recorded("ErrorRecord", "System.Management.Automation.ErrorRecord")))
    emulated = _shape(error_record(not_found, "Get-VM", written=True, invocation_info=True))
    assert emulated["order"] == windows["order"] == ["TN", "ToString", "MS"]
    assert emulated["TN"] == windows["TN"]
    assert _names(emulated) == _names(windows)
    assert [k for k, _ in _member(emulated, "InvocationInfo")["Props"]] == [
        k for k, _ in _member(windows, "InvocationInfo")["Props"]]
    exception = _member(emulated, "Exception")
    base = ["Message", "Data", "InnerException", "TargetSite", "StackTrace", "HelpLink", "Source", "HResult"]
    assert _names(exception, "Props") == base == _names(_member(windows, "Exception"), "Props")[-8:]
    assert exception["ToString"] == f"Microsoft.HyperV.PowerShell.VirtualizationException: {not_found.message}"
    assert _member(exception, "HResult") == ["I32", "-2146233088"]  # COR_E_EXCEPTION: it derives from Exception
    assert _member(emulated, "ErrorCategory_Message") == [
        "S", "InvalidArgument: (nosuch:String) [Get-VM], VirtualizationException"]
    for member in ("writeErrorStream", "SerializeExtendedInfo"):
        assert _member(emulated, member) == _member(windows, member) == ["B", "true"]


def test_the_record_that_fails_a_pipeline_has_no_extended_info(not_found: PSError) -> None:
    emulated = _shape(error_record(not_found, "Get-VM", written=False, invocation_info=True))
    assert "writeErrorStream" not in _names(emulated) and "PSMessageDetails" not in _names(emulated)
    assert _member(emulated, "SerializeExtendedInfo") == ["B", "false"]
    assert _member(emulated, "InvocationInfo")["TN"][0] == "System.Management.Automation.InvocationInfo"
    assert not [n for n in _names(emulated) if n.startswith("InvocationInfo_")]


def test_without_add_invocation_info_there_is_none(not_found: PSError) -> None:
    emulated = _shape(error_record(not_found, "Get-VM", written=True, invocation_info=False))
    assert _member(emulated, "InvocationInfo") == ["Nil", ""]
    assert _member(emulated, "SerializeExtendedInfo") == ["B", "false"]


@pytest.mark.parametrize("kind", ["Warning", "Verbose"])
def test_informational_records_have_the_recorded_members(kind: str) -> None:
    windows = clixml(ET.fromstring(recorded(f"{kind}Record", f"System.Management.Automation.{kind}Record")))
    emulated = _shape(informational_record(kind, "a message", "Get-VM", invocation_info=True))
    assert emulated["TN"] == windows["TN"] and emulated["order"] == windows["order"]
    assert emulated["ToString"] == "a message"
    assert _names(emulated) == _names(windows)
    assert _member(emulated, "InvocationInfo_BoundParameters")["TN"] == _member(
        windows, "InvocationInfo_BoundParameters")["TN"]
    bare = _shape(informational_record(kind, "a message", "Get-VM", invocation_info=False))
    assert _names(bare) == ["InformationalRecord_Message", "InformationalRecord_SerializeInvocationInfo"]


def test_category_message_shortens_a_long_target_as_windows_does() -> None:
    from pytest_nestedhv.sim.server.error_records import category_message

    target = "Set-Item -Path WSMan:\\localhost\\Service\\AllowUnencrypted -Value $false"
    assert category_message("ParserError", "", "ParseException", target, "String") == (
        "ParserError: (Set-Item -Path ...d -Value $false:String) [], ParseException")  # as recorded


def test_select_object_output_has_the_recorded_custom_object_shape() -> None:
    from pytest_nestedhv.sim.model.world import World
    from pytest_nestedhv.sim.powershell.engine import Engine
    from pytest_nestedhv.sim.powershell.request import CommandSpec, PipelineRequest
    from pytest_nestedhv.sim.scenario import load_scenario

    windows = clixml(ET.fromstring(recorded("PipelineOutput", "Selected.System.Management.Automation.CmdletInfo")))
    engine = Engine(World.from_scenario(load_scenario("legacy-vms")))
    out: list[Any] = []

    class Sink:
        def output(self, obj: Any) -> None:
            out.append(obj)

        def error(self, record: Any) -> None: ...
        def warning(self, message: str) -> None: ...
        def verbose(self, message: str) -> None: ...

    request = PipelineRequest([[CommandSpec("Get-VM", False, []),
                                CommandSpec("Select-Object", False, [("Property", ["Name", "State"])])]], [])
    import threading

    engine.run(request, Sink(), threading.Event())
    shape = _shape(out[0])
    assert shape["order"] == windows["order"] == ["TN", "MS"]  # note properties, no ToString
    assert shape["TN"][1:] == windows["TN"][1:] and shape["TN"][0].startswith("Selected.")
    assert _names(shape) == ["Name", "State"] and _member(shape, "State")[0] == "S"  # an enum at depth
