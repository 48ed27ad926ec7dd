"""The shipped suite against a host that goes away mid-run (issue 10, host crash), via pytester.

sim:host-bugcheck: the L2's start bugchecks the host; the run waits, reads why, fails that step
with the bugcheck, blocks what follows, cleans up after the reboot and names the bugcheck in the
feedback bundle. A restart during the Hyper-V install is survived: the lab boots its L1 again and
goes on, and the restart is still named. A host that never comes back ends the run in one line,
with the reports written.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_nestedhv.exitcodes import NestedExit
from pytest_nestedhv.hyperv.requirements import HOST_CRASH_REMEDY, IDS

from .suite_runner import run_suite

BUGCHECK = ("host bugchecked 0x00020001 (0x0000000000000011, 0x0000000000000000, 0x0000000000000000, "
            "0x0000000000000000) during l2-booted; dump: C:\\Windows\\MEMORY.DMP")


def _bundle(pytester: pytest.Pytester, label: str) -> Path:
    return pytester.path / "reports" / "feedback" / label


def _history_json(db: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "pytest_nestedhv.history", "--db", str(db), "--json"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return json.loads(out)


def _junit_properties(junit: Path) -> list[tuple[str, str]]:
    return [(p.get("name", ""), p.get("value", "")) for p in ET.parse(junit).getroot().iter("property")]


def _imported(pytester: pytest.Pytester, junit: Path) -> Path:
    db = pytester.path / "imported.sqlite"
    subprocess.run([sys.executable, "-m", "pytest_nestedhv.history", "import", "--db", str(db), str(junit)],
                   capture_output=True, text=True, check=True, timeout=60)
    return db


def test_host_bugcheck_fails_the_l2_boot_and_blocks_the_rest(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim:host-bugcheck")
    assert run.ret == 1
    assert run.failed() == {"nested.boot"}
    boot = run.cases["nested.boot"].message
    assert BUGCHECK in boot and HOST_CRASH_REMEDY in boot
    # what comes after the crashed step is blocked by it, never run against the rebooted host; the
    # negative probe ran beside the L1's boot and install, long before the L2 started
    assert run.skipped() == {"nested.network"}
    for rid in run.skipped():
        assert f"lab step 'l2-booted' failed: {BUGCHECK}" in run.cases[rid].message
    assert {rid for rid, c in run.cases.items() if c.outcome == "passed"} == set(IDS) - {
        "nested.boot", "nested.network"}
    # progress while waiting, on the terminal
    assert "host not answering for" in run.stdout and "host answers again after" in run.stdout
    bundle = _bundle(pytester, "sim-host-bugcheck")
    title = (bundle / "feedback.md").read_text("utf-8").splitlines()[0]
    assert title.startswith("# Nested virtualization: host bugcheck 0x00020001 HYPERVISOR_ERROR during lab step l2-booted on ")
    crash = json.loads((bundle / "events" / "host-crash.json").read_text("utf-8"))
    assert crash["kind"] == "bugcheck" and crash["step"] == "l2-booted" and crash["message"] == BUGCHECK
    assert crash["bugcheck"]["code"] == "0x00020001" and crash["bugcheck"]["dump_path"] == "C:\\Windows\\MEMORY.DMP"
    assert {"bugcheck", "kernel-power", "unexpected-shutdown"} <= set(crash["event_kinds"])
    assert crash["boot_time"] and crash["downtime_s"] > 0
    # everything the run created is removed after the reboot
    transcript = (bundle / "transcript.ps1").read_text("utf-8")
    crashed_at = re.search(r"Start-VM -Name 'nestedhv-\w+-l2'", transcript)  # the L2's start, in the guest
    assert crashed_at is not None
    after = transcript[crashed_at.end():]
    assert "Get-WinEvent -FilterHashtable @{'LogName' = 'System'; 'Id' = @(1001, 41, 6008, 1074)}" in after
    assert re.search(r"Remove-VM -Name 'nestedhv-\w+-l1' -Force", after)
    # history keeps the crash with the run: JSON, the page, and a history rebuilt from junit.xml alike
    title = "host bugcheck 0x00020001 HYPERVISOR_ERROR during lab step l2-booted"
    reports = pytester.path / "reports"
    for db in (reports / "history.sqlite", _imported(pytester, pytester.path / "junit.xml")):
        builds = _history_json(db)["hosts"]["sim-host-bugcheck"]["builds"]
        assert [r["crash"] for b in builds.values() for r in b["runs"]] == [title]
    page = (reports / "history.html").read_text("utf-8")
    assert f'<span class="crash" title="{title}">host crash</span>' in page
    assert re.search(r'<table id="crashes">.*' + re.escape(title), page, re.DOTALL)


@pytest.mark.parametrize("kind", ["unexpected", "planned"])
def test_a_restart_during_the_install_is_survived_and_named(pytester: pytest.Pytester, kind: str) -> None:
    """A restart (no bugcheck) is infrastructure, not a finding: the lab boots its L1 again (from Off,
    or from the Saved state a planned restart leaves), installs again and the run goes on; the
    verdict, the bundle and history still say that the host went down."""
    scenario = pytester.path / "restart-install.toml"
    scenario.write_text('description = "the host restarts during the install"\n'
                        '[guest]\nadmin_password = "Sim-Guest-Passw0rd!"\n'
                        f'[faults]\nhost_restart_at = "hyperv-installed"\nhost_restart_kind = "{kind}"\n',
                        encoding="utf-8")
    run = run_suite(pytester, f"--nested-host=sim:{scenario}")
    assert run.ret == 0, run.stdout[-3000:]
    assert {c.outcome for c in run.cases.values()} == {"passed"} and len(run.cases) == len(IDS)
    said = {"unexpected": "host restarted unexpectedly during hyperv-installed (the previous shutdown at ",
            "planned": "host restarted (a planned restart: "}[kind]
    assert "host not answering for" in run.stdout and "host answers again after" in run.stdout
    went_on = re.search(r"  the host went down: (.*) \(the lab started its L1 again and went on\)", run.stdout)
    assert went_on and went_on.group(1).startswith(said), run.stdout[-3000:]
    crash = json.loads((_bundle(pytester, "sim-restart-install") / "events" / "host-crash.json").read_text("utf-8"))
    assert crash["kind"] == kind and crash["bugcheck"] is None and crash["step"] == "hyperv-installed"
    # both attempts of the install are timed; history keeps the run's crash
    steps = [v for k, v in _junit_properties(pytester.path / "junit.xml") if k.endswith("/step/hyperv-installed")]
    assert [v.split()[1] for v in steps] == ["failed", "ok"]
    builds = _history_json(pytester.path / "reports" / "history.sqlite")["hosts"]["sim-restart-install"]["builds"]
    assert [r["crash"] for b in builds.values() for r in b["runs"]] == [crash["title"]]


def test_a_host_that_never_comes_back_ends_the_run_in_one_line(pytester: pytest.Pytester) -> None:
    scenario = pytester.path / "gone.toml"
    scenario.write_text('description = "the host never comes back"\n[host]\nreboot_seconds = 1000000\n'
                        '[guest]\nadmin_password = "Sim-Guest-Passw0rd!"\n[nested]\nboot = "host-bugcheck"\n',
                        encoding="utf-8")
    run = run_suite(pytester, f"--nested-host=sim:{scenario}", "--nested-host-reboot-timeout=2")
    assert run.ret == NestedExit.HOST_LOST  # README: Exit codes
    said = "the host stopped answering and did not come back within 2 s (--nested-host-reboot-timeout)"
    stopped = [line for line in run.stdout.splitlines() if "Interrupted: " in line]
    assert len(stopped) == 1 and said in stopped[0] and "Traceback" not in run.stdout + run.stderr
    # the check that was waiting fails saying so; nothing runs after it
    assert run.failed() == {"nested.boot"} and said in run.cases["nested.boot"].message
    assert not {"nested.network", "negative.no-extensions"} & set(run.cases)
    assert "cleanup skipped" in run.stdout  # nothing can be removed from a host that is not there
    bundle = _bundle(pytester, "sim-gone")
    feedback = (bundle / "feedback.md").read_text("utf-8")
    assert feedback.startswith("# Nested virtualization: host stopped answering and never came back during lab "
                               "step l2-booted")
    assert "The run was interrupted" in feedback
    assert json.loads((bundle / "events" / "host-crash.json").read_text("utf-8"))["kind"] == "gone"
    assert (pytester.path / "reports" / "report.html").exists() and (pytester.path / "junit.xml").exists()


def test_a_restart_as_the_l1_boots_is_survived_by_the_probe_beside_it_too(pytester: pytest.Pytester) -> None:
    """The negative probe boots its own L1 beside the chain's: a restart at the chain's L1 boot cuts
    it short as well. Both go on; no check fails for a connection error."""
    scenario = pytester.path / "restart-boot.toml"
    scenario.write_text('description = "the host restarts as the L1 boots"\n'
                        '[guest]\nadmin_password = "Sim-Guest-Passw0rd!"\n'
                        '[faults]\nhost_restart_at = "l1-booted"\n', encoding="utf-8")
    run = run_suite(pytester, f"--nested-host=sim:{scenario}")
    assert run.ret == 0, run.stdout[-3000:]
    assert {c.outcome for c in run.cases.values()} == {"passed"} and len(run.cases) == len(IDS)
    assert "HostUnreachable" not in run.stdout
