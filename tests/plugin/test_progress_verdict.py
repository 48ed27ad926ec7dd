"""Progress lines during long lab steps, and the verdict per host at the end of a run."""
from __future__ import annotations

import time

import pytest

from pytest_nestedhv.hyperv.steps import Step
from pytest_nestedhv.hyperv.waits import Progress, progress
from pytest_nestedhv.reporting.verdict import Check, HostNotes, render_verdict

from .fake_hyperv import FakeSession
from .suite_runner import run_suite
from .test_lab import make_lab


def _wait_for(lines: list, count: int, limit_s: float = 10.0) -> None:
    # a loaded machine may tick late: wait for the lines instead of sleeping a fixed time
    deadline = time.monotonic() + limit_s
    while len(lines) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_progress_reports_elapsed_and_limit_until_the_step_ends() -> None:
    lines: list[tuple[str, float, float]] = []
    with progress(Progress(lambda *a: lines.append(a), every_s=0.05), "hyperv-installed", 1800):
        _wait_for(lines, 4)
    count = len(lines)
    time.sleep(0.2)
    assert len(lines) == count, "a progress line after the step ended"
    assert count >= 4
    assert all(step == "hyperv-installed" and limit == 1800 for step, _, limit in lines)
    elapsed = [e for _, e, _ in lines]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0.04


def test_no_sink_means_no_thread() -> None:
    with progress(None, "x", 10):
        pass


def test_the_long_install_call_shows_progress() -> None:
    session = FakeSession()
    original = session.in_guest

    def slow_install(vm_name, cred, cmd, timeout=None):  # type: ignore[no-untyped-def]
        if cmd.name == "Install-WindowsFeature":
            _wait_for(lines, 3)  # one call that returns only when the feature is installed
        return original(vm_name, cred, cmd, timeout=timeout)

    session.in_guest = slow_install  # type: ignore[method-assign]
    lines: list[tuple[str, float, float]] = []
    lab = make_lab(session, progress=Progress(lambda *a: lines.append(a), every_s=0.05), install_timeout_s=1200)
    assert lab.reach(Step.HYPERV_INSTALLED).ok
    install = [line for line in lines if line[0] == Step.HYPERV_INSTALLED]
    assert len(install) >= 3 and all(limit == 1200 for _, _, limit in install)


SLOW = """description = "slow enough to watch"
[guest]
admin_password = "Sim-Guest-Passw0rd!"
[faults]
time_scale = 100
"""


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_lines_in_the_terminal_and_none_under_q(pytester: pytest.Pytester, quiet: bool) -> None:
    scenario = pytester.path / "slow.toml"
    scenario.write_text(SLOW)
    args = ["-q"] if quiet else []
    run = run_suite(pytester, f"--nested-host=sim:{scenario}", "-o", "nested_progress_interval=0.2",
                    "-k", "hyperv_install", *args)
    assert run.ret == 0, run.stdout[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("nestedhv [sim-slow] Hyper-V install: ")]
    if quiet:
        assert lines == []
    else:
        assert lines and lines[0].endswith(" s / 1800 s"), run.stdout[-2000:]


def test_progress_lines_reach_the_terminal_from_an_xdist_worker(pytester: pytest.Pytester) -> None:
    scenario = pytester.path / "slow.toml"
    scenario.write_text(SLOW)
    run = run_suite(pytester, f"--nested-host=sim:{scenario}", "-o", "nested_progress_interval=0.2",
                    "-k", "hyperv_install", "-n", "1")
    assert run.ret == 0, run.stdout[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("[gw0] nestedhv [sim-slow] Hyper-V install: ")]
    assert lines and lines[0].endswith(" s / 1800 s"), run.stderr[-2000:]


def test_verdict_names_the_root_cause_first_then_fixes_in_order() -> None:
    checks = [Check("h", "host.build", "passed"),
              Check("h", "host.bcd", "failed", found="hypervisorloadoptions OFFERNESTEDVIRT=FALSE",
                    remedy="bcdedit /deletevalue '{current}' hypervisorloadoptions"),
              Check("h", "guest.extensions-visible", "failed", found="VMX not visible", remedy="Set-VMProcessor x"),
              Check("h", "nested.boot", "skipped", message="blocked by host.bcd"),
              Check("h", "guest.hypervisor", "failed", found="no hypervisor", remedy="Set-VMProcessor x")]
    notes = HostNotes("h", removed=["nestedhv-abc-l1"], cleaned=True, lab=True, swept=["nestedhv-old-l1"])
    lines = render_verdict("h", checks, notes, interrupted=False, not_run=2)
    assert lines[-2] == "  swept at the start: nestedhv-old-l1 (left by an earlier run that died)"
    assert lines[0] == "nestedhv verdict for h: 3 failed, 1 passed, 1 skipped, 2 not run"
    assert lines[1] == "  root cause: host.bcd: hypervisorloadoptions OFFERNESTEDVIRT=FALSE"
    assert lines[2] == "  fix 1: bcdedit /deletevalue '{current}' hypervisorloadoptions  (host.bcd)"
    assert lines[3] == "  fix 2: Set-VMProcessor x  (guest.extensions-visible, guest.hypervisor)"
    assert lines[5].startswith("  cleaned up: removed nestedhv-abc-l1")


def _verdict(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("nestedhv verdict for "))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[start:end]


def test_run_verdict_on_a_host_without_nesting(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim:bcd-nested-off")
    verdict = _verdict(run.stdout)
    assert verdict[0].startswith("nestedhv verdict for sim-bcd-nested-off: 1 failed")
    assert verdict[1].startswith("  root cause: host.bcd: ")
    assert verdict[2].startswith("  fix 1: bcdedit ")
    assert any(line.startswith("  cleaned up: removed nestedhv-") for line in verdict)


def test_run_verdict_says_what_keep_kept(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim", "--nested-keep=always", "-k", "nested.create")
    verdict = _verdict(run.stdout)
    kept = [line for line in verdict if line.startswith("  kept (--nested-keep=always): nestedhv-")]
    assert len(kept) == 1 and "-l1" in kept[0], verdict


def test_run_verdict_after_ctrl_c_reports_the_cleanup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(interrupt_at_boot="def pytest_runtest_setup(item):\n"
                                          "    if 'test_boot' in item.nodeid:\n"
                                          "        raise KeyboardInterrupt\n")
    run = run_suite(pytester, "--nested-host=sim", "-p", "interrupt_at_boot")
    assert run.ret == 2
    verdict = _verdict(run.stdout)
    assert verdict[0].endswith("(interrupted)") and "not run" in verdict[0], verdict
    assert any(line.startswith("  cleaned up: removed nestedhv-") for line in verdict), verdict


def test_run_verdict_under_xdist_has_every_hosts_cleanup(pytester: pytest.Pytester) -> None:
    # the cleanup runs in the workers: its record travels on their last teardown report
    run = run_suite(pytester, "-n", "2", "--nested-host=sim", "--nested-host=sim:bcd-nested-off")
    lines = run.stdout.splitlines()
    for label, first in (("sim", "nestedhv verdict for sim: 22 passed"),
                         ("sim-bcd-nested-off", "nestedhv verdict for sim-bcd-nested-off: 1 failed")):
        start = next(i for i, line in enumerate(lines) if line.startswith(f"nestedhv verdict for {label}:"))
        assert lines[start].startswith(first), lines[start]
        block = []
        for line in lines[start + 1:]:
            if not line.startswith("  "):
                break
            block.append(line)
        assert any(line.startswith("  cleaned up: removed nestedhv-") for line in block), block
