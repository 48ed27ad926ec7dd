"""The last requirement ids, each made to fail by a host that misbehaves the way a real one could,
end to end (pytester -> plugin -> pypsrp over WinRM, or psrpcore over stdio with --nested-host=local
-> emulated host): exactly that id fails, with its message, the same over both, and nothing fails
that should not."""
from __future__ import annotations

from pathlib import Path

import pytest

from pytest_nestedhv.hyperv.requirements import IDS

from .suite_runner import SuiteRun, host_run, run_suite

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
    # the cause is the missing module, not a stopped Hyper-V: the remedy installs the tools
    assert "install the Hyper-V management tools (its PowerShell module) in the L1: " \
           "Install-WindowsFeature -Name 'Hyper-V-PowerShell'" in message
    assert "Get-VMHost" not in message
    for rid in NESTED_AFTER_CREATE:
        # skipped, naming the requirement that failed and its step, with no fix of their own
        assert "blocked by nested.create (lab step 'l2-created' failed" in run.cases[rid].message
        assert "fix:" not in run.cases[rid].message


@VIA
def test_nested_boot_crash_without_an_inner_os(pytester: pytest.Pytester, via: str) -> None:
    # no base image inside the guest: the L2 boots to firmware, and still crashes (a nested-hypervisor crash)
    scenario = pytester.path / "crash-no-os.toml"
    scenario.write_text(Path(__file__).resolve().parents[2].joinpath(
        "pytest_nestedhv", "sim", "scenarios", "nested-boot-crash.toml").read_text(encoding="utf-8")
        .replace("[guest]\n", "[guest]\nbase_images = []\n"), encoding="utf-8")
    run = host_run(pytester, via, str(scenario))
    assert_only(run, {"nested.boot"}, {"nested.network"})
    message = run.cases["nested.boot"].message
    assert "is Off after Start-VM, not Running" in message
    assert "shows why the L2 stopped" in message and "a hang" not in message
    assert "blocked by nested.boot (lab step 'l2-booted' failed" in run.cases["nested.network"].message


@VIA
def test_nested_boot_hang_with_an_inner_os(pytester: pytest.Pytester, via: str) -> None:
    run = host_run(pytester, via, "nested-boot-hang")
    assert_only(run, {"nested.boot"}, {"nested.network"})
    message = run.cases["nested.boot"].message
    assert "L2 heartbeat: not reached within" in message
    # a hang gets a hang's remedy, not the event log of a VM that stopped
    assert "a hang, not a stop" in message and "shows why the L2 stopped" not in message
    assert "blocked by nested.boot (lab step 'l2-booted' failed" in run.cases["nested.network"].message


@VIA
def test_host_without_a_routed_switch_fails_only_nested_network(pytester: pytest.Pytester, via: str) -> None:
    run = host_run(pytester, via, "no-external-switch")
    assert_only(run, {"nested.network"})
    message = run.cases["nested.network"].message
    # the failure names the path the L2's traffic takes: the L1's switch, its spoofing, its addresses
    assert "the L1's adapter is on switch 'Lab'" in message and "L1 addresses: none" in message
    assert "--nested-switch" in message


def test_bcd_forbidding_nesting_blocks_the_guest_checks(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim:bcd-nested-off")
    assert_only(run, {"host.bcd"}, {"guest.extensions-visible", "guest.hyperv-install", "guest.hypervisor",
                                    "nested.create", "nested.boot", "nested.network"})
    assert "bcdedit /deletevalue" in run.cases["host.bcd"].message
    for rid in run.skipped():
        message = run.cases[rid].message
        # the extensions are exposed: the guest checks must not send the user to Set-VMProcessor
        assert f"{rid}: blocked by host.bcd (found hypervisorloadoptions 'OFFERNESTEDVIRT=FALSE'" in message
        assert "ExposeVirtualizationExtensions" not in message and "fix:" not in message
        assert run.cases[rid].properties["blocked_by"] == "host.bcd"


def test_guest_install_without_source_files_gets_the_source_remedy(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim:guest-install-fails")
    blocked = {"guest.hypervisor", "nested.create", "nested.boot", "nested.network"}
    assert_only(run, {"guest.hyperv-install"}, blocked)
    message = run.cases["guest.hyperv-install"].message
    assert "Error: 0x800f081f" in message
    assert "fix: the L1's image lacks the Hyper-V payload (0x800F081F, source files not found)" in message
    assert "Install-WindowsFeature -Name 'Hyper-V' -IncludeManagementTools -Source" in message
    assert "ExposeVirtualizationExtensions" not in message
    for rid in blocked:
        assert run.cases[rid].message.startswith(f"{rid}: blocked by guest.hyperv-install (lab step 'hyperv-installed'")


def test_a_failure_is_blocked_the_same_way_every_time(pytester: pytest.Pytester) -> None:
    # a host without Hyper-V: every lab check is blocked by the first host failure, always as a skip
    run = run_suite(pytester, "--nested-host=sim:no-hypervisor")
    lab_ids = {rid for rid in IDS if not rid.startswith("host.")}
    assert run.failed() == {"host.hypervisor", "host.hyperv-role"}
    assert lab_ids <= run.skipped()
    for rid in lab_ids:
        assert run.cases[rid].message.startswith(f"{rid}: blocked by host.hypervisor (found HypervisorPresent False)")
