"""GET_COMMAND_METADATA answers: what Get-Command tells a remote client about each cmdlet.

Shape as recorded from Windows PowerShell 5.1 in pypsrp's
tests/tests_pypsrp/responses/test_psrp_get_command_metadata.yml: one
``Selected.System.Management.Automation.CmdletInfo`` per command with Name, Namespace (the
module), HelpUri, CommandType, ResolvedCommandName, OutputType and Parameters (the cmdlet's
own, then the common parameters, then WhatIf/Confirm), each a ParameterMetadata.
"""
from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

from psrpcore.types import CommandTypes, PSDict, PSList, PSNoteProperty, PSObject, PSString

from .reference import COMMON_PARAMETERS, NET_INTEGERS, Reference, Signature

_MSCORLIB = "mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089"
_SMA = "System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"
_OUTPUT_TYPE = [f"System.Collections.ObjectModel.ReadOnlyCollection`1[[System.Management.Automation.PSTypeName, {_SMA}]]",
                "System.Object"]
_PARAMETERS = [f"System.Collections.Generic.Dictionary`2[[System.String, {_MSCORLIB}],"
               f"[System.Management.Automation.ParameterMetadata, {_SMA}]]", "System.Object"]
_ALIASES = [f"System.Collections.ObjectModel.Collection`1[[System.String, {_MSCORLIB}]]", "System.Object"]
_PARAMETER_METADATA = ["System.Management.Automation.ParameterMetadata", "System.Object"]
_SELECTED = ["Selected.System.Management.Automation.CmdletInfo", "System.Management.Automation.PSCustomObject",
             "System.Object"]
# Windows PowerShell 5.1 has no ProgressAction; WhatIf/Confirm follow the common parameters
_COMMON_51 = [name for name in COMMON_PARAMETERS if name != "ProgressAction"]
_SHOULD_PROCESS = ("WhatIf", "Confirm")
_SYSTEM = {"String", "Boolean", "Guid", "Double", "Object", "TimeSpan", "DateTime", "Uri", "Type", "Char", "Single",
           "Decimal"}
_SMA_TYPES = {"SwitchParameter", "PSCredential", "ActionPreference", "PSObject", "ScriptBlock"}


def full_type_name(short: str, ref: Reference) -> str:
    """A signature's parameter type as ParameterMetadata.ParameterType names it (full .NET name)."""
    suffix = "[]" if short.endswith("[]") else ""
    base = short.removesuffix("[]")
    if "." in base:
        return short
    if base in NET_INTEGERS and NET_INTEGERS[base].endswith(base):
        return NET_INTEGERS[base] + suffix
    if base in _SYSTEM:
        return f"System.{base}{suffix}"
    if base in _SMA_TYPES:
        return f"System.Management.Automation.{base}{suffix}"
    if base == "Hashtable":
        return "System.Collections.Hashtable" + suffix
    if base in ("CimSession", "CimInstance"):
        return f"Microsoft.Management.Infrastructure.{base}{suffix}"
    enum = ref.enum_type(base)
    if enum is not None:
        return enum + suffix
    if base in ref.output_types:
        return f"Microsoft.HyperV.PowerShell.{base}{suffix}"
    return short


def _list(items: Iterable[str], type_names: list[str]) -> PSList:
    value = PSList(PSString(i) for i in items)
    value.PSObject.type_names = list(type_names)
    return value


def _parameter(name: str, type_name: str, aliases: Iterable[str], switch: bool) -> PSObject:
    meta = PSObject()
    meta.PSObject.type_names = list(_PARAMETER_METADATA)
    meta.PSObject.to_string = "System.Management.Automation.ParameterMetadata"
    props = meta.PSObject.adapted_properties
    props.append(PSNoteProperty("Name", PSString(name)))
    props.append(PSNoteProperty("ParameterType", PSString(type_name)))
    props.append(PSNoteProperty("Aliases", _list(aliases, _ALIASES)))
    props.append(PSNoteProperty("IsDynamic", False))
    props.append(PSNoteProperty("SwitchParameter", switch))
    return meta


def cmdlet_info(signature: Signature, ref: Reference, help_uri: str, outputs: list[str]) -> PSObject:
    info = PSObject()
    info.PSObject.type_names = list(_SELECTED)
    notes = info.PSObject.extended_properties
    notes.append(PSNoteProperty("Name", PSString(signature.name)))
    notes.append(PSNoteProperty("Namespace", PSString(signature.module)))
    notes.append(PSNoteProperty("HelpUri", PSString(help_uri)))
    notes.append(PSNoteProperty("CommandType", CommandTypes.Cmdlet))
    notes.append(PSNoteProperty("ResolvedCommandName", None))
    notes.append(PSNoteProperty("OutputType", _list(outputs, _OUTPUT_TYPE)))
    parameters = PSDict()
    parameters.PSObject.type_names = list(_PARAMETERS)
    common = {c.lower() for c in COMMON_PARAMETERS}
    tail = {s.lower() for s in _SHOULD_PROCESS}
    own = [p for key, p in signature.parameters.items() if key not in common and key not in tail]
    ordered = own + [signature.parameters[c.lower()] for c in _COMMON_51] + [
        signature.parameters[s.lower()] for s in _SHOULD_PROCESS if s.lower() in signature.parameters]
    for param in ordered:
        parameters[PSString(param.name)] = _parameter(param.name, full_type_name(param.type, ref), param.aliases,
                                                      param.is_switch)
    notes.append(PSNoteProperty("Parameters", parameters))
    return info


def _matches(value: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


@functools.cache  # immutable package data
def _documented() -> dict[str, Any]:
    text = resources.files("pytest_nestedhv.sim").joinpath("reference/cmdlets.json").read_text("utf-8")
    return dict(json.loads(text)["cmdlets"])


def command_metadata(ref: Reference, names: list[str], command_type: int, namespaces: list[str]) -> list[PSObject]:
    """Every cmdlet of the reference whose name and module match, sorted by name as Get-Command sorts.
    HelpUri and OutputType come from the documentation (cmdlets.json: online_version, outputs)."""
    raw = _documented()
    if not command_type & int(CommandTypes.Cmdlet):
        return []  # the emulated host has cmdlets only: no aliases, functions, scripts or applications
    found = [s for s in ref.signatures.values() if _matches(s.name, names or ["*"]) and _matches(s.module, namespaces)]
    found.sort(key=lambda s: s.name.lower())
    return [cmdlet_info(s, ref, str(raw.get(s.name, {}).get("online_version", "")),
                        list(raw.get(s.name, {}).get("outputs", []))) for s in found]


# PowerShell's type accelerators as Get-Command's syntax prints them
_ACCELERATORS = {"String": "string", "Int32": "int", "Int64": "long", "Boolean": "bool", "Byte": "byte",
                 "Double": "double", "Guid": "guid", "Object": "Object", "PSCredential": "pscredential",
                 "Hashtable": "hashtable", "TimeSpan": "timespan", "DateTime": "datetime", "UInt32": "uint32",
                 "UInt64": "uint64", "UInt16": "uint16", "ScriptBlock": "scriptblock", "PSObject": "psobject"}


def _syntax_type(type_name: str) -> str:
    suffix = "[]" if type_name.endswith("[]") else ""
    base = type_name.removesuffix("[]").rsplit(".", 1)[-1]
    return _ACCELERATORS.get(base, base) + suffix


def syntax(signature: Signature) -> str:
    """CommandInfo.Definition of a cmdlet: one line per parameter set, as Get-Command -Syntax shows it,
    surrounded by CR LF (recorded for Get-Item in test_client_fetch_file_fail_missing.yml)."""
    lines = []
    for parameter_set in signature.sets:
        parts = [signature.name]
        members = list(parameter_set.members.values())
        positional = sorted((m for m in members if m.position is not None), key=lambda m: m.position or 0)
        named = [m for m in members if m.position is None and m.name not in _SHOULD_PROCESS]
        for member in positional + named:
            param = signature.parameters[member.name.lower()]
            if param.is_switch:
                text = f"-{param.name}"
            else:
                name = f"[-{param.name}]" if member.position is not None else f"-{param.name}"
                text = f"{name} <{_syntax_type(param.type)}>"
            parts.append(text if member.mandatory else f"[{text}]")
        parts += [f"[-{s}]" for s in _SHOULD_PROCESS if s.lower() in parameter_set.members]
        parts.append("[<CommonParameters>]")
        lines.append(" ".join(parts))
    return "\r\n" + "\r\n\r\n".join(lines) + "\r\n"
