"""Values that cmdlets produce and consume, independent of the wire format.

Cmdlets return plain Python values (str, int, bool, float, None, list, dict, datetime,
timedelta, uuid.UUID) plus the three types below; ``serialize.py`` turns them into
psrpcore objects exactly as Windows PowerShell would serialize them.
"""
from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class EnumValue:
    """A .NET enum value: serialized with its type names, name (ToString) and number."""

    type_name: str  # full .NET name, e.g. "Microsoft.HyperV.PowerShell.VMState"
    name: str  # e.g. "Running"
    value: int  # e.g. 2
    underlying: str = "System.Int32"


@dataclasses.dataclass(frozen=True)
class Version:
    """A System.Version (e.g. Get-VMHostSupportedVersion's Version)."""

    major: int
    minor: int
    build: int = -1
    revision: int = -1

    def __str__(self) -> str:
        parts = [self.major, self.minor] + [p for p in (self.build, self.revision) if p >= 0]
        return ".".join(str(p) for p in parts)


@dataclasses.dataclass
class PSOut:
    """A .NET object with a type name chain and ordered properties.

    ``type_names`` is the full chain, most derived first, e.g.
    ["Microsoft.HyperV.PowerShell.VirtualMachine", "Microsoft.HyperV.PowerShell.VirtualMachineBase",
     ..., "System.Object"]. ``to_string`` is what ToString() gives (serialized as <ToString>).
    ``properties`` keep insertion order; values may themselves be PSOut, EnumValue, lists...
    ``alias_properties`` maps a PowerShell alias property to the property it reads (VMName -> Name);
    Windows serializes aliases as ordinary properties with the target's value.
    """

    type_names: list[str]
    properties: dict[str, Any]
    to_string: str | None = None
    alias_properties: dict[str, str] = dataclasses.field(default_factory=dict)

    def get(self, name: str) -> Any:
        """Property lookup the way PowerShell does it: case-insensitive, aliases included."""
        target = next((t for a, t in self.alias_properties.items() if a.lower() == name.lower()), name)
        for key, value in self.properties.items():
            if key.lower() == target.lower():
                return value
        raise KeyError(name)
