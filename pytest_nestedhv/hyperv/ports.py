"""What hyperv/ needs from a remote session (implemented by remote.session.Session).

A Protocol, so the lab and facts can be driven by a fake session in unit tests.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Any, Protocol

from ..remote.commands import Cmd
from ..remote.objects import DESERIALIZED


class RemoteObjectLike(Protocol):
    type_names: list[str]

    def get(self, name: str, default: Any = None) -> Any: ...


class SessionLike(Protocol):
    def run(self, *cmds: Cmd, timeout: float | None = None, check: bool = True) -> list[Any]: ...

    def run_statements(
        self, pipelines: Sequence[Sequence[Cmd]], timeout: float | None = None, check: bool = True
    ) -> Any: ...

    def in_guest(self, vm_name: str, cred: Any, cmd: Cmd, timeout: float | None = None) -> list[Any]: ...


def flatten(result: Any) -> list[Any]:
    """run_statements output as one flat list (PSRP puts every statement's output in one stream)."""
    out: list[Any] = []
    for item in result or []:
        if isinstance(item, (list, tuple)):
            out.extend(item)
        else:
            out.append(item)
    return out


def type_names(obj: Any) -> list[str]:
    """Type names without the 'Deserialized.' prefix objects from a guest carry."""
    names = getattr(obj, "type_names", None) or []
    return [n.removeprefix(DESERIALIZED) for n in names]


def has_type(obj: Any, name: str) -> bool:
    """One of its type names is ``name`` or ends with it after '.', '/' or '#' (CIM classes:
    ``...CimInstance#root/cimv2/Win32_Processor``). Not a substring match: a VMSnapshot is also
    a ``VirtualMachineBase``, which must not pass for a ``VirtualMachine``."""
    suffixes = ("." + name, "/" + name, "#" + name)
    return any(n == name or n.endswith(suffixes) for n in type_names(obj))


def prop(obj: Any, name: str, default: Any = None) -> Any:
    getter = getattr(obj, "get", None)
    if getter is None:
        return default
    return getter(name, default)


def has_prop(obj: Any, name: str) -> bool:
    marker = object()
    return prop(obj, name, marker) is not marker


_DOTNET_TIME = re.compile(r"(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)?$")


def as_datetime(value: Any) -> datetime.datetime | None:
    """A DateTime property as pypsrp hands it over (CLIXML text with 7 fraction digits) or as a
    datetime; None when it is neither. A time without a zone is taken as UTC."""
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        match = _DOTNET_TIME.match(str(value or "").strip())
        if match is None:
            return None
        fraction = (match.group("fraction") or "0")[:6].ljust(6, "0")
        zone = (match.group("zone") or "+00:00").replace("Z", "+00:00")
        parsed = datetime.datetime.fromisoformat(f"{match.group('base')}.{fraction}{zone}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)
