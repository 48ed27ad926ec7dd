"""The shipped suite end to end against the emulated host (real pypsrp client path), via pytester."""
from __future__ import annotations

import pytest

from pytest_nestedhv.hyperv.requirements import IDS

from .suite_runner import run_suite

INNER = "--nested-inner-image=C:\\Images\\ws2025.vhdx"


def test_default_scenario_passes_every_id(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim")  # the scenario supplies the L1 and L2 images
    assert set(run.cases) == set(IDS)
    assert {rid: c.outcome for rid, c in run.cases.items() if c.outcome != "passed"} == {}
    assert run.ret == 0
    assert all(c.properties.get("severity") == "info" for c in run.cases.values())


def test_without_inner_image_only_network_is_skipped(pytester: pytest.Pytester) -> None:
    scenario = pytester.path / "no-inner.toml"
    scenario.write_text('description = "no image for an L2"\n[guest]\nbase_images = []\n')
    run = run_suite(pytester, f"--nested-host=sim:{scenario}")
    assert run.skipped() == {"nested.network"} and not run.failed()
    assert "--nested-inner-image" in run.cases["nested.network"].message


# scenario -> (ids that must fail, text in the first id's message); host-area ids not listed must not fail
SCENARIOS = {
    "amd-win10": ({"host.cpu", "host.config-version", "vm.config-version"}, "cannot nest on AMD"),
    "no-hypervisor": ({"host.hypervisor", "host.hyperv-role"}, "HypervisorPresent False"),
    # the guest checks cannot pass on such a host: blocked by host.bcd (skipped), the one fix is the BCD's
    "bcd-nested-off": ({"host.bcd"}, "OFFERNESTEDVIRT=FALSE"),
    "guest-install-fails": ({"guest.hyperv-install"}, "source files could not be found"),
    "nested-boot-crash": ({"nested.boot"}, "Off"),  # "crashed ... turned off" or "turned Off while waiting"
    "preview-10565": ({"host.vbs"}, "cannot expose"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_violating_scenario_fails_exactly_its_ids(pytester: pytest.Pytester, scenario: str) -> None:
    expected, text = SCENARIOS[scenario]
    run = run_suite(pytester, f"--nested-host=sim:{scenario}", INNER)
    assert run.failed() == expected, {r: run.cases[r].message[:200] for r in run.failed()}
    first = sorted(expected, key=IDS.index)[0]
    message = run.cases[first].message
    assert text in message and "found" in message and "required" in message
    assert run.ret == 1
    # what follows a failed lab step is skipped with the cause, never reported as a pass
    for rid in run.skipped():
        assert run.cases[rid].message


def test_vbs_running_is_an_advisory_warning(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim:vbs-running")
    assert run.cases["host.vbs"].outcome == "passed"
    assert run.cases["host.vbs"].properties["severity"] == "warning"
    assert "NestedAdvisory" in run.stdout and run.ret == 0


LEGACY = {
    "legacy": {"vm.config-version", "vm.expose-extensions", "vm.dynamic-memory", "vm.checkpoints", "vm.mac-spoofing"},
    "legacy-saved": {"vm.saved-state", "vm.mac-spoofing"},
    "legacy-running": {"vm.expose-extensions", "vm.dynamic-memory", "vm.checkpoints", "vm.mac-spoofing"},
}


@pytest.mark.parametrize("vm", sorted(LEGACY))
def test_nested_vm_is_judged_read_only(pytester: pytest.Pytester, vm: str) -> None:
    run = run_suite(pytester, "--nested-host=sim:legacy-vms", f"--nested-vm={vm}")
    assert run.failed() == LEGACY[vm]
    assert {r for r in IDS if not r.startswith(("host.", "vm.")) or r == "vm.toggle-while-running"} <= run.skipped()
    assert "remediated" not in run.stdout
    again = run_suite(pytester, "--nested-host=sim:legacy-vms", f"--nested-vm={vm}")
    assert again.failed() == LEGACY[vm]  # nothing was changed


def test_nested_vm_remediate_fixes_what_it_may(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim:legacy-vms", "--nested-vm=legacy-running", "--nested-remediate")
    # checkpoints are never removed by remediation (not reversible): that failure remains, and is said
    assert run.failed() == {"vm.checkpoints"}
    assert run.cases["vm.memory"].outcome == "passed" and run.cases["vm.memory"].properties["severity"] == "info"
    prefix = "nestedhv [sim-legacy-vms] remediating VM legacy-running: "
    lines = [line for line in run.stdout.splitlines() if line.startswith(prefix)]
    assert [line[len(prefix):].split("  (")[0] for line in lines] == [
        "Stop-VM -Name 'legacy-running' -Force",
        "Set-VMProcessor -VMName 'legacy-running' -ExposeVirtualizationExtensions:$true",
        "Set-VMMemory -VMName 'legacy-running' -DynamicMemoryEnabled:$false",
        "Set-VMMemory -VMName 'legacy-running' -StartupBytes 4GB",
        "Set-VMNetworkAdapter -VMName 'legacy-running' -MacAddressSpoofing 'On'",
    ]
    assert "(the VM is Running and these changes need it Off; it is shut down and left Off)" in lines[0]
    assert "left unchanged: 2 checkpoint(s) kept: deleting them cannot be undone" in run.stdout


def test_nested_vm_remediate_upgrades_an_old_configuration_version(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim:legacy-vms", "--nested-vm=legacy", "--nested-remediate",
                    "--nested-report-dir=reports")
    text = run.stdout + run.stderr
    assert "_pytest.outcomes.Exit" not in text and "Traceback" not in text
    assert "remediating VM legacy: Update-VMVersion -Name 'legacy' -Force" in text
    assert run.failed() == {"vm.checkpoints"}
    assert run.cases["vm.config-version"].outcome == "passed"
    assert (pytester.path / "reports" / "feedback" / "sim-legacy-vms" / "feedback.md").is_file()


def test_nested_vm_naming_no_vm_is_one_line_exit(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--nested-host=sim:legacy-vms", "--nested-vm=nosuch")
    assert run.ret != 0
    assert 'Hyper-V was unable to find a virtual machine with name "nosuch".' in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
