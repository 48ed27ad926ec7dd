"""Whole suite runs against in-process emulators: pytest-xdist with two hosts, and a flaky network.

A conftest in the pytester folder records, per process (controller and each xdist worker):
which emulators it started and what they served (requests, dropped connections), the New-VM
calls their engines received, the passwords the emulators were given (to a file outside the
run's folder, so the test can look for them), and - in workers - every file opened for writing
under the reports folder (Python's audit hooks see open() and sqlite3.connect()).
"""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

import pytest

from pytest_nestedhv.hyperv.requirements import IDS
from pytest_nestedhv.sim.scenario import load_scenario

from .suite_runner import SUITES

RECORDER = r'''
import json, os, sys
from pathlib import Path

import pytest

from pytest_nestedhv.sim.powershell.engine import Engine
from pytest_nestedhv.sim.server import SimServer

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "controller")
REPORTS = str(Path.cwd() / "reports")
RECORD = {"worker": WORKER, "engines": [], "new_vm": [], "servers": [], "report_writes": []}

_engine_init = Engine.__init__
def _init(self, world, **kw):
    RECORD["engines"].append(world.scenario_name)
    _engine_init(self, world, **kw)
Engine.__init__ = _init

_invoke = Engine.invoke
def _recording(self, spec, input_objects, ctx, expects_input):
    if not spec.is_script and spec.name == "New-VM":
        RECORD["new_vm"].append([self.world.scenario_name, ctx.node.depth])
    return _invoke(self, spec, input_objects, ctx, expects_input)
Engine.invoke = _recording

_server_init = SimServer.__init__
def _sinit(self, engine, *a, users=None, **kw):
    with open(os.environ["E2E_SECRET_SINK"], "a", encoding="utf-8") as f:  # outside the run's folder
        f.writelines(p + "\n" for p in (users or {}).values())
    _server_init(self, engine, *a, users=users, **kw)
    SERVERS.append((engine.world.scenario_name, self))
SimServer.__init__ = _sinit
SERVERS = []

def _audit(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
    elif event == "sqlite3.connect":
        path, writing = args[0], True
    else:
        return
    if writing and isinstance(path, (str, os.PathLike)) and os.path.abspath(os.fspath(path)).startswith(REPORTS):
        RECORD["report_writes"].append(os.fspath(path))

if WORKER != "controller":
    sys.addaudithook(_audit)

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    RECORD["servers"] = [[name, server.request_count, server.dropped_count] for name, server in SERVERS]
    with open(f"record-{WORKER}.json", "w", encoding="utf-8") as f:
        json.dump(RECORD, f)
'''


Cases = dict[tuple[str, str], tuple[str, dict[str, str]]]  # (host, requirement id) -> (outcome, properties)


def run(pytester: pytest.Pytester, *args: str) -> tuple[Any, dict[str, dict[str, Any]], Cases, list[str]]:
    """Runs the suite; returns (result, records by process, (host, id) -> (outcome, properties), passwords)."""
    shutil.copytree(SUITES, pytester.path / "suites", ignore=shutil.ignore_patterns("__pycache__"))
    pytester.makeconftest(RECORDER)
    sink = pytester.path.parent / f"{pytester.path.name}-secrets.txt"
    sink.write_text("", encoding="utf-8")
    pytester._monkeypatch.setenv("E2E_SECRET_SINK", str(sink))
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess("suites", f"--junitxml={junit}", "-p", "no:cacheprovider",
                                           "-o", "junit_family=xunit1", *args, timeout=300)
    records = {r["worker"]: r for r in (json.loads(p.read_text(encoding="utf-8"))
                                        for p in pytester.path.glob("record-*.json"))}
    cases: Cases = {}
    for tc in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in tc.iter("property")}
        outcome = next((name for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped"))
                        if tc.find(tag) is not None), "passed")
        cases[(props.get("host", ""), props.get("requirement", ""))] = (outcome, props)
    passwords = [p for p in sink.read_text(encoding="utf-8").splitlines() if p]
    sink.unlink()
    return result, records, cases, passwords


def assert_no_secrets(pytester: pytest.Pytester, result: Any, secrets: list[str]) -> None:
    assert secrets
    output = "\n".join(result.outlines + result.errlines)
    assert not [s for s in secrets if s in output]
    for path in pytester.path.rglob("*"):
        if path.is_file() and path.name != "conftest.py":
            data = path.read_bytes()
            for text in (data.decode("utf-8", "replace"), data.decode("utf-16-le", "replace")):
                assert not [s for s in secrets if s in text], path


def test_xdist_two_hosts_each_lab_once_and_workers_write_no_reports(pytester: pytest.Pytester) -> None:
    result, records, cases, passwords = run(pytester, "-n", "2", "--nested-host=sim", "--nested-host=sim:vbs-running")
    assert result.ret == 0, "\n".join(result.outlines[-40:])
    # results: every id, for each host, correct (vbs-running: an advisory warning, not a failure)
    assert set(cases) == {(host, rid) for host in ("sim", "sim-vbs-running") for rid in IDS}
    assert {k: v[0] for k, v in cases.items() if v[0] != "passed"} == {}
    assert cases[("sim-vbs-running", "host.vbs")][1]["severity"] == "warning"
    assert cases[("sim", "host.vbs")][1]["severity"] == "info"
    workers = {w: r for w, r in records.items() if w != "controller"}
    assert sorted(workers) == ["gw0", "gw1"]
    # each host's emulator started once, in one worker; the controller started none
    assert records["controller"]["engines"] == []
    started = Counter(s for r in workers.values() for s in r["engines"])
    assert started == Counter({"default": 1, "vbs-running": 1})
    # each lab built once: one L1 and one negative probe on the host, one L2 inside the L1
    for scenario in ("default", "vbs-running"):
        calls = Counter(depth for r in workers.values() for s, depth in r["new_vm"] if s == scenario)
        assert calls == Counter({0: 2, 1: 1}), (scenario, calls)
    # workers wrote no reports; the controller did
    assert [w for r in workers.values() for w in r["report_writes"]] == []
    assert (pytester.path / "reports" / "report.html").is_file()
    assert len(passwords) == 2  # one generated host password per emulator
    assert_no_secrets(pytester, result, passwords + [load_scenario("default").guest.admin_password])


def test_flaky_network_gives_no_false_result(pytester: pytest.Pytester) -> None:
    result, records, cases, passwords = run(pytester, "--nested-host=sim:flaky-network")
    assert {rid for (_host, rid) in cases} == set(IDS)
    assert {rid: v[0] for (_h, rid), v in cases.items() if v[0] != "passed"} == {}
    assert result.ret == 0
    (server,) = records["controller"]["servers"]
    scenario, requests, dropped = server
    assert scenario == "flaky-network" and dropped >= 3 and requests > dropped  # drops really happened
    assert len(passwords) == 1
    assert_no_secrets(pytester, result, passwords + [load_scenario("flaky-network").guest.admin_password])
