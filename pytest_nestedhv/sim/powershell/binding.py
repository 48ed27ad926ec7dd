"""Parameter binding the way PowerShell does it, driven by the cmdlet signatures.

Names match exactly, by alias, or by an unambiguous prefix; positional arguments fill the
positions of the candidate parameter sets; the parameter set is resolved from what was bound
and from pipeline input; values are converted to the declared type. Every failure is the
ParameterBindingException PowerShell itself raises, with its message and error id.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from collections.abc import Mapping
from typing import Any

from .errors import PSError
from .reference import ACTION_PREFERENCES, COMMON_PARAMETERS, NET_INTEGERS, Parameter, ParameterSet, Reference, Signature
from .values import PSOut

_COMMON = {name.lower() for name in COMMON_PARAMETERS} | {"whatif", "confirm"}


@dataclasses.dataclass(frozen=True)
class Bound:
    params: dict[str, Any]  # canonical parameter name -> converted value
    parameter_set: str


def binding_error(sig: Signature, message: str, error_id: str, target: Any = None,
                  category: str = "InvalidArgument", exception: str = "ParameterBindingException") -> PSError:
    return PSError(
        message=message,
        category=category,
        fqid=f"{error_id},{sig.class_name}",
        target=target,
        exception_type=f"System.Management.Automation.{exception}",
        reason=exception,
        activity=sig.name,
        terminating=True,
    )


def _resolve_name(sig: Signature, given: str) -> Parameter:
    key = given.lstrip("-").lower()
    if key in sig.parameters:
        return sig.parameters[key]
    by_alias = [p for p in sig.parameters.values() if key in (a.lower() for a in p.aliases)]
    if by_alias:
        return by_alias[0]
    matches = {p.name: p for p in sig.parameters.values() if p.name.lower().startswith(key)}
    matches.update({p.name: p for p in sig.parameters.values() for a in p.aliases if a.lower().startswith(key)})
    if len(matches) == 1:
        return next(iter(matches.values()))
    if not matches:
        raise binding_error(sig, f"A parameter cannot be found that matches parameter name '{given}'.",
                            "NamedParameterNotFound")
    names = " ".join(f"-{n}" for n in sorted(matches))
    raise binding_error(sig, f"Parameter cannot be processed because the parameter name '{given}' is ambiguous. "
                             f"Possible matches include: {names}.", "AmbiguousParameter")


def _in_set(pset: ParameterSet, key: str) -> bool:
    return key in pset.members or key in _COMMON


def _candidate_sets(sig: Signature, keys: set[str]) -> list[ParameterSet]:
    if not sig.sets:
        return [ParameterSet("__AllParameterSets", True, {})]
    return [s for s in sig.sets if all(_in_set(s, k) for k in keys)]


def _describe(value: Any) -> str:
    return "" if value is None else str(value)


def _convert_error(sig: Signature, param: Parameter, value: Any, net_type: str, detail: str) -> PSError:
    return binding_error(
        sig,
        f"Cannot bind parameter '{param.name}'. Cannot convert value \"{_describe(value)}\" to type "
        f"\"{net_type}\". Error: \"{detail}\"",
        "CannotConvertArgumentNoMessage",
    )


def _scalar(value: Any) -> Any:
    """A one-element list binds to a scalar parameter as its element, as in PowerShell."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _to_int(sig: Signature, param: Parameter, value: Any, net_type: str) -> int:
    value = _scalar(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    multipliers = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}
    match = re.fullmatch(r"(\d+)(kb|mb|gb|tb)?", text, re.IGNORECASE)
    if match is None:
        raise _convert_error(sig, param, value, net_type, "Input string was not in a correct format.")
    return int(match.group(1)) * multipliers.get((match.group(2) or "").lower(), 1)


def _to_enum(sig: Signature, param: Parameter, value: Any, ref: Reference) -> str:
    full = ref.enum_type(param.type) or param.type
    members = ref.enums.get(full, {})
    value = _scalar(value)
    if isinstance(value, int) and not isinstance(value, bool):
        for name, number in members.items():
            if number == int(value):
                return name
    else:
        for name in members:
            if name.lower() == str(value).strip().lower():
                return name
    names = ", ".join(members)
    raise _convert_error(sig, param, value, full,
                         f"Unable to match the identifier name {_describe(value)} to a valid enumerator name. "
                         f"Specify one of the following enumerator names and try again:\r\n{names}")


def _to_bool(sig: Signature, param: Parameter, value: Any) -> bool:
    value = _scalar(value)
    if isinstance(value, (bool, int, float)):
        return bool(value)
    raise binding_error(
        sig,
        f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert value "
        f"\"System.String\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and "
        f"numbers, such as $True, $False, 1 or 0.",
        "ParameterArgumentTransformationError",
        exception="ParameterBindingArgumentTransformationException",
    )


def _to_timespan(sig: Signature, param: Parameter, value: Any) -> datetime.timedelta:
    value = _scalar(value)
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, int):  # an integer converts as ticks (100 ns)
        return datetime.timedelta(microseconds=value / 10)
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+)(?::(\d+))?", str(value).strip())
    if match is None:
        raise _convert_error(sig, param, value, "System.TimeSpan", "String was not recognized as a valid TimeSpan.")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return datetime.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _to_guid(sig: Signature, param: Parameter, value: Any) -> uuid.UUID:
    value = _scalar(value)
    if isinstance(value, uuid.UUID):
        return uuid.UUID(str(value))
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _convert_error(sig, param, value, "System.Guid",
                             "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")


def _plain(value: Any) -> Any:
    """psrpcore primitives (PSString, PSInt ...) as plain Python values; objects as they are."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _validate_nulls(sig: Signature, param: Parameter, value: Any, mandatory: bool) -> None:
    if not mandatory:
        return
    if value is None:
        raise binding_error(sig, f"Cannot bind argument to parameter '{param.name}' because it is null.",
                            "ParameterArgumentValidationErrorNullNotAllowed", category="InvalidData")
    if value == "" and param.type.rsplit(".", 1)[-1].startswith("String"):
        raise binding_error(sig, f"Cannot bind argument to parameter '{param.name}' because it is an empty string.",
                            "ParameterArgumentValidationErrorEmptyStringNotAllowed", category="InvalidData")


def _is_hyperv_object(base: str, ref: Reference) -> bool:
    return base in ref.output_types or base.startswith("VM") or base in ("VirtualMachineBase", "HardDiskDrive")


def _object_error(sig: Signature, param: Parameter, item: Any, base: str) -> PSError:
    """A Hyper-V object parameter given a value from the client: what arrives is a deserialized
    property bag (or a string), which PowerShell cannot turn back into the live .NET object."""
    names = getattr(getattr(item, "PSObject", None), "type_names", None) or []
    type_name = names[0] if names else "System.String" if isinstance(item, str) else type(item).__name__
    text = str(getattr(getattr(item, "PSObject", None), "to_string", None) or item)
    return binding_error(
        sig,
        f"Cannot bind parameter '{param.name}'. Cannot convert the \"{text}\" value of type \"{type_name}\" to type "
        f"\"Microsoft.HyperV.PowerShell.{base}\".",
        "CannotConvertArgumentNoMessage",
    )


def convert(sig: Signature, param: Parameter, raw: Any, ref: Reference) -> Any:
    """Convert one argument to the parameter's declared type."""
    value = _plain(raw)
    declared = param.type.rsplit(".", 1)[-1]
    is_array = declared.endswith("[]")
    base = declared.removesuffix("[]")
    if param.is_switch:
        return True if value is None else _to_bool(sig, param, value)
    if param.name == "ErrorAction" or base == "ActionPreference":
        for name in ACTION_PREFERENCES:
            if str(value).lower() == name.lower():
                return name
        raise _convert_error(sig, param, value, "System.Management.Automation.ActionPreference",
                             f"Unable to match the identifier name {value} to a valid enumerator name. Specify one "
                             f"of the following enumerator names and try again:\r\n{', '.join(ACTION_PREFERENCES)}")
    if value is None:
        return None

    def one(item: Any) -> Any:
        if base == "String":
            return " ".join(str(v) for v in item) if isinstance(item, list) else str(item)
        if base in NET_INTEGERS:
            return _to_int(sig, param, item, NET_INTEGERS[base])
        if base == "Boolean":
            return _to_bool(sig, param, item)
        if base == "Guid":
            return _to_guid(sig, param, item)
        if base == "TimeSpan":
            return _to_timespan(sig, param, item)
        if ref.enum_type(base) is not None:
            return _to_enum(sig, param, item, ref)
        if _is_hyperv_object(base, ref) and not isinstance(item, PSOut):
            raise _object_error(sig, param, item, base)
        return item

    if is_array:
        items = value if isinstance(value, list) else [value]
        converted: Any = [one(v) for v in items]
    else:
        converted = one(_scalar(value))
    if param.accepted_values:
        for item in converted if is_array else [converted]:
            allowed = {v.lower() for v in param.accepted_values}
            if str(item).lower() not in allowed:
                raise binding_error(
                    sig,
                    f"Cannot validate argument on parameter '{param.name}'. The argument \"{item}\" does not belong "
                    f"to the set \"{','.join(param.accepted_values)}\" specified by the ValidateSet attribute. Supply "
                    f"an argument that is in the set and then try the command again.",
                    "ParameterArgumentValidationError",
                    category="InvalidData",
                )
    return converted


def _assign_positionals(sig: Signature, positionals: list[Any], named: dict[str, Any],
                        candidates: list[ParameterSet]) -> dict[str, Any]:
    """Fill positions in order, from the default set first, as PowerShell's binder prefers it."""
    ordered = sorted(candidates, key=lambda s: not (s.is_default or s.name == sig.default_set))
    for pset in ordered:
        slots = sorted((m.position, key) for key, m in pset.members.items()
                       if m.position is not None and key not in named)
        if len(slots) >= len(positionals):
            return {key: value for (_, key), value in zip(slots, positionals)}
    raise binding_error(sig, f"A positional parameter cannot be found that accepts argument "
                             f"'{_describe(_plain(positionals[-1]))}'.", "PositionalParameterNotFound")


def _pipeline_tier(sig: Signature, missing: list[str], input_types: tuple[str, ...] | None) -> int | None:
    """0: nothing mandatory missing; else how well pipeline input fills the one missing parameter:
    1 ByValue of the input's own type, 2 ByPropertyName, 3 ByValue after conversion."""
    if not missing:
        return 0
    if input_types is None or len(missing) > 1:
        return None
    param = sig.parameters[missing[0]]
    wanted = param.type.removesuffix("[]").rsplit(".", 1)[-1]
    if param.pipeline_by_value and wanted in {t.removeprefix("Deserialized.").rsplit(".", 1)[-1] for t in input_types}:
        return 1
    if param.pipeline_by_property:
        return 2
    if param.pipeline_by_value:
        return 3
    return None


def bind(sig: Signature, arguments: list[tuple[str | None, Any]], input_types: tuple[str, ...] | None,
         ref: Reference) -> Bound:
    """``input_types``: the type names of the first pipeline input object, None without input."""
    named: dict[str, Any] = {}
    positionals: list[Any] = []
    for name, value in arguments:
        if name is None:
            positionals.append(value)
            continue
        param = _resolve_name(sig, name)
        key = param.name.lower()
        if key in named:
            raise binding_error(
                sig,
                f"Cannot bind parameter because parameter '{param.name}' is specified more than once. To provide "
                f"multiple values to parameters that can accept multiple values, use the array syntax. For example, "
                f"\"-parameter value1,value2,value3\".",
                "ParameterAlreadyBound",
            )
        named[key] = value
    candidates = _candidate_sets(sig, set(named))
    if not candidates:
        raise binding_error(sig, "Parameter set cannot be resolved using the specified named parameters.",
                            "AmbiguousParameterSet")
    if positionals:
        named.update(_assign_positionals(sig, positionals, named, candidates))
        candidates = _candidate_sets(sig, set(named))
    tiers: list[tuple[int, ParameterSet]] = []
    first_missing: list[str] = []
    for pset in candidates:
        missing = [k for k, m in pset.members.items() if m.mandatory and k not in named]
        tier = _pipeline_tier(sig, missing, input_types)
        if tier is None:
            if not first_missing or pset.is_default:
                first_missing = missing
            continue
        tiers.append((tier, pset))
    if not tiers:
        names = ", ".join(sig.parameters[k].name for k in first_missing)
        raise binding_error(sig, f"Cannot process command because of one or more missing mandatory parameters: "
                                 f"{names}.", "MissingMandatoryParameter")
    best = min(t for t, _ in tiers)
    chosen = [s for t, s in tiers if t == best]
    default = [s for s in chosen if s.is_default or s.name == sig.default_set]
    if len(chosen) > 1 and not default:
        raise binding_error(sig, "Parameter set cannot be resolved using the specified named parameters.",
                            "AmbiguousParameterSet")
    pset = default[0] if default else chosen[0]
    params: dict[str, Any] = {}
    for key, raw in named.items():
        param = sig.parameters[key]
        member = pset.members.get(key)
        value = convert(sig, param, raw, ref)
        _validate_nulls(sig, param, value, bool(member and member.mandatory))
        params[param.name] = value
    return Bound(params, pset.name)
