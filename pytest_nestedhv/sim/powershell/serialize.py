"""Turn cmdlet output into psrpcore objects, as Windows PowerShell serializes for remoting.

Remoting serializes at depth 1 (PowerShell's serializer: a value is written with its type only
while depth remains; at depth 0 anything that is not a primitive known type - an enum, another
object - is written as its ToString()):
- a top-level object keeps its type names and properties; a top-level enum keeps its type;
- a property whose value is an enum or an object arrives as a string (<S N="Status">Running</S>;
  recorded in pypsrp's tests/tests_pypsrp/responses: HistoryInfo.ExecutionStatus,
  InvocationInfo.CommandOrigin);
- a collection property stays a collection with its .NET type names (System.UInt32[], List`1...)
  and its elements as strings when they are not primitives.
.NET properties travel as adapted properties (<Props>), type-extension aliases and remoting
notes (PSComputerName) as <MS> members. Integer widths follow the declared property types of
``output_types``. The Hyper-V module's objects have no recording: their shapes are derived from
these rules plus cmdlets.json's declared property types.
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import re
import uuid
from typing import Any

from psrpcore.types import (
    PSByte,
    PSDateTime,
    PSDouble,
    PSDuration,
    PSEnumBase,
    PSGuid,
    PSInt,
    PSInt16,
    PSInt64,
    PSList,
    PSNoteProperty,
    PSObject,
    PSString,
    PSType,
    PSUInt,
    PSUInt16,
    PSUInt64,
    PSVersion,
)
from psrpcore.types._enum import PSEnumMeta

from .reference import NET_INTEGERS, Reference
from .values import EnumValue, PSOut, Version

# Declared property types of objects outside cmdlets.json's output_types (their .NET / CIM
# declarations), so integers travel with Windows' widths: CIM uint32/uint64 as U32/U64.
EXTRA_DECLARED: dict[str, dict[str, str]] = {
    "VirtualHardDisk": {"FileSize": "ulong", "Size": "ulong", "MinimumSize": "ulong?", "LogicalSectorSize": "uint",
                        "PhysicalSectorSize": "uint", "BlockSize": "uint", "FragmentationPercentage": "uint?",
                        "Alignment": "uint", "DiskNumber": "uint?", "Number": "uint?"},
    "Win32_ComputerSystem": {"NumberOfProcessors": "uint", "NumberOfLogicalProcessors": "uint",
                             "TotalPhysicalMemory": "ulong"},
    "Win32_Processor": {"Architecture": "ushort", "NumberOfCores": "uint", "NumberOfLogicalProcessors": "uint",
                        "MaxClockSpeed": "uint"},
    "Win32_OperatingSystem": {"ProductType": "uint", "OperatingSystemSKU": "uint", "TotalVisibleMemorySize": "ulong",
                              "FreePhysicalMemory": "ulong"},
    "Win32_DeviceGuard": {"AvailableSecurityProperties": "uint[]", "CodeIntegrityPolicyEnforcementStatus": "uint",
                          "RequiredSecurityProperties": "uint[]", "SecurityServicesConfigured": "uint[]",
                          "SecurityServicesRunning": "uint[]", "UsermodeCodeIntegrityPolicyEnforcementStatus": "uint",
                          "VirtualizationBasedSecurityStatus": "uint"},
}
_UNDERLYING = {"System.Int32": PSInt, "System.UInt32": PSUInt, "System.Int64": PSInt64, "System.UInt16": PSUInt16,
               "System.Byte": PSByte, "System.Int16": PSInt16, "System.UInt64": PSUInt64}
_INT_BY_DECLARED = {spelling: _UNDERLYING[net] for spelling, net in NET_INTEGERS.items()}
_MSCORLIB = "mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089"
# assumption: the Hyper-V module's object types live in this assembly (Windows Server 2016 and later)
_HYPERV_ASSEMBLY = "Microsoft.HyperV.PowerShell.Objects, Version=10.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"
_SYSTEM_SPELLINGS = {"string": "System.String", "bool": "System.Boolean", "Guid": "System.Guid",
                     "DateTime": "System.DateTime", "TimeSpan": "System.TimeSpan", "double": "System.Double",
                     "object": "System.Object"}


@functools.cache  # one class per enum member: classes are immutable and registered by psrpcore
def _enum_class(type_name: str, name: str, value: int, underlying: str, prefix: str = "") -> type[PSEnumBase]:
    namespace = PSEnumMeta.__prepare__(type_name, (PSEnumBase,))
    namespace[name] = value
    cls = PSEnumMeta(type_name.rsplit(".", 1)[-1], (PSEnumBase,), namespace,
                     base_type=_UNDERLYING.get(underlying, PSInt))
    if prefix:  # every name of the chain renamed, as a deserializer does
        names = [prefix + n for n in (type_name, "System.Enum", "System.ValueType", "System.Object")]
        return PSType(names, skip_inheritance=True, rehydrate=False)(cls)
    return PSType([type_name], rehydrate=False)(cls)


def clixml_text(text: str) -> str:
    """A ToString text escaped as CLIXML escapes strings (control characters as _xHHHH_, "_x" itself
    as _x005F_x). psrpcore escapes <S> values but writes <ToString> raw, and the XML parser on the
    client then folds a raw CR LF into LF: Windows' messages keep their CR LF."""
    text = re.sub(r"(?i)_(x)", r"_x005F_\1", text)
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"_x{ord(m.group()):04X}_", text)


def _element_type(declared: str) -> str:
    text = declared.rstrip("?").removesuffix("[]")
    for generic in ("List<", "IReadOnlyList<"):
        if text.startswith(generic):
            return text.removeprefix(generic).removesuffix(">")
    return text


@dataclasses.dataclass(frozen=True)
class Remoting:
    """Set when output crosses an Invoke-Command hop: the notes PowerShell adds to each object."""

    computer_name: str
    runspace_id: uuid.UUID


class Serializer:
    def __init__(self, ref: Reference) -> None:
        self._ref = ref

    def _declared(self, obj: PSOut) -> dict[str, str]:
        for type_name in obj.type_names:
            short = type_name.removeprefix("Deserialized.").rsplit(".", 1)[-1]
            shape = self._ref.output_types.get(short)
            if shape is not None:
                return shape["properties"]
            extra = EXTRA_DECLARED.get(short.rsplit("/", 1)[-1].rsplit("#", 1)[-1])
            if extra is not None:
                return extra
        return {}

    def value(self, value: Any, depth: int, declared: str | None = None, prefix: str = "") -> Any:
        """``prefix`` "Deserialized." for values inside an object that crossed an Invoke-Command hop:
        the hop's deserializer renamed every type of a non-primitive value (enums included)."""
        if value is None or isinstance(value, (bool, PSObject)):
            return value
        if isinstance(value, EnumValue):
            if depth <= 0:
                return PSString(value.name)
            return _enum_class(value.type_name, value.name, value.value, value.underlying, prefix)(value.value)
        if isinstance(value, Version):
            return PSVersion(major=value.major, minor=value.minor,
                             build=value.build if value.build >= 0 else None,
                             revision=value.revision if value.revision >= 0 else None)
        if isinstance(value, int):
            kind = _INT_BY_DECLARED.get((declared or "").rstrip("?"))
            if kind is None:
                kind = PSInt if -(2**31) <= value < 2**31 else PSInt64
            return kind(value)
        if isinstance(value, float):
            return PSDouble(value)
        if isinstance(value, str):
            return PSString(value)
        if isinstance(value, datetime.datetime):
            return PSDateTime(value)
        if isinstance(value, datetime.timedelta):
            return PSDuration(value)
        if isinstance(value, uuid.UUID):
            return PSGuid(str(value))
        if isinstance(value, (list, tuple)):
            element = _element_type(declared or "")
            items = PSList(self.value(v, depth, element, prefix) for v in value)
            items.PSObject.type_names = [prefix + n for n in self._collection_type(declared or "")]
            return items
        if isinstance(value, dict):
            return {str(k): self.value(v, depth, prefix=prefix) for k, v in value.items()}
        if isinstance(value, PSOut):
            return self.object(value, depth) if depth > 0 else PSString(self._text(value))
        return PSString(str(value))

    def _full_name(self, short: str) -> tuple[str, str]:
        """(.NET full name, assembly) of a declared element type."""
        if short in NET_INTEGERS:
            return NET_INTEGERS[short], _MSCORLIB
        if short in _SYSTEM_SPELLINGS:
            return _SYSTEM_SPELLINGS[short], _MSCORLIB
        enum = self._ref.enum_type(short)
        if enum is not None:
            return enum, _HYPERV_ASSEMBLY
        if short in self._ref.output_types:
            return self._ref.output_types[short].get("full_name", f"Microsoft.HyperV.PowerShell.{short}"), _HYPERV_ASSEMBLY
        return ("System.Object" if not short else short), _MSCORLIB

    def _collection_type(self, declared: str) -> list[str]:
        """Type names of a collection property as Windows writes them: T[] for arrays (also for an
        IReadOnlyList, whose runtime type the documentation does not name), List`1[[T, assembly]]."""
        declared = declared.rstrip("?")
        if declared.startswith("List<"):
            name, assembly = self._full_name(_element_type(declared))
            return [f"System.Collections.Generic.List`1[[{name}, {assembly}]]", "System.Object"]
        name, _ = self._full_name(_element_type(declared))
        return [f"{name}[]", "System.Array", "System.Object"]

    @staticmethod
    def _text(obj: PSOut) -> str:
        return obj.to_string if obj.to_string is not None else obj.type_names[0]

    def object(self, obj: PSOut, depth: int = 1, remoting: Remoting | None = None) -> PSObject:
        declared = self._declared(obj)
        result = PSObject()
        prefix = "Deserialized." if remoting else ""
        result.PSObject.type_names = [n if n.startswith(prefix) else prefix + n for n in obj.type_names]
        # a PSCustomObject (Select-Object's output) has note properties and no ToString (recorded
        # Selected.* objects: <TN> then <MS>)
        custom = "System.Management.Automation.PSCustomObject" in obj.type_names
        if not custom:
            result.PSObject.to_string = clixml_text(self._text(obj))
        adapted = result.PSObject.extended_properties if custom else result.PSObject.adapted_properties
        for name, value in obj.properties.items():
            if remoting and name == "PSComputerName":
                continue  # a CimInstance's own (local, empty) PSComputerName: the remoting note replaces it
            adapted.append(PSNoteProperty(name, self.value(value, depth - 1, declared.get(name), prefix)))
        notes = result.PSObject.extended_properties
        for alias, target in obj.alias_properties.items():
            notes.append(PSNoteProperty(alias, self.value(obj.get(target), depth - 1, declared.get(target), prefix)))
        if remoting:
            notes.append(PSNoteProperty("PSComputerName", PSString(remoting.computer_name)))
            notes.append(PSNoteProperty("RunspaceId", PSGuid(str(remoting.runspace_id))))
            notes.append(PSNoteProperty("PSShowComputerName", True))
        return result

    def output(self, value: Any, remoting: Remoting | None = None) -> Any:
        """One object written to the output stream."""
        if isinstance(value, PSOut):
            return self.object(value, 1, remoting)
        return self.value(value, 1)


@dataclasses.dataclass(frozen=True)
class Remoted:
    """An object that crossed an Invoke-Command hop (serialized with the remoting notes)."""

    value: Any
    remoting: Remoting
