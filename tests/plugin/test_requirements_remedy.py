"""--nested-remediate planning and applying: only the listed changes, in an order the platform
accepts, each announced before it is made; what is left unchanged is said, with why."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from tests.plugin.test_requirements import HOST

from pytest_nestedhv.hyperv import remedy
from pytest_nestedhv.hyperv.facts import AdapterFacts, VMFacts
from pytest_nestedhv.hyperv.remedy import plan, remediate
from pytest_nestedhv.remote.commands import SWITCH, Cmd
from pytest_nestedhv.remote.errors import RemoteError
from pytest_nestedhv.remote.transcript import render_cmd

BAD = VMFacts(
    name="legacy", state="Running", version="7.0", generation=1, notes="", heartbeat="OkApplicationsHealthy",
    processor_count=2, expose_virtualization_extensions=False, dynamic_memory_enabled=True,
    memory_startup_bytes=2 * 1024**3, parent_checkpoint_id="x", checkpoints=("c1",),
    adapters=(AdapterFacts("Network Adapter", "Off", None, ()),),
)
GOOD = dataclasses.replace(BAD, state="Off", version="9.0", expose_virtualization_extensions=True,
                           dynamic_memory_enabled=False, memory_startup_bytes=4 * 1024**3, parent_checkpoint_id=None,
                           checkpoints=(), adapters=(AdapterFacts("Network Adapter", "On", None, ()),))
WS2019 = dataclasses.replace(HOST, build=17763, supported_versions=("5.0", "8.0", "9.0"), default_version="9.0")


def cmds(vm: VMFacts, host: Any = WS2019) -> list[tuple[str, tuple[Any, ...]]]:
    steps, _ = plan(vm, host)
    return [(s.cmd.name, s.cmd.params) for s in steps]


def test_running_vm_is_stopped_then_upgraded_before_settings_change() -> None:
    assert cmds(BAD) == [
        ("Stop-VM", (("Name", "legacy"), ("Force", SWITCH))),
        ("Update-VMVersion", (("Name", "legacy"), ("Force", SWITCH))),
        ("Set-VMProcessor", (("VMName", "legacy"), ("ExposeVirtualizationExtensions", True))),
        ("Set-VMMemory", (("VMName", "legacy"), ("DynamicMemoryEnabled", False))),
        ("Set-VMMemory", (("VMName", "legacy"), ("StartupBytes", 4 * 1024**3))),
        ("Set-VMNetworkAdapter", (("VMName", "legacy"), ("MacAddressSpoofing", "On"))),
    ]
    steps, _ = plan(BAD, WS2019)
    assert render_cmd(steps[0].cmd) == "Stop-VM -Name 'legacy' -Force"
    assert "Running" in steps[0].why and "left Off" in steps[0].why


@pytest.mark.parametrize(("vm", "host", "expected"), [
    (dataclasses.replace(GOOD, version="7.0"), WS2019, ["Update-VMVersion"]),  # Off: upgraded, nothing else
    (GOOD, WS2019, []),
    (dataclasses.replace(GOOD, version="7.0"), None, []),  # host unknown: no claim about the version
    (dataclasses.replace(BAD, state="Saved"), WS2019,
     ["Remove-VMSavedState", "Update-VMVersion", "Set-VMProcessor", "Set-VMMemory", "Set-VMMemory",
      "Set-VMNetworkAdapter"]),
])
def test_plan_table(vm: VMFacts, host: Any, expected: list[str]) -> None:
    assert [name for name, _ in cmds(vm, host)] == expected


def test_what_is_left_unchanged_is_said_with_why() -> None:
    _, unchanged = plan(BAD, WS2019)
    assert unchanged == ["1 checkpoint(s) kept: deleting them cannot be undone; if you do not need them: "
                         "Get-VMSnapshot -VMName 'legacy' | Remove-VMSnapshot"]
    amd_old = dataclasses.replace(HOST, build=20348, cpu_vendor="AuthenticAMD", supported_versions=("8.0", "9.0"))
    steps, unchanged = plan(dataclasses.replace(GOOD, version="9.0"), amd_old)
    assert steps == []
    assert unchanged == ["configuration version 9.0 left as it is: nesting needs 9.3 and this host runs at most "
                         "9.0; upgrade the host first"]


class RecordingSession:
    def __init__(self, events: list[str], fail: str | None = None) -> None:
        self.events = events
        self.fail = fail

    def run(self, cmd: Cmd, timeout: float | None = None) -> list[Any]:
        self.events.append(f"run {cmd.name}")
        if cmd.name == self.fail:
            raise RemoteError("Failed to modify device 'Processor'.")
        return []


def test_each_change_is_announced_before_it_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remedy, "gather_vm", lambda session, name: BAD)
    events: list[str] = []
    result = remediate(RecordingSession(events), "legacy", WS2019, announce=lambda line: events.append(line))
    assert events[0].startswith("Stop-VM -Name 'legacy' -Force  (the VM is Running")
    assert events[1] == "run Stop-VM"
    assert [e for e in events if e.startswith("run ")] == [f"run {name}" for name, _ in cmds(BAD)]
    assert result.changes[0] == "Stop-VM -Name 'legacy' -Force" and result.error is None
    assert result.unchanged and "checkpoint" in result.unchanged[0]


def test_a_failed_change_ends_the_remediation_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remedy, "gather_vm", lambda session, name: BAD)
    events: list[str] = []
    result = remediate(RecordingSession(events, fail="Set-VMProcessor"), "legacy", WS2019)
    assert result.changes == ("Stop-VM -Name 'legacy' -Force", "Update-VMVersion -Name 'legacy' -Force")
    assert result.error == ("Set-VMProcessor -VMName 'legacy' -ExposeVirtualizationExtensions:$true failed: "
                            "Failed to modify device 'Processor'.")
    assert "run Set-VMMemory" not in events
