"""The lab chain as pytest fixtures, on top of the plugin's per-host ``nested_host``.

nested_observer (session, per host) owns the host facts, the Lab (or the user's VM in
--nested-vm mode) and tears the lab down at the end of the session (also after a failure or
Ctrl-C: pytest runs session finalizers then). ``requirement`` is what a suite test calls:
it judges one catalog id and turns the Finding into pass / fail / skip / warning, recording
the id, severity and evidence for the reports.
"""
from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .hyperv import requirements as req
from .hyperv.facts import FactsError
from .hyperv.lab import Lab, LabConfig, LabConfigError
from .hyperv.observer import Blocked, Observer
from .hyperv.recovery import HostRecovery
from .remote.errors import ConnectionFailed, HostGone, HostUnreachable, RemoteError
from .remote.reconnect import WaitPolicy
from .reporting.verdict import notes_for

log = logging.getLogger("pytest_nestedhv.fixtures")

FINDING_KEY = pytest.StashKey[dict[str, Any]]()  # item.stash: the Finding as a dict, for the reports
LAB_KEY = pytest.StashKey[dict[str, Lab]]()  # config.stash: label -> Lab, for the reports' timeline
# config.stash: label -> every host outage of the run (hyperv.crash.HostCrash.to_dict()), for the reports
HOST_CRASH_KEY = pytest.StashKey[dict[str, list[dict[str, Any]]]]()
EXIT_BAD_INPUT = pytest.ExitCode.USAGE_ERROR


class NestedAdvisory(UserWarning):
    """An advisory finding (e.g. memory under 4 GB, VBS on a GA build): reported, not failed."""


def _write_line(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capman is None:
        reporter.write_line(text)
        return
    with capman.global_and_fixture_disabled():  # shown even while the test's output is captured
        reporter.write_line(text)


@pytest.fixture(scope="session")
def nested_observer(request: pytest.FixtureRequest, nested_host: Any) -> Iterator[Observer]:
    settings = nested_host.settings
    session = nested_host.session
    label = nested_host.target.label
    if settings.vm:
        def announce(line: str) -> None:  # before each change: a running VM is never stopped silently
            _write_line(request.config, f"nestedhv [{label}] remediating VM {settings.vm}: {line}")

        observer = Observer(session, None, vm_name=settings.vm, remediate=settings.remediate, announce=announce)
        try:
            observer.user_vm()  # fail the whole run at once when the VM does not exist
        except RemoteError as err:
            pytest.exit(f"--nested-vm {settings.vm}: {err.message}", returncode=EXIT_BAD_INPUT)
        if observer.remediation is not None:
            _report_remediation(request.config, label, settings.vm, observer.remediation)
        yield observer
        return
    lab = Lab(session, LabConfig(run_id=settings.run_id, base_image=nested_host.base_image,
                                 guest_cred=nested_host.guest_credential, inner_image=nested_host.inner_image,
                                 switch=settings.switch))
    request.config.stash.setdefault(LAB_KEY, {})[label] = lab
    lab.on_host_lost = _host_recovery(request.config, nested_host)
    observer = Observer(session, lab)
    try:
        lab.preflight()
    except LabConfigError as err:
        pytest.exit(f"{label}: {err}", returncode=EXIT_BAD_INPUT)
    notes = notes_for(request.config, label)
    notes.lab = True
    lab.on_host_lost.remember_boot()
    try:
        yield observer
    finally:
        failed = request.session.testsfailed > 0
        try:
            removed = lab.cleanup(settings.keep, failed)
        except ConnectionFailed as err:  # the host went away for good: nothing can be removed now
            _write_line(request.config, f"nestedhv [{label}] cleanup skipped: {err}")
            removed = []
        if removed:
            log.info("cleanup on %s removed %s", label, ", ".join(removed))
        notes.cleaned, notes.removed = True, removed
        if settings.keep == "always" or (settings.keep == "failed" and failed):
            # the negative probe removes its VM in its own step
            notes.kept = [vm for vm in lab.created_vms if vm != lab.names.negative and vm not in removed]
            notes.keep_reason = f"--nested-keep={settings.keep}"


def _report_remediation(config: pytest.Config, label: str, vm: str, remediation: Any) -> None:
    """The changes were announced one by one; now what failed, and what was left as it was."""
    notes = notes_for(config, label)
    notes.remediated = list(remediation.changes)
    notes.unchanged = list(remediation.unchanged)
    notes.remediation_error = remediation.error
    prefix = f"nestedhv [{label}] remediate {vm}:"
    if remediation.error:
        _write_line(config, f"{prefix} stopped: {remediation.error}")
    for line in remediation.unchanged:
        _write_line(config, f"{prefix} left unchanged: {line}")
    if not remediation.changes and not remediation.error:
        _write_line(config, f"{prefix} no change needed")


def _host_recovery(config: pytest.Config, nested_host: Any) -> HostRecovery:
    """Waits for a host that stops answering mid-step (--nested-host-reboot-timeout), shows progress on
    the terminal, and hands each crash record to the reports through config.stash."""
    label = nested_host.target.label

    def record(crash: Any) -> None:
        config.stash.setdefault(HOST_CRASH_KEY, {}).setdefault(label, []).append(crash.to_dict())

    return HostRecovery(nested_host.session, label, WaitPolicy(timeout_s=nested_host.settings.host_reboot_timeout_s),
                        progress=lambda text: _write_line(config, f"nestedhv {text}"), on_crash=record)


@pytest.fixture
def requirement(request: pytest.FixtureRequest, nested_observer: Observer,
                record_property: Callable[[str, object], None]) -> Callable[[str], req.Finding]:
    """``requirement("vm.dynamic-memory")`` judges that id for this host and acts on the Finding."""

    def check(rid: str) -> req.Finding:
        marked = [m.args[0] for m in request.node.iter_markers("requirement") if m.args]
        if rid not in marked:
            raise pytest.UsageError(f"{request.node.nodeid} checks {rid} but is marked {marked}")
        record_property("requirement", rid)
        try:
            finding = nested_observer.judge(rid)
        except Blocked as err:
            record_property("severity", "skipped")
            pytest.skip(f"{rid}: {err}")
        except (FactsError, RemoteError) as err:
            record_property("severity", "error")
            pytest.fail(f"{rid}: could not gather facts: {err}", pytrace=False)
        except HostGone as err:  # this check fails saying so, the run stops after it, the reports are written
            record_property("severity", "error")
            request.session.shouldstop = str(err)
            pytest.fail(f"{rid}: {err}", pytrace=False)
        except HostUnreachable as err:  # lost outside a lab step: this check cannot be judged
            record_property("severity", "error")
            pytest.fail(f"{rid}: {err}", pytrace=False)
        record_property("severity", finding.severity)
        record_property("status", finding.status)
        record_property("evidence", json.dumps(dict(finding.evidence), default=str, sort_keys=True))
        request.node.stash[FINDING_KEY] = finding.to_dict()
        if finding.status == "fail":
            pytest.fail(finding.message(), pytrace=False)
        if finding.status == "skip":
            pytest.skip(f"{rid}: {finding.found}")
        if finding.status == "warning":
            warnings.warn(NestedAdvisory(finding.message()), stacklevel=2)
        return finding

    return check
