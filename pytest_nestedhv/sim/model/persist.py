"""JSON encoding of the model's dataclasses, driven by their type hints."""
from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
import uuid
from typing import Any


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.name.startswith("_")}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def decode(cls: Any, data: Any, namespace: dict[str, Any]) -> Any:
    """Rebuild ``cls`` (a type hint) from ``encode``'s output; ``namespace`` resolves forward refs."""
    if data is None:
        return None
    origin = typing.get_origin(cls)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(cls) if a is not type(None)]
        return decode(inner[0], data, namespace)
    if origin in (list, tuple):
        (item,) = typing.get_args(cls)[:1]
        items = [decode(item, v, namespace) for v in data]
        return items if origin is list else tuple(items)
    if origin is dict:
        _, item = typing.get_args(cls)
        return {k: decode(item, v, namespace) for k, v in data.items()}
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls, globalns=namespace)
        kwargs = {f.name: decode(hints[f.name], data[f.name], namespace)
                  for f in dataclasses.fields(cls) if f.name in data and not f.name.startswith("_")}
        return cls(**kwargs)
    if cls is dt.datetime:
        return dt.datetime.fromisoformat(data)
    if cls is uuid.UUID:
        return uuid.UUID(data)
    if cls is float:
        return float(data)
    return data
