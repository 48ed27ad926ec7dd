"""Time to write every report of a 200-test run, and how big they are.

Runs a child pytest over 200 generated tests against a fake host (a transcript of ten calls
per test, lab phases, 10% failures with findings and event logs), with the reporting plugin
registered as the real plugin registers it. The time measured is the whole of
pytest_sessionfinish (pytest-html, junit.xml, bundle, history, history.html).
Targets: under 2 s, report.html under 5 MB.

    python bench/report.py [--tests 200]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CONFTEST = r'''
import datetime, json, time
from pathlib import Path
import pytest
from pytest_nestedhv.remote.commands import Cmd
from pytest_nestedhv.remote.secrets import SecretMask
from pytest_nestedhv.remote.transcript import Transcript, TranscriptEntry
from pytest_nestedhv.hyperv.lab import Phase

class Target:
    label = "bench"
    def describe(self): return "fake host for the report benchmark"

class Event(dict):
    pass

class Session:
    def __init__(self):
        self.transcript = Transcript()
    def call(self, name, **params):
        now = datetime.datetime.now(datetime.timezone.utc)
        self.transcript.record(TranscriptEntry(now, 0.01, "host", (Cmd.of(name, **params),), "ok", None,
                                               self.transcript.current_step))
    def run_statements(self, pipelines, timeout=None, check=True):
        return [Event(Id=18590, LogName="Microsoft-Windows-Hyper-V-Worker-Admin", LevelDisplayName="Error",
                      ProviderName="Microsoft-Windows-Hyper-V-Worker", TimeCreated="2026-01-01T00:00:00Z",
                      Message="'vm' has encountered a fatal error.") for _ in range(5)]

class Lab:
    def __init__(self, session):
        self.session = session
        t = datetime.datetime.now(datetime.timezone.utc)
        self.timeline = [Phase(s, t + datetime.timedelta(seconds=i * 40), 30.0 + i, True) for i, s in enumerate(
            ["l1-created", "l1-booted", "hyperv-installed", "guest-rebooted", "l2-created", "l2-booted"])]
        self.outcomes = {}
        self.host = None

class Host:
    target = Target()
    def __init__(self):
        self.session = Session()

_TIMES = {}

def pytest_configure(config):
    from pytest_nestedhv.reporting.plugin import register
    import sys
    register(config, SecretMask(), Path("reports"), run_id="bench", labels=("bench",), caller=sys.modules[__name__])

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session):
    t0 = time.perf_counter()
    try:
        return (yield)
    finally:
        Path("timing.json").write_text(json.dumps({"sessionfinish_s": time.perf_counter() - t0}))

@pytest.fixture(scope="session")
def host():
    return Host()

@pytest.fixture(scope="session")
def lab(host):
    return Lab(host.session)
'''

TESTS = r'''
import json
import pytest

@pytest.mark.parametrize("n", range(COUNT))
@pytest.mark.requirement("bench.req")
def test_check(n, host, lab, record_property):
    for i in range(10):
        host.session.call("Get-VM", Name=f"nestedhv-bench-{n}-{i}")
    record_property("evidence", json.dumps({"n": n, "state": "Running", "versions": ["9.0", "12.0"]}))
    record_property("found", "state Off" if n % 10 == 0 else "state Running")
    record_property("required", "state Running")
    record_property("remedy", "Start-VM -Name x")
    assert n % 10 != 0, f"bench.req: found state Off; required state Running"
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nestedhv-bench-") as tmp:
        where = Path(tmp)
        (where / "conftest.py").write_text(CONFTEST)
        (where / "test_bench.py").write_text(TESTS.replace("COUNT", str(args.tests)))
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
                               "junit_family=xunit1", "test_bench.py"], cwd=where, capture_output=True, text=True)
        reports = where / "reports"
        if not (where / "timing.json").exists() or not (reports / "report.html").exists():
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            return 1
        seconds = json.loads((where / "timing.json").read_text())["sessionfinish_s"]
        html = (reports / "report.html").stat().st_size
        total = sum(p.stat().st_size for p in reports.rglob("*") if p.is_file())
        print(f"tests: {args.tests} ({proc.stdout.strip().splitlines()[-1]})")
        print(f"time to write all reports: {seconds:.3f} s (target < 2 s)")
        print(f"report.html: {html / 1e6:.2f} MB (target < 5 MB); everything under reports/: {total / 1e6:.2f} MB")
        ok = seconds < 2.0 and html < 5e6
        print("within targets" if ok else "OUTSIDE targets")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
