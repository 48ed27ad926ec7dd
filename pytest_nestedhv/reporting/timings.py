"""Each lab step's duration in this run, per host: what JUnit and the history record.

``steps_of`` is the only place that reads the lab's timeline for them. Today it reads the
PhaseRecords collect.py carries from the Lab's ``timeline`` to the controller's HostRecord;
when the fixtures hand reporting another typed per-host record, re-point this function.
"""
from __future__ import annotations

import dataclasses

from .records import HostRecord


@dataclasses.dataclass(frozen=True)
class StepTiming:
    step: str
    started: str | None  # ISO 8601 UTC
    duration_s: float
    ok: bool


def steps_of(host: HostRecord) -> list[StepTiming]:
    """The host's lab steps in the order they started."""
    return [StepTiming(p.step, p.started or None, round(float(p.duration_s or 0.0), 3), bool(p.ok))
            for p in sorted(host.phases, key=lambda p: p.started or "")]
