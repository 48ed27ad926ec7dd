"""PSError -> the ErrorRecord, WarningRecord and VerboseRecord objects Windows PowerShell 5.1 sends.

Shapes as recorded in pypsrp's tests/tests_pypsrp/responses (test_psrp_stream_output_invocation,
test_client_fetch_file_fail_missing, test_psrp_with_jea_configuration, test_psrp_error_failed):

- a record written to the error stream carries ``writeErrorStream``; with AddInvocationInfo (pypsrp
  always asks for it) it carries its InvocationInfo both as an object and flattened
  (``SerializeExtendedInfo`` true, ``InvocationInfo_*``, ``CommandInfo_*``);
- the record that fails a pipeline carries the InvocationInfo object only (``SerializeExtendedInfo``
  false); a pipeline refused before any command ran (a command or script it cannot run) has none;
- ``ErrorCategory_Message`` reads ``Category: (target:type) [Activity], Reason``, the target
  shortened to 15 + "..." + 15 characters beyond 40;
- the exception carries its own members before System.Exception's (Message, Data,
  InnerException, TargetSite, StackTrace, HelpLink, Source, HResult) and a ToString of
  ``Type: message``. The emulator has no .NET stack: StackTrace and TargetSite are Nil, as for an
  exception a cmdlet creates and writes without throwing (recorded WriteErrorException), except
  the no-language refusal, whose recorded stack is kept.

Approximations, for want of a recording of a cmdlet invoked directly: the InvocationInfo names the
command's place in its pipeline with CommandOrigin Runspace, as the recorded VerboseRecord of a
directly invoked command does (warnings and verbose records, which carry no place, say 1 of 1);
BoundParameters is empty as in every recorded record; the flattened BoundParameters repeats the dictionary where Windows writes a
<Ref> to it (psrpcore cannot reference a dictionary), which a client reads as the same value.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from psrpcore.types import (
    CommandOrigin,
    CommandTypes,
    PSDict,
    PSInt,
    PSInt64,
    PSList,
    PSNoteProperty,
    PSObject,
    PSString,
    SessionStateEntryVisibility,
)

from ..powershell.errors import PSError
from ..powershell.metadata import syntax
from ..powershell.reference import load_reference
from ..powershell.serialize import clixml_text

_MSCORLIB = "mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089"
_BOUND = f"System.Collections.Generic.Dictionary`2[[System.String, {_MSCORLIB}],[System.Object, {_MSCORLIB}]]"
_BOUND_TYPES = [_BOUND, "System.Object"]
_BOUND_INFORMATIONAL = ["System.Management.Automation.PSBoundParametersDictionary", _BOUND, "System.Object"]
_UNBOUND = [f"System.Collections.Generic.List`1[[System.Object, {_MSCORLIB}]]", "System.Object"]
_ITERATION = [f"System.Collections.ObjectModel.ReadOnlyCollection`1[[System.Int32, {_MSCORLIB}]]", "System.Object"]

# .NET base chains of the exception types cmdlets use; anything else derives from System.Exception.
_RUNTIME = ["System.Management.Automation.RuntimeException", "System.SystemException"]
_BASES: dict[str, list[str]] = {
    "System.Management.Automation.RuntimeException": ["System.SystemException"],
    "System.Management.Automation.CommandNotFoundException": _RUNTIME,
    "System.Management.Automation.ParameterBindingException": _RUNTIME,
    "System.Management.Automation.ParseException": _RUNTIME,
    "System.Management.Automation.PSArgumentException": ["System.ArgumentException", "System.SystemException"],
    "System.Management.Automation.PSRemotingDataStructureException": [
        "System.Management.Automation.RuntimeException", "System.SystemException"],
    "System.Management.Automation.ParentContainsErrorRecordException": ["System.SystemException"],
    "System.Management.Automation.ItemNotFoundException": ["System.Management.Automation.SessionStateException",
                                                           *_RUNTIME],
    "System.Management.Automation.PipelineStoppedException": _RUNTIME,
    "Microsoft.PowerShell.Commands.WriteErrorException": ["System.SystemException"],
    "Microsoft.PowerShell.Commands.ServiceCommandException": ["System.SystemException"],
    "System.ArgumentException": ["System.SystemException"],
    "System.InvalidOperationException": ["System.SystemException"],
    "System.NotSupportedException": ["System.SystemException"],
    "System.TimeoutException": ["System.SystemException"],
    "System.IO.IOException": ["System.SystemException"],
    "System.Runtime.InteropServices.COMException": ["System.Runtime.InteropServices.ExternalException",
                                                    "System.SystemException"],
    "Microsoft.HyperV.PowerShell.VirtualizationException": [],
    **{f"Microsoft.HyperV.PowerShell.Virtualization{kind}Exception": ["Microsoft.HyperV.PowerShell.VirtualizationException"]
       for kind in ("OperationFailed", "InvalidArgument", "ObjectNotFound", "InvalidState")},
}
# HResult each .NET exception type sets in its constructor (COR_E_* / E_* values); a type without one
# inherits its base's.
_HRESULTS = {
    "System.Exception": -2146233088,  # COR_E_EXCEPTION
    "System.SystemException": -2146233087,  # COR_E_SYSTEM
    "System.ArgumentException": -2147024809,  # E_INVALIDARG
    "System.InvalidOperationException": -2146233079,  # COR_E_INVALIDOPERATION
    "System.NotSupportedException": -2146233067,  # COR_E_NOTSUPPORTED
    "System.TimeoutException": -2146233083,  # COR_E_TIMEOUT
    "System.IO.IOException": -2146232800,  # COR_E_IO
    "System.Runtime.InteropServices.ExternalException": -2147467259,  # E_FAIL
}
# members a type declares before System.Exception's, in the order Windows serializes them
_OWN_MEMBERS: dict[str, list[str]] = {
    "System.Management.Automation.CommandNotFoundException": ["ErrorRecord", "CommandName",
                                                              "WasThrownFromThrowStatement"],
    "System.Management.Automation.ParseException": ["Errors", "Message", "ErrorRecord",
                                                    "WasThrownFromThrowStatement"],
    "System.Management.Automation.RuntimeException": ["ErrorRecord", "WasThrownFromThrowStatement"],
}
# The no-language refusal as recorded (test_psrp_with_jea_configuration): thrown by the engine.
_NO_LANGUAGE_SITE = ("System.Management.Automation.CommandProcessorBase CreateCommandProcessor("
                     "System.Management.Automation.ExecutionContext, System.Management.Automation.CommandFactory, "
                     "Boolean, System.Management.Automation.CommandOrigin)")
_NO_LANGUAGE_STACK = (
    "   at System.Management.Automation.Runspaces.Command.CreateCommandProcessor(ExecutionContext executionContext, "
    "CommandFactory commandFactory, Boolean addToHistory, CommandOrigin origin)\r\n"
    "   at System.Management.Automation.Runspaces.LocalPipeline.CreatePipelineProcessor()\r\n"
    "   at System.Management.Automation.Runspaces.LocalPipeline.InvokeHelper()\r\n"
    "   at System.Management.Automation.Runspaces.LocalPipeline.InvokeThreadProc()")
_THROWN = {"ScriptsNotAllowed": ("System.Management.Automation", _NO_LANGUAGE_SITE, _NO_LANGUAGE_STACK)}


def _type_chain(exception_type: str) -> list[str]:
    chain = [exception_type, *_BASES.get(exception_type, [])]
    return [t for t in chain if t not in ("System.Exception", "System.Object")] + ["System.Exception", "System.Object"]


def _hresult(chain: list[str]) -> int:
    return next(_HRESULTS[t] for t in chain if t in _HRESULTS)


def _own_members(chain: list[str]) -> list[str]:
    return next((_OWN_MEMBERS[t] for t in chain if t in _OWN_MEMBERS), [])


def _category_number(name: str) -> int:
    from psrpcore.types import ErrorCategory

    try:
        return int(ErrorCategory[name])
    except KeyError:
        return int(ErrorCategory.NotSpecified)


def _target(value: Any) -> Any:
    # the record's TargetObject must serialize; cmdlet values other than primitives go as their string form
    if value is None or isinstance(value, (bool, PSObject)):
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return str(value)


def _target_type(value: Any) -> str:
    names = getattr(value, "type_names", None)
    if isinstance(names, list) and names:
        return str(names[0]).rsplit(".", 1)[-1]
    for kind, name in ((bool, "Boolean"), (str, "String"), (int, "Int32"), (float, "Double")):
        if isinstance(value, kind):  # psrpcore's PSString and friends included
            return name
    return type(value).__name__


def _ellipsize(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:15]}...{text[-15:]}"


def category_message(category: str, activity: str, reason: str, target_name: str, target_type: str) -> str:
    """ErrorCategoryInfo.GetMessage(): ``ObjectNotFound: (FileSystem:String) [Get-Item], ProviderNotFoundException``."""
    return f"{category}: ({_ellipsize(target_name)}:{target_type}) [{activity}], {reason}"


def _obj(type_names: list[str], to_string: str | None = None) -> PSObject:
    obj = PSObject()
    obj.PSObject.type_names = list(type_names)
    if to_string is not None:
        obj.PSObject.to_string = clixml_text(to_string)
    return obj


def _add(members: list[PSNoteProperty], name: str, value: Any) -> None:
    members.append(PSNoteProperty(name, value))


def exception_object(error: PSError) -> PSObject:
    chain = _type_chain(error.exception_type)
    source, site, stack = _THROWN.get(error.fqid, (None, None, None))
    text = f"{error.exception_type}: {error.message}" + (f"\r\n{stack}" if stack else "")
    exception = _obj(chain, text)
    props = exception.PSObject.adapted_properties
    for member in _own_members(chain):
        if member == "Errors":
            _add(props, "Errors", None)
        elif member == "Message":
            _add(props, "Message", PSString(error.message))
        elif member == "ErrorRecord":
            _add(props, "ErrorRecord", PSString(error.message))  # the inner record at depth: its ToString
        elif member == "CommandName":
            _add(props, "CommandName", PSString(str(error.target or "")))
        elif member == "WasThrownFromThrowStatement":
            _add(props, "WasThrownFromThrowStatement", False)
    if "Message" not in _own_members(chain):
        _add(props, "Message", PSString(error.message))
    data = PSDict()
    data.PSObject.type_names = ["System.Collections.ListDictionaryInternal", "System.Object"]
    _add(props, "Data", data)
    _add(props, "InnerException", None)
    _add(props, "TargetSite", PSString(site) if site else None)
    _add(props, "StackTrace", PSString(stack) if stack else None)
    _add(props, "HelpLink", None)
    _add(props, "Source", PSString(source) if source else None)
    _add(props, "HResult", PSInt(_hresult(chain)))
    return exception


@dataclasses.dataclass
class _Invocation:
    """One command's InvocationInfo: the object, and the members that travel flattened."""

    command: str
    bound: PSDict
    unbound: PSList
    position: int = 1
    length: int = 1
    expecting_input: bool = False

    @classmethod
    def of(cls, command: str, bound_types: list[str], place: tuple[int, int, bool] | None = None) -> _Invocation:
        bound = PSDict()
        bound.PSObject.type_names = list(bound_types)
        unbound = PSList()
        unbound.PSObject.type_names = list(_UNBOUND)
        return cls(command, bound, unbound, *(place or (1, 1, False)))

    def info_object(self) -> PSObject:
        info = _obj(["System.Management.Automation.InvocationInfo", "System.Object"],
                    "System.Management.Automation.InvocationInfo")
        props = info.PSObject.adapted_properties
        for name, value in [
            ("MyCommand", PSString(self.command)), ("BoundParameters", self.bound), ("UnboundArguments", self.unbound),
            ("ScriptLineNumber", PSInt(0)), ("OffsetInLine", PSInt(0)), ("HistoryId", PSInt64(1)),
            ("ScriptName", PSString("")), ("Line", PSString("")), ("PositionMessage", PSString("")),
            ("PSScriptRoot", PSString("")), ("PSCommandPath", None), ("InvocationName", PSString(self.command)),
            ("PipelineLength", PSInt(self.length)), ("PipelinePosition", PSInt(self.position)),
            ("ExpectingInput", self.expecting_input),
            ("CommandOrigin", PSString("Runspace")), ("DisplayScriptPosition", None),
        ]:
            _add(props, name, value)
        return info

    def flattened(self, members: list[PSNoteProperty], iteration_name: str) -> None:
        iteration = PSList([PSInt(0)] * (self.length + 1))  # one counter per command, and the input's
        iteration.PSObject.type_names = ["System.Int32[]", "System.Array", "System.Object"]
        for name, value in [
            ("InvocationInfo_BoundParameters", self.bound), ("InvocationInfo_CommandOrigin", CommandOrigin.Runspace),
            ("InvocationInfo_ExpectingInput", self.expecting_input),
            ("InvocationInfo_InvocationName", PSString(self.command)),
            ("InvocationInfo_Line", PSString("")), ("InvocationInfo_OffsetInLine", PSInt(0)),
            ("InvocationInfo_HistoryId", PSInt64(1)), ("InvocationInfo_PipelineIterationInfo", iteration),
            ("InvocationInfo_PipelineLength", PSInt(self.length)),
            ("InvocationInfo_PipelinePosition", PSInt(self.position)),
            ("InvocationInfo_PSScriptRoot", PSString("")), ("InvocationInfo_PSCommandPath", None),
            ("InvocationInfo_PositionMessage", PSString("")), ("InvocationInfo_ScriptLineNumber", PSInt(0)),
            ("InvocationInfo_ScriptName", PSString("")), ("InvocationInfo_UnboundArguments", self.unbound),
            ("SerializeExtent", False), ("CommandInfo_CommandType", CommandTypes.Cmdlet),
            ("CommandInfo_Definition", PSString(self.definition())),
            ("CommandInfo_Name", PSString(self.command)),
            ("CommandInfo_Visibility", SessionStateEntryVisibility.Public),
        ]:
            _add(members, name, value)
        pipeline_iteration = PSList([PSInt(0), PSInt(1)])
        pipeline_iteration.PSObject.type_names = list(_ITERATION)
        _add(members, iteration_name, pipeline_iteration)

    def definition(self) -> str:
        signature = load_reference().signature(self.command)
        return syntax(signature) if signature is not None else self.command


def _invocation(error: PSError, command: str | None) -> _Invocation | None:
    """The command a record belongs to, when it is a cmdlet the host knows: a pipeline refused before
    any command ran (unknown command, script text) has no InvocationInfo."""
    name = error.activity if error.activity is not None else command
    if not name or load_reference().signature(name) is None:
        return None
    return _Invocation.of(load_reference().signature(name).name, _BOUND_TYPES,  # type: ignore[union-attr]
                          error.invocation)


def error_record(error: PSError, command: str | None, *, written: bool, invocation_info: bool) -> PSObject:
    """The ErrorRecord for ``error`` raised by ``command``: ``written`` for the error stream (else the
    record of a failed pipeline); ``invocation_info`` when the client asked for AddInvocationInfo."""
    target = _target(error.target)
    activity = error.activity if error.activity is not None else (command or "")
    reason = error.reason or error.exception_type.rsplit(".", 1)[-1]
    target_name = "" if target is None else str(target)
    target_type = "" if target is None else _target_type(error.target)
    invocation = _invocation(error, command) if invocation_info else None

    record = _obj(["System.Management.Automation.ErrorRecord", "System.Object"], error.message)
    members = record.PSObject.extended_properties
    if written:
        _add(members, "writeErrorStream", True)
    _add(members, "Exception", exception_object(error))
    _add(members, "TargetObject", target)
    _add(members, "FullyQualifiedErrorId", PSString(error.fqid))
    _add(members, "InvocationInfo", invocation.info_object() if invocation is not None else None)
    _add(members, "ErrorCategory_Category", PSInt(_category_number(error.category)))
    _add(members, "ErrorCategory_Activity", PSString(activity))
    _add(members, "ErrorCategory_Reason", PSString(reason))
    _add(members, "ErrorCategory_TargetName", PSString(target_name))
    _add(members, "ErrorCategory_TargetType", PSString(target_type))
    _add(members, "ErrorCategory_Message",
         PSString(category_message(error.category, activity, reason, target_name, target_type)))
    extended = written and invocation is not None
    _add(members, "SerializeExtendedInfo", extended)
    if extended and invocation is not None:
        invocation.flattened(members, "PipelineIterationInfo")
    if written:
        _add(members, "PSMessageDetails", None)
    return record


def informational_record(kind: str, message: str, command: str | None, *, invocation_info: bool) -> PSObject:
    """A WarningRecord or VerboseRecord (``kind`` "Warning" / "Verbose")."""
    record = _obj([f"System.Management.Automation.{kind}Record", "System.Management.Automation.InformationalRecord",
                   "System.Object"], message)
    members = record.PSObject.extended_properties
    _add(members, "InformationalRecord_Message", PSString(message))
    signature = load_reference().signature(command) if command and invocation_info else None
    _add(members, "InformationalRecord_SerializeInvocationInfo", signature is not None)
    if signature is not None:
        _Invocation.of(signature.name, _BOUND_INFORMATIONAL).flattened(
            members, "InformationalRecord_PipelineIterationInfo")
    return record


def internal_error(exc: BaseException, command: str | None) -> PSError:
    """An unexpected failure inside the emulator, reported as PowerShell would report a .NET exception."""
    return PSError(
        message=f"{type(exc).__name__}: {exc}",
        category="NotSpecified",
        fqid="System.Exception" + (f",{command}" if command else ""),
        exception_type="System.Exception",
        reason="Exception",
        terminating=True,
    )
