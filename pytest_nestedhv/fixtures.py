"""The lab chain as pytest fixtures, on top of the plugin's per-host ``nested_host``.

nested_observer (session, per host) owns the host facts, the Lab (or the user's VM in
--nested-vm mode) and tears the lab down at the end of the session (also after a failure or
Ctrl-C: pytest runs session finalizers then). ``requirement`` is what a suite test calls:
it judges the catalog id the test is marked with and turns the Finding into pass / fail /
skip / warning. What they learn goes to the reports as ``handover`` records (config.stash
per host, item.stash per test).
"""
from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .exitcodes import NestedExit
from .handover import TEST_KEY, host_evidence
from .host_watch import host_watch
from .hyperv import requirements as req
from .hyperv.facts import FactsError
from .hyperv.lab import Lab, LabConfig, LabConfigError
from .hyperv.observer import Observer
from .hyperv.remedy import Remediation
from .hyperv.steps import SIDE_BRANCHES, Step
from .plugin import exit_run
from .remote.errors import ConnectionFailed, RemoteError
from .reporting.verdict import notes_for
from .shared_l1 import share_lab, shared_lab
from .terminal import terminal_progress, write_line

log = logging.getLogger("pytest_nestedhv.fixtures")

Check = Callable[..., req.Finding]  # the ``requirement`` fixture: requirement() -> Finding


class NestedAdvisory(UserWarning):
    """An advisory finding (e.g. memory under 4 GB, VBS on a GA build): reported, not failed."""


def _background(session: pytest.Session) -> tuple[Step, ...]:
    """What the lab runs in the background for the collected tests: the host check (it overlaps the
    reading of the host's facts) and the side branches some test needs (they overlap the L1's chain)."""
    needed: set[Step] = set()
    for item in session.items:
        for marker in item.iter_markers("requirement"):
            r = req.BY_ID.get(str(marker.args[0])) if marker.args else None
            if r is not None and r.needs is not None:
                needed.update(r.needs.path())
    return tuple(step for step in (Step.HOST_CHECKED, *SIDE_BRANCHES) if step in needed)


@pytest.fixture(scope="session")
def nested_observer(request: pytest.FixtureRequest, nested_host: Any) -> Iterator[Observer]:
    """The requirement judge for one host: its facts, and the lab (or the --nested-vm VM) it reads.

    Builds the lab lazily, step by step as the tests ask; removes it at the end of the session."""
    settings = nested_host.settings
    session = nested_host.session
    label = nested_host.target.label
    if settings.vm:
        def announce(line: str) -> None:  # before each change: a running VM is never stopped silently
            write_line(request.config, f"nestedhv [{label}] remediating VM {settings.vm}: {line}")

        observer = Observer(session, None, vm_name=settings.vm, remediate=settings.remediate, announce=announce)
        try:
            observer.user_vm()  # fail the whole run at once when the VM does not exist
        except RemoteError as err:
            exit_run(request.config, f"--nested-vm {settings.vm}: {err.message}", NestedExit.BAD_INPUT)
        if observer.remediation is not None:
            _report_remediation(request.config, label, settings.vm, observer.remediation)
        yield observer
        return
    lab = shared_lab(request.config, label)
    adopted = lab is not None  # nested_l1 built the same L1 first: its pool removes it (shared_l1.py)
    if lab is None:
        lab = Lab(session, LabConfig(run_id=settings.run_id, base_image=nested_host.base_image,
                                     guest_cred=nested_host.guest_credential, inner_image=nested_host.inner_image,
                                     switch=settings.switch, background=_background(request.session),
                                     progress=terminal_progress(request.config, label, settings.progress_interval_s)))
        lab.on_host_lost = host_watch(request.config, nested_host)
        share_lab(request.config, label, lab)
    observer = Observer(session, lab)
    host_evidence(request.config, label).timeline = lab.timeline  # the reports follow the lab's steps
    try:
        lab.preflight()
    except LabConfigError as err:
        exit_run(request.config, f"{label}: {err}", NestedExit.BAD_INPUT)
    notes_for(request.config, label).lab = True
    lab.start_background()
    try:
        yield observer
    finally:
        if not adopted:
            _clean_up(request, label, lab)


def _clean_up(request: pytest.FixtureRequest, label: str, lab: Lab) -> None:
    """Remove what the lab made (as --nested-keep says) and note it for the verdict."""
    settings = request.getfixturevalue("nested_host").settings
    notes = notes_for(request.config, label)
    failed = request.session.testsfailed > 0
    try:
        removed = lab.cleanup(settings.keep, failed)
    except ConnectionFailed as err:  # the host went away for good: nothing can be removed now
        write_line(request.config, f"nestedhv [{label}] cleanup skipped: {err}")
        removed = []
    if removed:
        log.info("cleanup on %s removed %s", label, ", ".join(removed))
    notes.cleaned = True
    notes.removed = [*notes.removed, *(name for name in removed if name not in notes.removed)]
    notes.survived += [c.message() for c in lab.survived if c.message() not in notes.survived]
    checked = lab.outcomes.get(Step.HOST_CHECKED)
    notes.swept = list(checked.evidence.get("swept") or []) if checked is not None else []
    if settings.keep == "always" or (settings.keep == "failed" and failed):
        # the negative probe removes its VM in its own step
        notes.kept = [vm for vm in lab.created_vms if vm != lab.names.negative and vm not in removed]
        notes.keep_reason = f"--nested-keep={settings.keep}"


def _report_remediation(config: pytest.Config, label: str, vm: str, remediation: Remediation) -> None:
    """The changes were announced one by one; now what failed, and what was left as it was."""
    notes = notes_for(config, label)
    notes.remediated = list(remediation.changes)
    notes.unchanged = list(remediation.unchanged)
    notes.remediation_error = remediation.error
    prefix = f"nestedhv [{label}] remediate {vm}:"
    if remediation.error:
        write_line(config, f"{prefix} stopped: {remediation.error}")
    for line in remediation.unchanged:
        write_line(config, f"{prefix} left unchanged: {line}")
    if not remediation.changes and not remediation.error:
        write_line(config, f"{prefix} no change needed")


def _hand_over(request: pytest.FixtureRequest, observer: Observer) -> None:
    """What the observer learnt about its host, for the reports (config.stash)."""
    evidence = host_evidence(request.config, request.getfixturevalue("nested_host").label)
    evidence.facts = observer.host_facts or evidence.facts
    evidence.vm = observer.vm_facts or evidence.vm
    lab = observer.lab
    if lab is not None:
        evidence.guest = lab.guest_after or lab.guest_before or evidence.guest
        reachable = lab.outcomes.get(Step.GUEST_REACHABLE)
        evidence.events_guest = lab.names.l1 if reachable is not None and reachable.ok else None


@pytest.fixture
def requirement(request: pytest.FixtureRequest, nested_observer: Observer,
                record_property: Callable[[str, object], None]) -> Check:
    """``requirement()`` judges the id the test is marked with (``@pytest.mark.requirement(ID)``)
    on this host and acts on the Finding: a fail fails the test with found / required / fix, a
    skip (also "blocked by <id>" when an earlier requirement decides it) skips it, an advisory
    warns. Returns the Finding."""

    def check(rid: str | None = None) -> req.Finding:
        marked = [str(m.args[0]) for m in request.node.iter_markers("requirement") if m.args]
        rid = rid or (marked[0] if marked else None)
        if rid is None or rid not in marked:
            raise pytest.UsageError(f"{request.node.nodeid} checks {rid} but is marked {marked}")
        if rid not in req.BY_ID:
            raise pytest.UsageError(f"{request.node.nodeid}: unknown requirement id {rid!r} "
                                    f"(known: {', '.join(req.IDS)})")
        record_property("requirement", rid)
        try:
            finding = nested_observer.judge(rid)
        except (FactsError, RemoteError) as err:
            record_property("severity", "error")
            pytest.fail(f"{rid}: could not gather facts: {err}", pytrace=False)
        except ConnectionFailed:  # the host went away: the plugin waits for it and fails this check with why
            record_property("severity", "error")
            raise
        finally:
            _hand_over(request, nested_observer)
        record_property("severity", "skipped" if finding.status == "skip" else finding.severity)
        record_property("status", finding.status)
        record_property("evidence", json.dumps(dict(finding.evidence), default=str, sort_keys=True))
        if finding.blocked_by:
            record_property("blocked_by", finding.blocked_by)
        test = request.node.stash.get(TEST_KEY, None)
        if test is not None:
            test.finding = finding.to_dict()
        if finding.status == "fail":
            pytest.fail(finding.message(), pytrace=False)
        if finding.status == "skip":
            pytest.skip(f"{rid}: {finding.found}")
        if finding.status == "warning":
            warnings.warn(NestedAdvisory(finding.message()), stacklevel=2)
        return finding

    return check
