"""Runs fed into a history for the history tests: RunRecords as a run's controller builds them."""
from __future__ import annotations

import datetime

from pytest_nestedhv.reporting.records import HostRecord, PhaseRecord, RunRecord, TestRecord

T0 = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=datetime.timezone.utc)
STEPS = ("host-checked", "l1-created", "l1-booted", "hyperv-installed", "l2-booted")


def iso(t: datetime.datetime) -> str:
    return t.isoformat(timespec="seconds")


def run_record(run_id: str, ubr: int, outcomes: dict[str, str], *, host: str = "hv01", build: int = 26100,
               night: int = 0, steps: dict[str, float] | None = None, flight: str | None = "Dev",
               failed_step: str | None = None) -> RunRecord:
    """One run on one host: ``outcomes`` maps requirement id -> outcome; steps' durations in seconds."""
    started = T0 + datetime.timedelta(days=night)
    run = RunRecord(run_id=run_id, started=iso(started), finished=iso(started + datetime.timedelta(hours=1)))
    facts = {"build": build, "ubr": ubr, "build_lab_ex": f"{build}.1.amd64fre.rs_prerelease.251101-1200"}
    if flight:
        facts["flight"] = flight
    record = HostRecord(host, build=build, ubr=ubr, facts=facts)
    at = started
    for step in STEPS:
        seconds = (steps or {}).get(step, 10.0)
        record.phases.append(PhaseRecord(step, iso(at), seconds, step != failed_step,
                                         "it failed" if step == failed_step else None))
        at += datetime.timedelta(seconds=seconds)
    run.hosts[host] = record
    for requirement, outcome in outcomes.items():
        nodeid = f"suites/test_nested.py::test_{requirement.replace('.', '_')}[{host}]"
        run.tests[nodeid] = TestRecord(nodeid, host=host, requirement=requirement, severity="error",
                                       outcome=outcome, duration_s=1.5, time=iso(started),
                                       message="boom" if outcome == "failed" else "")
    return run


# The story the history must tell (builds fed in out of order, UBR 999 < 1000 numerically):
# - nested.boot: passes on 999 and 1000, fails on both runs of 2000 (broke), flakes on 3000, passes on
#   4000 (fixed), fails again on 5000 (still failing);
# - host.vbs: one build disagreeing with itself (1000: passed then failed), passing elsewhere: flaky only;
# - l1-booted takes 10 s, then 30 s on 5000: a slowdown; l2-booted 10 s throughout.
NIGHTS = [
    ("n1", 1000, {"nested.boot": "passed", "host.vbs": "passed"}, {}),
    ("n2", 1000, {"nested.boot": "passed", "host.vbs": "failed"}, {}),
    ("n3", 2000, {"nested.boot": "failed", "host.vbs": "passed"}, {}),
    ("n4", 2000, {"nested.boot": "failed", "host.vbs": "passed"}, {"l1-booted": 12.0}),
    ("n5", 3000, {"nested.boot": "failed", "host.vbs": "passed"}, {}),
    ("n6", 3000, {"nested.boot": "passed", "host.vbs": "passed"}, {"l1-booted": 9.0}),
    ("n7", 4000, {"nested.boot": "passed", "host.vbs": "passed"}, {}),
    ("n8", 5000, {"nested.boot": "failed", "host.vbs": "passed"}, {"l1-booted": 30.0}),
    ("n0", 999, {"nested.boot": "passed", "host.vbs": "passed"}, {}),  # an older build, recorded last
]


def nightly_runs() -> list[RunRecord]:
    return [run_record(run_id, ubr, outcomes, night=i, steps=steps)
            for i, (run_id, ubr, outcomes, steps) in enumerate(NIGHTS)]
