"""The lab's remote calls, and the ledger of what it created and changed on the host.

Each thread of the lab (the chain, a background branch) has its own ``Ops`` over its own
session; they share one ``Ledger`` so cleanup finds everything.
"""
from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

from ...remote.commands import Cmd
from ..names import RunNames
from ..ports import SessionLike
from .config import LabConfig
from .errors import StepError


@dataclasses.dataclass
class Ledger:
    """What this run created and changed on the host, in order (appends are thread-safe)."""

    vms: list[str] = dataclasses.field(default_factory=list)
    disks: list[str] = dataclasses.field(default_factory=list)
    changes: list[str] = dataclasses.field(default_factory=list)


class Ops:
    def __init__(self, session: SessionLike, config: LabConfig, names: RunNames, ledger: Ledger,
                 cancel: threading.Event | None = None) -> None:
        self.session = session
        self.config = config
        self.names = names
        self.ledger = ledger
        self.cancel = cancel or threading.Event()

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise StepError("cancelled: the run is ending")

    def host(self, *cmds: Cmd, timeout: float = 120.0, check: bool = True) -> list[Any]:
        self._check_cancel()
        return self.session.run(*cmds, timeout=timeout, check=check)

    def guest(self, vm: str, cmd: Cmd, timeout: float = 300.0) -> list[Any]:
        self._check_cancel()
        return self.session.in_guest(vm, self.config.guest_cred, cmd, timeout=timeout)

    def change(self, cmd: Cmd, timeout: float = 120.0) -> list[Any]:
        """A call that changes the host: listed for the run's summary."""
        self.ledger.changes.append(cmd.name + " " + " ".join(f"-{k}" for k, _ in cmd.params))
        return self.host(cmd, timeout=timeout)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Tag the calls made inside with the step's name (the transcript and repro.ps1 group by it)."""
        transcript = getattr(self.session, "transcript", None)
        if transcript is None or not hasattr(transcript, "step"):
            yield
            return
        with transcript.step(name):
            yield


def truthy(value: Any) -> bool:
    inner = getattr(value, "value", value)
    return inner is True or str(inner).lower() == "true"
