"""Objects that come back from a remote pipeline, independent of the client library's classes.

pypsrp hands back ``GenericComplexObject`` (type names in ``.types``, properties in
``.adapted_properties`` / ``.extended_properties``, enums as an object whose ToString is
the name) and primitives. psrpcore hands back subclasses of the Python types whose .NET view
is in ``.PSObject`` (an enum is an int whose ToString is the name). ``from_wire`` turns both
into ``RemoteObject`` and plain values.
"""
from __future__ import annotations

import base64
import datetime
import uuid
from collections.abc import Iterator
from typing import Any

DESERIALIZED = "Deserialized."
_ENUM_TYPES = frozenset({"System.Enum", DESERIALIZED + "System.Enum"})
# .NET type names of primitive outputs, for RemoteObject.type_names of a bare value
_PRIMITIVE_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "System.Boolean"),
    (int, "System.Int32"),
    (float, "System.Double"),
    (str, "System.String"),
    (bytes, "System.Byte[]"),
    (uuid.UUID, "System.Guid"),
)


def _strip(type_name: str) -> str:
    return type_name[len(DESERIALIZED):] if type_name.startswith(DESERIALIZED) else type_name


class RemoteObject:
    """A remote .NET object: case-insensitive properties (``obj["Status"]`` or ``obj.Status``),
    enums as their names.

    A primitive written to the output (a string, a number...) is a RemoteObject too, with the
    value in ``.value`` and its extended properties (e.g. PSComputerName) as properties.
    """

    __slots__ = ("type_names", "_props", "_index", "value", "to_string")

    def __init__(
        self,
        type_names: list[str],
        properties: dict[str, Any] | None = None,
        *,
        value: Any = None,
        to_string: str | None = None,
    ) -> None:
        self.type_names = list(type_names)
        self._props: dict[str, Any] = dict(properties or {})
        self._index = {key.lower(): key for key in self._props}
        self.value = value
        self.to_string = to_string

    # mapping-style access -------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        key = self._index.get(name.lower())
        if key is None:
            raise KeyError(f"{self.type_name or 'object'} has no property {name!r}")
        return self._props[key]

    def get(self, name: str, default: Any = None) -> Any:
        key = self._index.get(name.lower())
        return default if key is None else self._props[key]

    def __getattr__(self, name: str) -> Any:
        # only for names that are not attributes of the class: obj.Status reads the property
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            index = object.__getattribute__(self, "_index")
        except AttributeError:  # not initialised yet (copy, unpickling)
            raise AttributeError(name) from None
        key = index.get(name.lower())
        if key is None:
            raise AttributeError(f"{self.type_name or 'object'} has no property {name!r}")
        return self._props[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def keys(self) -> list[str]:
        return list(self._props)

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self._props.items())

    # type names ----------------------------------------------------------------------
    @property
    def type_name(self) -> str:
        """The most derived type, without the ``Deserialized.`` prefix."""
        return _strip(self.type_names[0]) if self.type_names else ""

    @property
    def is_deserialized(self) -> bool:
        return bool(self.type_names) and self.type_names[0].startswith(DESERIALIZED)

    def is_type(self, name: str) -> bool:
        """True if the object is (or was, before a guest serialized it) of type ``name``."""
        wanted = _strip(name)
        return any(_strip(t) == wanted for t in self.type_names)

    @property
    def computer_name(self) -> str | None:
        """PSComputerName: set on objects that came from a guest through Invoke-Command."""
        return self.get("PSComputerName")

    # output ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict for evidence: type name plus properties (value for primitives)."""
        out: dict[str, Any] = {"_type": self.type_name}
        if self.value is not None:
            out["_value"] = to_jsonable(self.value)
        for key, value in self._props.items():
            out[key] = to_jsonable(value)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteObject):
            return NotImplemented
        return (self.type_names, self._props, self.value) == (other.type_names, other._props, other.value)

    __hash__ = None  # type: ignore[assignment]  # mutable contents

    def __repr__(self) -> str:
        if self.value is not None:
            return f"<RemoteObject {self.type_name} {self.value!r}>"
        shown = ", ".join(f"{k}={v!r}" for k, v in list(self._props.items())[:4])
        more = ", ..." if len(self._props) > 4 else ""
        return f"<RemoteObject {self.type_name} {shown}{more}>"

    def __str__(self) -> str:
        if self.to_string is not None:
            return self.to_string
        return str(self.value) if self.value is not None else self.type_name

    @classmethod
    def primitive(cls, value: Any, properties: dict[str, Any] | None = None) -> RemoteObject:
        type_name = next((n for t, n in _PRIMITIVE_TYPES if isinstance(value, t)), "System.Object")
        return cls([type_name, "System.Object"], properties, value=value)


def to_jsonable(value: Any) -> Any:
    if isinstance(value, RemoteObject):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _is_complex(value: Any) -> bool:
    return hasattr(value, "types") and hasattr(value, "extended_properties") and hasattr(value, "adapted_properties")


def _is_psrpcore(value: Any) -> bool:
    return hasattr(value, "PSObject") and hasattr(value.PSObject, "type_names")


def _plain_value(value: Any) -> Any:
    """The Python value inside a psrpcore object, as pypsrp would give it; _NO_VALUE for a complex object."""
    for kind in (bool, int, float, str, bytes, uuid.UUID):
        if isinstance(value, kind):
            return kind(value) if kind is not uuid.UUID else uuid.UUID(int=value.int)
    if isinstance(value, datetime.datetime):
        return datetime.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                                 value.microsecond, value.tzinfo)
    if isinstance(value, datetime.timedelta):
        return datetime.timedelta(seconds=value.total_seconds())
    if isinstance(value, dict):
        return {_key(convert(k)): convert(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [convert(v) for v in value]
    return _NO_VALUE


_NO_VALUE = object()


def _psrpcore_types(value: Any) -> list[str]:
    """The type names as they were on the wire: psrpcore prefixes those of a type it has no class for."""
    from psrpcore.types._base import TypeRegistry  # not exported; the registry deserialization consults

    types = [str(t) for t in value.PSObject.type_names]
    if types and types[0].startswith(DESERIALIZED) and types[0][len(DESERIALIZED):] not in TypeRegistry().type_registry:
        return [_strip(t) for t in types]
    return types


def _convert_psrpcore(value: Any) -> Any:
    meta = value.PSObject
    types = _psrpcore_types(value)
    if _ENUM_TYPES.intersection(types):
        return meta.to_string if meta.to_string is not None else int(value)
    props = {str(p.name): convert(p.get_value(value)) for p in meta.adapted_properties}
    props.update({str(p.name): convert(p.get_value(value)) for p in meta.extended_properties})
    plain = _plain_value(value)
    if plain is _NO_VALUE:
        return RemoteObject(types, props, to_string=meta.to_string)
    if not props:
        return plain
    return RemoteObject(types, props, value=plain, to_string=meta.to_string)


def convert(value: Any) -> Any:
    """A pypsrp or psrpcore value as plain Python: RemoteObject, enum name, list, dict or primitive."""
    if _is_psrpcore(value):
        return _convert_psrpcore(value)
    if _is_complex(value):
        types = [str(t) for t in value.types]
        if _ENUM_TYPES.intersection(types):
            return value.to_string if value.to_string is not None else convert(next(iter(value.property_sets), None))
        props = {str(k): convert(v) for k, v in value.adapted_properties.items()}
        props.update({str(k): convert(v) for k, v in value.extended_properties.items()})
        inner = list(value.property_sets)
        if len(inner) == 1 and _is_complex(inner[0]):
            # a PSObject wrapping another (a provider item, e.g. Get-Item WSMan:\...): the wrapped object's
            # properties with the wrapper's notes over them
            wrapped = convert(inner[0])
            if isinstance(wrapped, RemoteObject):
                return RemoteObject(types, {**dict(wrapped.items()), **props}, to_string=value.to_string)
        if inner and len(inner) == 1 and not isinstance(inner[0], (list, dict)) and not _is_complex(inner[0]):
            return RemoteObject(types, props, value=convert(inner[0]), to_string=value.to_string)
        if inner and not props:
            return convert(inner[0]) if len(inner) == 1 else [convert(v) for v in inner]
        return RemoteObject(types, props, to_string=value.to_string)
    if isinstance(value, list):
        return [convert(v) for v in value]
    if isinstance(value, dict):
        return {_key(convert(k)): convert(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool, bytes, uuid.UUID)):
        return value
    return str(value)  # another pypsrp ComplexObject: its ToString is what PowerShell would show


def _key(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return str(value)
    return value


def from_wire(value: Any) -> RemoteObject:
    """One output record as a RemoteObject (primitives wrapped, see RemoteObject.primitive)."""
    converted = convert(value)
    if _is_psrpcore(value) and not isinstance(converted, RemoteObject):
        types = _psrpcore_types(value)
        if _ENUM_TYPES.intersection(types):  # keep an enum's .NET type names, as for pypsrp
            return RemoteObject(types, value=converted, to_string=value.PSObject.to_string)
    elif _is_complex(value) and not isinstance(converted, RemoteObject):
        # an enum or a wrapped primitive: keep its .NET type names
        return RemoteObject([str(t) for t in value.types], value=converted, to_string=value.to_string)
    if isinstance(converted, RemoteObject):
        return converted
    return RemoteObject.primitive(converted)
