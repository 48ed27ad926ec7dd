"""Turn cmdlet output into psrpcore objects, as Windows PowerShell serializes for remoting.

Remoting serializes at depth 1: a top-level object keeps its properties; an object nested in
a property arrives as its ToString() text. .NET properties travel as adapted properties
(<Props>), type-extension aliases and remoting notes (PSComputerName) as <MS> members.
Integer widths follow the declared property types of ``output_types``.
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
            element = (declared or "").removesuffix("[]").removeprefix("List<").removesuffix(">")
            return [self.value(v, depth, element, prefix) for v in value]
        if isinstance(value, dict):
            return {str(k): self.value(v, depth, prefix=prefix) for k, v in value.items()}
        if isinstance(value, PSOut):
            return self.object(value, depth) if depth > 0 else PSString(self._text(value))
        return PSString(str(value))

    @staticmethod
    def _text(obj: PSOut) -> str:
        return obj.to_string if obj.to_string is not None else obj.type_names[0]

    def object(self, obj: PSOut, depth: int = 1, remoting: Remoting | None = None) -> PSObject:
        declared = self._declared(obj)
        result = PSObject()
        prefix = "Deserialized." if remoting else ""
        result.PSObject.type_names = [n if n.startswith(prefix) else prefix + n for n in obj.type_names]
        result.PSObject.to_string = clixml_text(self._text(obj))
        adapted = result.PSObject.adapted_properties
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
