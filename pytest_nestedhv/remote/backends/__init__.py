"""Opening a target: one small module per transport behind one interface.

Modelled on pytest-testinfra's ``backend/``: the target's ``kind`` (from the host spec) picks a
backend from ``BACKENDS``; each backend turns a HostTarget and the run's Settings into an open
Session plus what the fixtures need (guest credentials, images). A test injects its own backend
with ``register`` instead of patching private functions.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ...config import Settings
    from ...secrets import GuestCredential, SecretMask
    from ...target import HostTarget
    from ..session import Session

BACKENDS: dict[str, str] = {
    "winrm": "pytest_nestedhv.remote.backends.winrm:WinRMBackend",
    "sim": "pytest_nestedhv.remote.backends.sim:SimBackend",
    "local": "pytest_nestedhv.remote.backends.local:LocalBackend",
}
_registered: dict[str, Backend] = {}


class BadTarget(Exception):
    """A target that cannot even be prepared (an unknown scenario...): one line for a UsageError."""


@dataclasses.dataclass
class Opened:
    """An open session and what the fixtures need from the backend that opened it."""

    target: HostTarget  # where the session went (a started emulator's address)
    session: Session
    guest_credential: GuestCredential | None
    base_image: str | None
    inner_image: str | None = None
    scenario: Any = None  # sim only: the loaded Scenario
    server: Any = None  # sim only: the running emulator (benchmarks read its counters)
    stop: Callable[[], None] = lambda: None  # ends what the backend started, after the session closed


class Backend(Protocol):
    def prepare(self, target: HostTarget, mask: SecretMask) -> Any:
        """Check the target before any test runs (raise BadTarget); returns what ``open`` gets back."""

    def open(self, target: HostTarget, settings: Settings, mask: SecretMask, prepared: Any) -> Opened:
        """Open a session (ConnectionFailed, one line, when the host cannot be used)."""


def register(kind: str, backend: Backend) -> None:
    """Use ``backend`` for targets of ``kind`` in this process (tests inject fakes this way)."""
    _registered[kind] = backend


def unregister(kind: str) -> None:
    _registered.pop(kind, None)


def get_backend(kind: str) -> Backend:
    backend = _registered.get(kind)
    if backend is None:
        module, _, name = BACKENDS[kind].partition(":")
        backend = getattr(importlib.import_module(module), name)()
        _registered[kind] = backend
    return backend
