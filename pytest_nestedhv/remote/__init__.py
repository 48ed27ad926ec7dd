"""Talking to one Windows machine: the host over WinRM/PSRP, or a guest through PowerShell Direct.

Light modules only are imported here; ``session`` (pypsrp, tenacity) is imported on demand
so that loading the plugin costs next to nothing.
"""
from __future__ import annotations

from .commands import Cmd, Pipeline
from .errors import ConnectionFailed, RemoteError, RemoteTimeout
from .objects import RemoteObject
from .secrets import GuestCredential, Secret, SecretMask
from .transcript import Transcript, TranscriptEntry, render_powershell

__all__ = [
    "Cmd", "ConnectionFailed", "GuestCredential", "Pipeline", "RemoteError", "RemoteObject", "RemoteTimeout",
    "Secret", "SecretMask", "Transcript", "TranscriptEntry", "render_powershell",
]
