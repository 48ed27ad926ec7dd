"""Object shapes from cmdlets.json: type-name chains, every property with a typed default, enums."""
from __future__ import annotations

import datetime as dt
from typing import Any

from ..powershell.reference import load_reference
from ..powershell.values import EnumValue, PSOut

HV = "Microsoft.HyperV.PowerShell."


def enum(type_name: str, name: str) -> EnumValue:
    """A Hyper-V enum value by short type name (e.g. "VMState") and member name."""
    full = type_name if "." in type_name else HV + type_name
    ref = load_reference()
    return EnumValue(full, name, ref.enums[full][name], ref.enum_underlying[full])


def _default(type_text: str) -> Any:
    base = type_text.rstrip("?")
    if type_text.endswith("?"):
        return None
    if base.endswith("[]") or base.startswith(("List<", "IReadOnlyList<")):
        return []
    if base == "bool":
        return False
    if base in ("int", "long", "uint", "ulong", "ushort", "byte"):
        return 0
    if base == "TimeSpan":
        return dt.timedelta(0)
    if HV + base in load_reference().enums:
        values = load_reference().enums[HV + base]
        first = next((n for n, v in values.items() if v == 0), next(iter(values)))
        return enum(base, first)
    return None  # strings, DateTime, CimSession and other complex objects: null


class HvOut(PSOut):
    """A PSOut that remembers the model object it shows, so pipeline input finds it again."""

    model: Any = None


def hyperv_object(kind: str, values: dict[str, Any], model: Any = None, to_string: str | None = None) -> HvOut:
    """An object of ``output_types[kind]`` with every property: ``values`` first checked against
    the reference (a typo here is a bug, not a new property), the rest typed defaults."""
    spec = load_reference().output_types[kind]
    props = spec["properties"]
    unknown = set(values) - set(props)
    if unknown:
        raise KeyError(f"{kind} has no properties {sorted(unknown)}")
    properties = {name: values[name] if name in values else _default(t) for name, t in props.items()}
    out = HvOut(type_names=[HV + c for c in spec["class_chain"]] + ["System.Object"], properties=properties,
                to_string=to_string or f"{HV}{kind}", alias_properties=dict(spec.get("ps_alias_properties") or {}))
    out.model = model
    return out


def plain_object(type_names: list[str], properties: dict[str, Any], model: Any = None,
                 to_string: str | None = None) -> HvOut:
    out = HvOut(type_names=[*type_names, "System.Object"] if type_names[-1] != "System.Object" else type_names,
                properties=properties, to_string=to_string)
    out.model = model
    return out
