"""Controller side: test reports (with their payloads) folded into one RunRecord."""
from __future__ import annotations

import datetime
from typing import Any

import pytest

from ..remote.secrets import SecretMask
from .collect import PAYLOAD_ATTR
from .records import ERROR, FAILED, PASSED, SKIPPED, EntryRecord, EventRecord, PhaseRecord, RunRecord, TestRecord
from .wire import iso

MAX_LONGREPR = 20_000  # characters of a failure kept per test: enough to read, bounded in size


def now_iso() -> str:
    return iso(datetime.datetime.now(datetime.timezone.utc)) or ""


def one_line(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        text = str(longrepr[2])
        return text.removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return " ".join(str(crash.message).split())
    text = report.longreprtext or ""
    return " ".join(text.strip().splitlines()[-1:]) if text.strip() else ""


class RunCollector:
    def __init__(self, run_id: str, mask: SecretMask) -> None:
        self.mask = mask
        self.run = RunRecord(run_id=run_id, started=now_iso())

    def add(self, report: pytest.TestReport) -> None:
        test = self.run.tests.get(report.nodeid)
        if test is None:
            test = self.run.tests[report.nodeid] = TestRecord(report.nodeid, time=now_iso())
        payload: dict[str, Any] = getattr(report, PAYLOAD_ATTR, None) or {}
        self._outcome(test, report)
        if payload:
            self._payload(test, payload)

    def _outcome(self, test: TestRecord, report: pytest.TestReport) -> None:
        test.phases_seen.append(report.when or "")
        test.duration_s += float(report.duration or 0.0)
        if report.failed:
            # a failure in setup or teardown is an error of the test, as pytest counts it
            outcome = FAILED if report.when == "call" else ERROR
            if test.outcome not in (FAILED, ERROR):
                test.outcome = outcome
                test.message = self.mask.mask(one_line(report))
                test.longrepr = self.mask.mask(report.longreprtext or "")[-MAX_LONGREPR:]
        elif report.skipped and report.when in ("setup", "call"):
            test.outcome = SKIPPED
            test.message = self.mask.mask(one_line(report))
        elif report.when == "call" and test.outcome not in (FAILED, ERROR, SKIPPED):
            test.outcome = PASSED

    def _payload(self, test: TestRecord, payload: dict[str, Any]) -> None:
        if payload.get("start") and report_time_unset(test):
            test.time = iso(datetime.datetime.fromtimestamp(float(payload["start"]), datetime.timezone.utc)) or ""
        test.host = payload.get("host") or test.host
        test.requirement = payload.get("requirement") or test.requirement
        test.severity = payload.get("severity") or test.severity
        if payload.get("finding"):
            test.finding = payload["finding"]
        if test.finding.get("status") == "warning" and not test.severity:
            test.severity = "warning"
        for label, part in (payload.get("hosts") or {}).items():
            host = self.run.host(label)
            info = part.get("info")
            if info:
                host.build = info.get("build", host.build)
                host.ubr = info.get("ubr", host.ubr)
                for field in ("facts", "vm", "guest"):
                    if info.get(field):
                        setattr(host, field, info[field])
                host.guest_user = info.get("guest_user") or host.guest_user
                host.description = info.get("description") or host.description
                host.spec = info.get("spec") or host.spec
            seen = {(p.step, p.started) for p in host.phases}
            for data in part.get("phases") or []:
                phase = PhaseRecord.from_dict(data)
                if (phase.step, phase.started) not in seen:
                    host.phases.append(phase)
            host.entries += [EntryRecord.from_dict(d) for d in part.get("entries") or []]
            host.events += [EventRecord.from_dict(d) for d in part.get("events") or []]
            host.crashes += part.get("crashes") or []

    def finish(self, exit_status: int, interrupted: bool) -> RunRecord:
        run = self.run
        run.finished = now_iso()
        run.exit_status = int(exit_status)
        run.interrupted = interrupted
        for nodeid, test in list(run.tests.items()):
            if test.requirement and not test.severity:
                test.severity = "error"
            if "call" not in test.phases_seen and test.outcome == PASSED:
                del run.tests[nodeid]  # interrupted before its check ran: it did not finish
        for host in run.hosts.values():
            host.entries.sort(key=lambda e: e.started)
            host.phases.sort(key=lambda p: p.started)
            host.events.sort(key=lambda e: (e.machine, e.time or ""))
        return run


def report_time_unset(test: TestRecord) -> bool:
    return len(test.phases_seen) <= 1
