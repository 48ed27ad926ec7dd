"""Core pipeline cmdlets that work on any object: Select-Object and Where-Object."""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .cmdlet import Call, Impl
from .errors import PSError
from .values import EnumValue, PSOut


def _property(obj: Any, name: str) -> Any:
    if isinstance(obj, PSOut):
        try:
            return obj.get(name)
        except KeyError:
            return None
    return None


def _comparable(value: Any) -> Any:
    """Enums compare by name against strings (PowerShell converts the string to the enum)."""
    return value.name if isinstance(value, EnumValue) else value


def _select(call: Call) -> Iterator[Any]:
    items = list(call.input)
    if "Index" in call.params:
        items = [items[i] for i in call.params["Index"] if -len(items) <= i < len(items)]
    skip = call.params.get("Skip", 0)
    items = items[skip:]
    if "SkipLast" in call.params:
        items = items[: max(0, len(items) - call.params["SkipLast"])]
    if "First" in call.params or "Last" in call.params:
        head = items[: call.params["First"]] if "First" in call.params else []
        tail = items[len(items) - call.params["Last"]:] if call.params.get("Last") else []
        items = head + tail
    properties: list[str] = [str(p) for p in call.params.get("Property", [])]
    expand = call.params.get("ExpandProperty")
    for obj in items:
        if expand:
            value = _property(obj, expand)
            if value is None and not (isinstance(obj, PSOut) and expand.lower() in map(str.lower, obj.properties)):
                call.write_error(PSError(
                    f'Property "{expand}" cannot be found.', "InvalidArgument",
                    "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand", target=obj,
                    exception_type="System.Management.Automation.PSArgumentException"))
                continue
            yield from value if isinstance(value, list) else [value]
        elif properties:
            yield _selected(obj, properties)
        else:
            yield obj


def _selected(obj: Any, patterns: list[str]) -> PSOut:
    source = obj.properties if isinstance(obj, PSOut) else {}
    names: list[str] = []
    for pattern in patterns:
        matched = [n for n in source if fnmatch.fnmatchcase(n.lower(), pattern.lower())]
        if not matched and isinstance(obj, PSOut):
            matched = [a for a in obj.alias_properties if a.lower() == pattern.lower()]
        names.extend(m for m in (matched or [pattern]) if m not in names)
    first = obj.type_names[0] if isinstance(obj, PSOut) else "System.Object"
    return PSOut(
        type_names=[f"Selected.{first}", "System.Management.Automation.PSCustomObject", "System.Object"],
        properties={n: _property(obj, n) for n in names},
        to_string="@{" + "; ".join(f"{n}={_property(obj, n)}" for n in names) + "}",
    )


def _like(value: Any, pattern: Any, case: bool) -> bool:
    v, p = str(value), str(pattern)
    return fnmatch.fnmatchcase(v, p) if case else fnmatch.fnmatchcase(v.lower(), p.lower())


def _equal(a: Any, b: Any, case: bool) -> bool:
    a, b = _comparable(a), _comparable(b)
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b) if case else str(a).lower() == str(b).lower()
    return bool(a == b)


def _ordered(a: Any, b: Any) -> tuple[Any, Any]:
    a = _comparable(a)
    if isinstance(a, (int, float)) and not isinstance(b, (int, float)):
        try:
            b = type(a)(b)
        except (TypeError, ValueError):
            pass
    return a, b


_OPERATORS: dict[str, Any] = {
    "EQ": lambda a, b, c: _equal(a, b, c),
    "NE": lambda a, b, c: not _equal(a, b, c),
    "GT": lambda a, b, c: a is not None and (lambda x, y: x > y)(*_ordered(a, b)),
    "GE": lambda a, b, c: a is not None and (lambda x, y: x >= y)(*_ordered(a, b)),
    "LT": lambda a, b, c: a is not None and (lambda x, y: x < y)(*_ordered(a, b)),
    "LE": lambda a, b, c: a is not None and (lambda x, y: x <= y)(*_ordered(a, b)),
    "Like": lambda a, b, c: _like(a, b, c),
    "NotLike": lambda a, b, c: not _like(a, b, c),
    "Match": lambda a, b, c: re.search(str(b), str(a), 0 if c else re.IGNORECASE) is not None,
    "NotMatch": lambda a, b, c: re.search(str(b), str(a), 0 if c else re.IGNORECASE) is None,
    "Contains": lambda a, b, c: any(_equal(x, b, c) for x in (a if isinstance(a, list) else [a])),
    "NotContains": lambda a, b, c: not any(_equal(x, b, c) for x in (a if isinstance(a, list) else [a])),
    "In": lambda a, b, c: any(_equal(a, x, c) for x in (b if isinstance(b, list) else [b])),
    "NotIn": lambda a, b, c: not any(_equal(a, x, c) for x in (b if isinstance(b, list) else [b])),
}


def _where(call: Call) -> Iterable[Any]:
    if "FilterScript" in call.params:
        # assumption: the emulated host evaluates no script blocks; the plugin sends comparisons only.
        raise PSError("The emulated host does not evaluate script blocks; use Where-Object -Property ... -EQ ...",
                      "NotImplemented", "ScriptBlockNotSupported,Microsoft.PowerShell.Commands.WhereObjectCommand",
                      terminating=True)
    prop = call.params.get("Property")
    operator, case = None, False
    for name in call.params:
        if name in _OPERATORS:
            operator, case = name, False
        elif name.startswith("C") and name[1:] in _OPERATORS:
            operator, case = name[1:], True
    op = _OPERATORS[operator] if operator else None
    expected = call.params.get("Value")
    for obj in call.input:
        value = _property(obj, prop) if prop else obj
        if (op(value, expected, case) if op else bool(_comparable(value))):
            yield obj


BUILTINS: dict[str, Impl] = {"Select-Object": _select, "Where-Object": _where}
