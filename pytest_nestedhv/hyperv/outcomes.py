"""What the lab observed while doing things (as opposed to facts read from a machine)."""
from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class StepOutcome:
    """The result of one lab step: ok, or the one-line error that stopped it."""

    step: str
    ok: bool
    error: str | None = None
    fqid: str | None = None
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ToggleOutcome:
    """Set-VMProcessor -ExposeVirtualizationExtensions tried on a running VM."""

    vm_name: str
    state: str
    refused: bool
    error: str | None = None
    fqid: str | None = None
    category: str | None = None
