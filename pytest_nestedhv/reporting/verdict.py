"""The verdict printed at the end of a run, per host: the root cause first, the fixes in
order, what --nested-remediate changed and left, and what was cleaned up or kept.

Fed only by records: ``HostNotes`` the fixtures put in ``config.stash`` (what they did to a
host) and ``Check`` records of the test reports (what was judged). Nothing here talks to a host.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

CHECK_ATTR = "nestedhv_check"  # on a call/setup report: the requirement's Check as a dict
NOTES_ATTR = "nestedhv_notes"  # on a teardown report: the worker's HostNotes, as dicts


@dataclasses.dataclass
class HostNotes:
    """What the fixtures did to one host (JSON-able: it travels from xdist workers)."""

    label: str
    remediated: list[str] = dataclasses.field(default_factory=list)  # commands run, in order
    unchanged: list[str] = dataclasses.field(default_factory=list)  # left as it was, with why
    remediation_error: str | None = None
    kept: list[str] = dataclasses.field(default_factory=list)  # VMs left on the host
    keep_reason: str = ""  # e.g. "--nested-keep=always"
    removed: list[str] = dataclasses.field(default_factory=list)  # VMs this run removed at the end
    swept: list[str] = dataclasses.field(default_factory=list)  # leftovers of earlier runs removed at the start
    cleaned: bool = False  # the cleanup ran (also after Ctrl-C)
    lab: bool = False  # the run built a lab on this host
    crashes: list[str] = dataclasses.field(default_factory=list)  # the host went down: what its log says
    survived: list[str] = dataclasses.field(default_factory=list)  # of those, the ones a lab went on after

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostNotes:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


@dataclasses.dataclass(frozen=True)
class Check:
    """One test's requirement and outcome, read from its report."""

    host: str
    requirement: str
    outcome: str  # passed, failed, skipped
    found: str = ""
    remedy: str = ""
    message: str = ""


NOTES_KEY = pytest.StashKey[dict[str, HostNotes]]()


def notes_for(config: pytest.Config, label: str) -> HostNotes:
    """The notes of ``label`` in this process, created on first use."""
    return config.stash.setdefault(NOTES_KEY, {}).setdefault(label, HostNotes(label))


def host_label(item: pytest.Item) -> str | None:
    """The host a test runs against (its nested_host parameter)."""
    callspec = getattr(item, "callspec", None)
    label = callspec.params.get("nested_host") if callspec is not None else None
    return label if isinstance(label, str) else None


def check_of(item: pytest.Item, report: pytest.TestReport, finding: Mapping[str, Any],
             mask: Any) -> dict[str, Any] | None:
    """The Check (as a dict, to travel on the report) of the report that decides a suite test's
    outcome: its call, or a setup that did not pass."""
    label = host_label(item)
    marker = item.get_closest_marker("requirement")
    decisive = report.when == "call" or (report.when == "setup" and not report.passed)
    if label is None or marker is None or not marker.args or not decisive:
        return None
    text = report.longreprtext.strip()
    return {"host": label, "requirement": str(marker.args[0]), "outcome": "failed" if report.failed else report.outcome,
            "found": mask.mask(str(finding.get("found", ""))), "remedy": mask.mask(str(finding.get("remedy", ""))),
            "message": mask.mask(text.splitlines()[-1] if text else "")}


def count_by_host(items: Iterable[pytest.Item]) -> dict[str, int]:
    """How many requirement tests each host has among ``items`` (what was selected to run)."""
    counts: dict[str, int] = {}
    for item in items:
        label = host_label(item)
        if label is not None and item.get_closest_marker("requirement") is not None:
            counts[label] = counts.get(label, 0) + 1
    return counts


def count_ids_by_host(ids: Iterable[str], labels: Sequence[str]) -> dict[str, int]:
    """The same from test ids alone (an xdist controller sees no items)."""
    from ..xdist_hosts import host_of

    counts: dict[str, int] = {}
    for nodeid in ids:
        label = host_of(nodeid, labels)
        if label is not None:
            counts[label] = counts.get(label, 0) + 1
    return counts


def _counts(checks: Sequence[Check]) -> str:
    counts: dict[str, int] = {}
    for check in checks:
        counts[check.outcome] = counts.get(check.outcome, 0) + 1
    return ", ".join(f"{counts[k]} {k}" for k in ("failed", "passed", "skipped") if counts.get(k))


def render_verdict(label: str, checks: Sequence[Check], notes: HostNotes | None, *, interrupted: bool,
                   not_run: int = 0) -> list[str]:
    """The verdict of one host as terminal lines."""
    failing = [c for c in checks if c.outcome == "failed"]
    summary = _counts(checks) or "no check finished"
    if not_run:
        summary += f", {not_run} not run"
    lines = [f"nestedhv verdict for {label}: {summary}" + (" (interrupted)" if interrupted else "")]
    # the host going down explains whatever failed after it, so it comes before the root cause
    for crash in notes.crashes if notes is not None else ():
        went_on = " (the lab started its L1 again and went on)" if notes is not None and crash in notes.survived else ""
        lines.append(f"  the host went down: {crash}{went_on}")
    if failing:
        first = failing[0]
        lines.append(f"  root cause: {first.requirement}: {first.found or first.message}")
        fixes = list(dict.fromkeys(c.remedy for c in failing if c.remedy))
        for n, remedy in enumerate(fixes, 1):
            owners = ", ".join(c.requirement for c in failing if c.remedy == remedy)
            lines.append(f"  fix {n}: {remedy}  ({owners})")
        if not fixes:
            lines.append("  fix: none known; the failing test's message and the feedback bundle have the details")
    elif checks and not interrupted:
        lines.append("  every requirement checked here holds")
    if notes is not None:
        lines += list(_notes_lines(notes))
    return lines


def _notes_lines(notes: HostNotes) -> Iterable[str]:
    for line in notes.remediated:
        yield f"  remediated: {line}"
    if notes.remediation_error:
        yield f"  remediation stopped: {notes.remediation_error}"
    for line in notes.unchanged:
        yield f"  left unchanged: {line}"
    if notes.kept:
        yield f"  kept ({notes.keep_reason}): {', '.join(notes.kept)}; remove them with Remove-VM -Name NAME -Force " \
              "and delete their nestedhv-*.vhdx disks when done"
    if notes.swept:
        yield f"  swept at the start: {', '.join(notes.swept)} (left by an earlier run that died)"
    if notes.removed:
        yield f"  cleaned up: removed {', '.join(notes.removed)} with the disks this run made"
    elif notes.lab and notes.cleaned and not notes.kept:
        yield "  cleaned up: nothing was left to remove"
    elif notes.lab and not notes.cleaned:
        yield "  cleanup did not run: VMs named nestedhv-<run id>-* may be left on the host; a later run sweeps them"


class VerdictPlugin:
    """On the controller (or the only process): gathers Checks and HostNotes from the test
    reports and prints the verdict per host in the terminal summary."""

    def __init__(self, config: pytest.Config, mask: Any, labels: Sequence[str]) -> None:
        self.config = config
        self.mask = mask
        self.labels = list(labels)
        self.checks: dict[str, list[Check]] = {}
        self.notes: dict[str, HostNotes] = {}  # received from xdist workers
        self.collected: dict[str, int] = {}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # the suite tests each host has after -k: the verdict counts those that never ran
        if session.items:
            self.collected = count_by_host(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.collected:
            self.collected = count_ids_by_host(ids, self.labels)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        check = getattr(report, CHECK_ATTR, None)
        if isinstance(check, dict):
            self.checks.setdefault(check["host"], []).append(Check(**check))
        notes = getattr(report, NOTES_ATTR, None)
        if isinstance(notes, dict):
            self.notes.update({label: HostNotes.from_dict(data) for label, data in notes.items()})

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        if self.config.option.collectonly or self.config.get_verbosity() < -1:
            return
        notes = {**self.notes, **self.config.stash.get(NOTES_KEY, {})}  # this process's own are the latest
        interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
        for label in self.labels:
            checks = self.checks.get(label, [])
            if not checks and label not in notes:
                continue
            not_run = max(0, self.collected.get(label, len(checks)) - len(checks))
            lines = render_verdict(label, checks, notes.get(label), interrupted=interrupted, not_run=not_run)
            for n, line in enumerate(lines):
                terminalreporter.write_line(self.mask.mask(line), bold=n == 0)
