"""--nested-remediate planning: only the listed changes, in an order the platform accepts."""
from __future__ import annotations

import dataclasses

from pytest_nestedhv.hyperv.facts import AdapterFacts, VMFacts
from pytest_nestedhv.hyperv.remedy import plan
from pytest_nestedhv.remote.commands import SWITCH
from pytest_nestedhv.remote.transcript import render_cmd

BAD = VMFacts(
    name="legacy", state="Running", version="7.0", generation=1, notes="", heartbeat="OkApplicationsHealthy",
    processor_count=2, expose_virtualization_extensions=False, dynamic_memory_enabled=True,
    memory_startup_bytes=2 * 1024**3, parent_checkpoint_id="x", checkpoints=("c1",),
    adapters=(AdapterFacts("Network Adapter", "Off", None, ()),),
)


def test_running_vm_is_stopped_before_settings_change() -> None:
    got = [(c.name, c.params) for c in plan(BAD)]
    assert got == [
        ("Stop-VM", (("Name", "legacy"), ("Force", SWITCH))),
        ("Set-VMProcessor", (("VMName", "legacy"), ("ExposeVirtualizationExtensions", True))),
        ("Set-VMMemory", (("VMName", "legacy"), ("DynamicMemoryEnabled", False))),
        ("Set-VMMemory", (("VMName", "legacy"), ("StartupBytes", 4 * 1024**3))),
        ("Set-VMNetworkAdapter", (("VMName", "legacy"), ("MacAddressSpoofing", "On"))),
    ]
    assert render_cmd(plan(BAD)[0]) == "Stop-VM -Name 'legacy' -Force"


def test_saved_vm_gets_its_state_removed_not_stopped() -> None:
    cmds = plan(dataclasses.replace(BAD, state="Saved"))
    assert cmds[0].name == "Remove-VMSavedState" and all(c.name != "Stop-VM" for c in cmds)


def test_compliant_vm_is_left_alone_and_checkpoints_versions_never_touched() -> None:
    good = dataclasses.replace(BAD, expose_virtualization_extensions=True, dynamic_memory_enabled=False,
                               memory_startup_bytes=4 * 1024**3,
                               adapters=(AdapterFacts("Network Adapter", "On", None, ()),))
    assert plan(good) == []
    names = {c.name for c in plan(BAD)}
    assert not names & {"Remove-VMSnapshot", "Update-VMVersion", "Remove-VM"}
