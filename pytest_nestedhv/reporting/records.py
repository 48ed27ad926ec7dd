"""What the reports are made of: plain, JSON-able records gathered on the controller.

Records travel from xdist workers inside TestReport attributes, so every field is a JSON
type (str/int/float/bool/None/list/dict). Secrets never reach a record: values are masked
or replaced by markers before a record is built (see wire.py).
"""
from __future__ import annotations

import dataclasses
from typing import Any

# outcomes as stored in the history and shown in the reports
PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


def build_text(build: int | None, ubr: int | None) -> str:
    """BUILD.UBR, as history shows and keys builds."""
    if build is None:
        return "unknown"
    return f"{build}.{ubr}" if ubr is not None else str(build)


@dataclasses.dataclass
class EntryRecord:
    """One remote call (a serialized remote.transcript.TranscriptEntry)."""

    started: str  # ISO 8601, UTC
    duration_s: float
    target: str  # "host" or "guest:<vm>"
    pipeline: list[dict[str, Any]]  # [{"name": "Get-VM", "params": [[key, encoded value], ...]}]
    outcome: str  # "ok" | "error"
    error: str | None = None
    step: str | None = None
    test: str | None = None  # nodeid of the test during which it ran
    phase: str | None = None  # setup | call | teardown

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EntryRecord:
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass
class PhaseRecord:
    """One lab step on the timeline."""

    step: str
    started: str
    duration_s: float
    ok: bool
    error: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseRecord:
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass
class EventRecord:
    """One event-log record collected on failure."""

    machine: str  # "host" or "guest:<vm>"
    log: str
    id: int | None
    level: str
    provider: str
    time: str | None
    message: str
    test: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventRecord:
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass
class HostRecord:
    label: str
    build: int | None = None
    ubr: int | None = None
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)  # HostFacts.to_dict()
    vm: dict[str, Any] = dataclasses.field(default_factory=dict)  # the L1 (or --nested-vm) VMFacts
    guest: dict[str, Any] = dataclasses.field(default_factory=dict)  # GuestFacts of the L1
    guest_user: str | None = None
    description: str = ""  # e.g. "emulated host, scenario default"
    spec: str = ""  # the --nested-host value, e.g. "sim:amd-win10" or "https://hostA:5986"
    phases: list[PhaseRecord] = dataclasses.field(default_factory=list)
    entries: list[EntryRecord] = dataclasses.field(default_factory=list)
    events: list[EventRecord] = dataclasses.field(default_factory=list)
    crashes: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # hyperv.crash.HostCrash.to_dict()

    @property
    def build_text(self) -> str:
        return build_text(self.build, self.ubr)

    @property
    def crash(self) -> str | None:
        """What brought the host down under the run, in one line (history and JUnit carry it)."""
        return "; ".join(str(c.get("title") or c.get("message") or "host stopped answering")
                         for c in self.crashes) or None

    @property
    def safe_label(self) -> str:
        """The label as a file-name part."""
        return "".join(c if c.isalnum() or c in "-_." else "-" for c in self.label) or "host"


@dataclasses.dataclass
class TestRecord:
    nodeid: str
    host: str | None = None
    requirement: str | None = None
    severity: str | None = None
    outcome: str = PASSED
    duration_s: float = 0.0
    time: str = ""  # when the test started, ISO 8601 UTC
    message: str = ""  # one line: why it failed / was skipped (masked)
    longrepr: str = ""  # the full failure text (masked)
    finding: dict[str, Any] = dataclasses.field(default_factory=dict)  # found/required/remedy/evidence/status
    properties: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    phases_seen: list[str] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.outcome in (FAILED, ERROR)

    @property
    def name(self) -> str:
        return self.nodeid.rsplit("::", 1)[-1]

    @property
    def classname(self) -> str:
        path, _, _ = self.nodeid.rpartition("::")
        return path.replace("/", ".").removesuffix(".py").replace(".py::", ".").replace("::", ".")


@dataclasses.dataclass
class RunRecord:
    run_id: str = ""
    started: str = ""
    finished: str = ""
    interrupted: bool = False
    exit_status: int = 0
    hosts: dict[str, HostRecord] = dataclasses.field(default_factory=dict)
    tests: dict[str, TestRecord] = dataclasses.field(default_factory=dict)
    collected: dict[str, int] = dataclasses.field(default_factory=dict)  # host -> suite tests selected to run
    # host -> {"command": the pytest command that runs it again, "env": names of the variables it needs}
    reproduce: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def host(self, label: str) -> HostRecord:
        if label not in self.hosts:
            self.hosts[label] = HostRecord(label)
        return self.hosts[label]

    def tests_of(self, label: str) -> list[TestRecord]:
        return [t for t in self.tests.values() if t.host == label]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for test in self.tests.values():
            out[test.outcome] = out.get(test.outcome, 0) + 1
        return out
