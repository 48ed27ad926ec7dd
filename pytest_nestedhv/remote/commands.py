"""Structured remote commands: one cmdlet with named parameters, never script text."""
from __future__ import annotations

import dataclasses
from typing import Any

from ..secrets import GuestCredential, Secret



@dataclasses.dataclass(frozen=True)
class Switch:
    """A switch parameter that is present (``-Force``); sent as $true, rendered bare."""

    def __repr__(self) -> str:
        return "SWITCH"


SWITCH = Switch()
_SCALARS = (str, int, float, bool, type(None), Secret, GuestCredential, Switch)
# verbs whose cmdlets only read state: safe to send again after a dropped connection
READ_ONLY_VERBS = frozenset({"Get", "Test", "Measure", "Select", "Find", "Search", "Resolve", "Compare"})


def _check_value(name: str, value: Any) -> Any:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [_check_value(name, v) for v in value]
    if isinstance(value, dict):
        return {str(k): _check_value(name, v) for k, v in value.items()}
    if not isinstance(value, _SCALARS):
        raise TypeError(f"parameter -{name}: unsupported value type {type(value).__name__}")
    return value


@dataclasses.dataclass(frozen=True)
class Cmd:
    """A cmdlet call. ``params`` keep their order; ``SWITCH`` marks a present switch, ``True``
    and ``False`` are Boolean values."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, /, **params: Any) -> Cmd:
        return cls(name, tuple((key, _check_value(key, value)) for key, value in params.items()))

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"not a cmdlet name: {self.name!r}")

    def param(self, name: str, default: Any = None) -> Any:
        """A parameter's value, matched case-insensitively as PowerShell does."""
        for key, value in self.params:
            if key.lower() == name.lower():
                return value
        return default

    @property
    def verb(self) -> str:
        return self.name.split("-", 1)[0]

    @property
    def is_read_only(self) -> bool:
        return self.verb.capitalize() in READ_ONLY_VERBS

    def with_params(self, **params: Any) -> Cmd:
        """A copy with parameters added or replaced (case-insensitive names)."""
        lowered = {k.lower() for k in params}
        kept = tuple((k, v) for k, v in self.params if k.lower() not in lowered)
        return Cmd(self.name, kept + tuple((k, _check_value(k, v)) for k, v in params.items()))


Pipeline = tuple[Cmd, ...]


def is_read_only(pipeline: Pipeline) -> bool:
    return all(cmd.is_read_only for cmd in pipeline)
