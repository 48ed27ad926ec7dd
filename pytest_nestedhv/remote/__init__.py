"""Talking to one Windows machine: the host over WinRM/PSRP, or a guest through PowerShell Direct.

Names are resolved on first use (PEP 562) so that loading the plugin imports next to nothing;
``session`` (pypsrp, tenacity) is imported only when a session opens.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Cmd": "commands", "Pipeline": "commands",
    "ConnectionFailed": "errors", "RemoteError": "errors", "RemoteTimeout": "errors",
    "RemoteObject": "objects",
    "GuestCredential": "..secrets", "Secret": "..secrets", "SecretMask": "..secrets",
    "Transcript": "transcript", "TranscriptEntry": "transcript",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .commands import Cmd, Pipeline
    from .errors import ConnectionFailed, RemoteError, RemoteTimeout
    from .objects import RemoteObject
    from ..secrets import GuestCredential, Secret, SecretMask
    from .transcript import Transcript, TranscriptEntry


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module if module.startswith("..") else f".{module}", __name__), name)
