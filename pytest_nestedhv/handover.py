"""What the fixtures hand the reports: one typed record per host (``config.stash``) and one per
test (``item.stash``), the way pytest-html hands extras over.

Fixtures write these records; reporting only reads them. Reporting never looks at a fixture's
objects and never talks to a host: the events of a failed test are collected by a fixture's
finalizer and handed over here.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .hyperv.facts import GuestFacts, HostFacts, VMFacts
    from .hyperv.lab import Phase
    from .remote.transcript import Transcript
    from .reporting.records import EventRecord


@dataclasses.dataclass
class HostEvidence:
    """One host as the reports show it; the fixtures update it as the lab learns more."""

    label: str
    description: str = ""  # e.g. "emulated host, scenario default"
    spec: str = ""  # the --nested-host value as the user wrote it
    transcript: Transcript | None = None  # every call made on the host (append-only)
    facts: HostFacts | None = None
    vm: VMFacts | None = None  # the L1 (or the --nested-vm VM)
    guest: GuestFacts | None = None  # the L1's guest, after the reboot when there was one
    guest_user: str | None = None
    timeline: list[Phase] = dataclasses.field(default_factory=list)  # the lab's steps as they ran
    events_guest: str | None = None  # the L1 whose event logs are worth reading (its guest answered)
    crashes: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # hyperv.crash.HostCrash.to_dict()


@dataclasses.dataclass
class TestEvidence:
    """One test against one host."""

    host: str
    started: float  # time.time() when its setup began
    finding: dict[str, Any] | None = None  # requirements.Finding.to_dict()
    events: list[EventRecord] = dataclasses.field(default_factory=list)  # collected when it failed


HOSTS_KEY = pytest.StashKey[dict[str, HostEvidence]]()  # config.stash: label -> HostEvidence
TEST_KEY = pytest.StashKey[TestEvidence]()  # item.stash
PHASE_REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()  # item.stash: when -> report (pytest's recipe)


def host_evidence(config: pytest.Config, label: str) -> HostEvidence:
    """The record of ``label``, created on first use."""
    return config.stash.setdefault(HOSTS_KEY, {}).setdefault(label, HostEvidence(label))


def item_failed(item: pytest.Item) -> bool:
    """Whether the setup or the call of ``item`` failed (read in a fixture's finalizer)."""
    reports = item.stash.get(PHASE_REPORTS_KEY, {})
    return any(r.failed for when, r in reports.items() if when in ("setup", "call"))
