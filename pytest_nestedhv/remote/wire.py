"""Plugin values as pypsrp parameter values (imports pypsrp: only used once a session opens)."""
from __future__ import annotations

from typing import Any

from pypsrp.complex_objects import PSCredential
from pypsrp.serializer import TaggedValue

from .commands import Switch
from ..secrets import GuestCredential, Secret

_INT32 = range(-(2**31), 2**31)


def to_wire(value: Any) -> Any:
    if isinstance(value, Secret):
        return TaggedValue("SS", value.reveal())
    if isinstance(value, GuestCredential):
        return PSCredential(username=value.user, password=value.password.reveal())
    if isinstance(value, Switch):
        return True
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        # why: pypsrp tags every int as Int32; memory sizes in bytes need Int64
        return value if value in _INT32 else TaggedValue("I64", value)
    if isinstance(value, float):
        return TaggedValue("Db", value)  # pypsrp's default (Single) loses precision
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    raise TypeError(f"cannot send a {type(value).__name__}")
