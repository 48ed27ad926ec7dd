"""Live objects (transcript entries, lab phases, remote objects) <-> JSON-able dicts.

Secret values are never encoded: a ``Secret`` becomes a marker and a ``GuestCredential``
keeps only its user name, so a record can be rendered back into PowerShell that asks for
the password instead of containing it.
"""
from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
from collections.abc import Mapping
from typing import Any

from ..remote.commands import SWITCH, Cmd, Switch
from ..remote.secrets import GuestCredential, Secret, SecretMask
from .records import EntryRecord, PhaseRecord

SECRET_MARK = "$secret"
CREDENTIAL_MARK = "$credential"
HASHTABLE_MARK = "$hashtable"
SWITCH_MARK = "$switch"


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds")
    return str(value)


def parse_iso(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def encode_value(value: Any, mask: SecretMask) -> Any:
    if isinstance(value, Secret):
        return {SECRET_MARK: True}
    if isinstance(value, GuestCredential):
        return {CREDENTIAL_MARK: mask.mask(value.user)}
    if isinstance(value, Switch):
        return {SWITCH_MARK: True}
    if isinstance(value, str):
        return mask.mask(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [encode_value(v, mask) for v in value]
    if isinstance(value, Mapping):
        return {HASHTABLE_MARK: [[mask.mask(str(k)), encode_value(v, mask)] for k, v in value.items()]}
    return mask.mask(str(value))


def decode_value(value: Any) -> Any:
    """Back to what remote.transcript's renderer understands (Secret/GuestCredential stand-ins)."""
    if isinstance(value, dict):
        if SECRET_MARK in value:
            return Secret("")  # renders as a variable; the value was never stored
        if SWITCH_MARK in value:
            return SWITCH
        if CREDENTIAL_MARK in value:
            return GuestCredential(str(value[CREDENTIAL_MARK]), Secret(""))
        if HASHTABLE_MARK in value:
            return {str(k): decode_value(v) for k, v in value[HASHTABLE_MARK]}
        return {str(k): decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


def encode_pipeline(pipeline: Any, mask: SecretMask) -> list[dict[str, Any]]:
    return [
        {"name": cmd.name, "params": [[key, encode_value(val, mask)] for key, val in cmd.params]}
        for cmd in pipeline
    ]


def decode_pipeline(data: list[dict[str, Any]]) -> tuple[Cmd, ...]:
    return tuple(
        Cmd(str(c["name"]), tuple((str(k), decode_value(v)) for k, v in c.get("params", [])))
        for c in data
    )


def encode_entry(entry: Any, mask: SecretMask, test: str | None, phase: str | None) -> EntryRecord:
    """A remote.transcript.TranscriptEntry as a record."""
    error = getattr(entry, "error", None)
    return EntryRecord(
        started=iso(entry.started) or "",
        duration_s=float(entry.duration_s),
        target=mask.mask(str(entry.target)),
        pipeline=encode_pipeline(entry.pipeline, mask),
        outcome=str(entry.outcome),
        error=mask.mask(" ".join(str(error).split())) if error else None,
        step=getattr(entry, "step", None),
        test=test,
        phase=phase,
    )


def encode_phase(phase: Any, mask: SecretMask) -> PhaseRecord:
    """A hyperv.lab.Phase as a record."""
    error = getattr(phase, "error", None)
    return PhaseRecord(
        step=str(phase.step),
        started=iso(phase.started) or "",
        duration_s=float(phase.duration_s),
        ok=bool(phase.ok),
        error=mask.mask(str(error)) if error else None,
    )


def jsonable(value: Any, mask: SecretMask, depth: int = 0) -> Any:
    """Any evidence/facts value as JSON-able data, masked. Unknown objects become text."""
    if depth > 12:
        return "..."
    if isinstance(value, Secret):
        return "********"
    if isinstance(value, GuestCredential):  # before the dataclass branch: asdict would copy the Secret
        return {"user": mask.mask(value.user), "password": "********"}
    if isinstance(value, str):
        return mask.mask(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, (datetime.datetime, datetime.date)):
        return iso(value) if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (uuid.UUID, enum.Enum)):
        return str(value.name if isinstance(value, enum.Enum) else value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return jsonable(to_dict(), mask, depth + 1)
        except Exception:  # noqa: BLE001 - evidence is best effort; show it as text
            return mask.mask(str(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), mask, depth + 1)
    if isinstance(value, Mapping):
        return {mask.mask(str(k)): jsonable(v, mask, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, mask, depth + 1) for v in value]
    return mask.mask(str(value))
