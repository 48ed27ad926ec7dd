"""The last requirement ids, each made to fail by a host that misbehaves the way a real one could,
end to end (pytester -> plugin -> pypsrp over WinRM, or psrpcore over stdio with --nested-host=local
-> emulated host): exactly that id fails, with its message, the same over both, and nothing fails
that should not."""
from __future__ import annotations

from pathlib import Path

import pytest

from pytest_nestedhv.hyperv.requirements import IDS

from .suite_runner import SuiteRun, host_run

NESTED_AFTER_CREATE = {"nested.boot", "nested.network"}
VIA = pytest.mark.parametrize("via", ["sim", "local"])


def assert_only(run: SuiteRun, failed: set[str], skipped: set[str] = frozenset()) -> None:
    assert set(run.cases) == set(IDS)
    assert run.failed() == failed, {r: run.cases[r].message[:300] for r in run.failed()}
    assert run.skipped() == skipped, {r: run.cases[r].message[:300] for r in run.skipped()}
    passed = {rid for rid, c in run.cases.items() if c.outcome == "passed"}
    assert passed == set(IDS) - failed - skipped
    assert run.ret == 1
    for rid in failed:
        message = run.cases[rid].message
        assert "found" in message and "required" in message, message


@VIA
def test_toggle_regression_fails_only_toggle_while_running(pytester: pytest.Pytester, via: str) -> None:
    run = host_run(pytester, via, "toggle-regression")
    assert_only(run, {"vm.toggle-while-running"})
    message = run.cases["vm.toggle-while-running"].message
    assert "changed extensions on the Running VM" in message and "without error" in message
    assert "Stop-VM -Name" in message  # the fix is named
    # the lab put the setting back: the guest hypervisor and the L2 were unaffected
    assert run.cases["guest.hypervisor"].outcome == "passed" and run.cases["nested.boot"].outcome == "passed"


@VIA
def test_no_extensions_regression_fails_only_the_negative_check(pytester: pytest.Pytester, via: str) -> None:
    run = host_run(pytester, via, "no-extensions-regression")
    assert_only(run, {"negative.no-extensions"})
    message = run.cases["negative.no-extensions"].message
    assert "without exposed extensions installed Hyper-V and started an L2" in message
    assert "documented error" in message


@VIA
def test_guest_without_hyperv_tools_fails_nested_create(pytester: pytest.Pytester, via: str) -> None:
    run = host_run(pytester, via, "guest-no-hyperv-tools")
    assert_only(run, {"nested.create"}, NESTED_AFTER_CREATE)
    message = run.cases["nested.create"].message
    # the real CommandNotFoundException text, from inside the L1 (Hyper-V module missing there)
    assert "is not recognized as the name of a cmdlet, function, script file, or operable program" in message
    assert "Get-VMHost there" in message
    for rid in NESTED_AFTER_CREATE:
        assert "l2-created" in run.cases[rid].message  # skipped, naming the failed step


@VIA
def test_nested_boot_crash_without_an_inner_os(pytester: pytest.Pytester, via: str) -> None:
    # no base image inside the guest: the L2 boots to firmware, and still crashes (a nested-hypervisor crash)
    scenario = pytester.path / "crash-no-os.toml"
    scenario.write_text(Path(__file__).resolve().parents[2].joinpath(
        "pytest_nestedhv", "sim", "scenarios", "nested-boot-crash.toml").read_text(encoding="utf-8")
        .replace("[guest]\n", "[guest]\nbase_images = []\n"), encoding="utf-8")
    run = host_run(pytester, via, str(scenario))
    assert_only(run, {"nested.boot"}, {"nested.network"})
    assert "is Off after Start-VM, not Running" in run.cases["nested.boot"].message
    assert "l2-booted" in run.cases["nested.network"].message


@VIA
def test_nested_boot_hang_with_an_inner_os(pytester: pytest.Pytester, via: str) -> None:
    run = host_run(pytester, via, "nested-boot-hang")
    assert_only(run, {"nested.boot"}, {"nested.network"})
    assert "L2 heartbeat" in run.cases["nested.boot"].message
    assert "l2-booted" in run.cases["nested.network"].message


@VIA
def test_host_without_a_routed_switch_fails_only_nested_network(pytester: pytest.Pytester, via: str) -> None:
    run = host_run(pytester, via, "no-external-switch")
    assert_only(run, {"nested.network"})
    message = run.cases["nested.network"].message
    # the failure names the path the L2's traffic takes: the L1's switch, its spoofing, its addresses
    assert "the L1's adapter is on switch 'Lab'" in message and "L1 addresses: none" in message
    assert "--nested-switch" in message
