"""Every cmdlet and parameter the plugin sends during full runs exists in the reference (cmdlets.json).

A conftest in the pytester folder wraps the in-process emulator's ``Engine.invoke`` and records
each command as the engine receives it (host and, through PowerShell Direct, guest commands),
so this checks the wire, not the plugin's intentions. The reference is read directly, not
through the emulator's own binder, so a binder that is too lenient cannot hide a mistake.
"""
from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from .suite_runner import run_suite

REFERENCE = Path(__file__).resolve().parents[2] / "pytest_nestedhv" / "sim" / "reference" / "cmdlets.json"
# PowerShell's common parameters: valid on every cmdlet whose parameter sets take them
COMMON = {"Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable",
          "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable"}
APPLICATIONS = {"bcdedit", "bcdedit.exe"}  # native programs, not cmdlets

RECORDER = '''
import json, os
from pytest_nestedhv.sim.powershell.engine import Engine

_invoke = Engine.invoke
_seen = []

def _recording(self, spec, input_objects, ctx, expects_input):
    _seen.append({"name": spec.name, "script": spec.is_script, "depth": ctx.node.depth,
                  "params": [n for n, _ in spec.parameters if n is not None],
                  "positional": sum(1 for n, _ in spec.parameters if n is None)})
    return _invoke(self, spec, input_objects, ctx, expects_input)

Engine.invoke = _recording

def pytest_unconfigure(config):
    with open("commands.json", "w", encoding="utf-8") as f:
        json.dump(_seen, f)
'''


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.lstrip("\ufeff")).strip()


def shipped_scripts() -> set[str]:
    folder = resources.files("pytest_nestedhv").joinpath("remote/scripts")
    return {_fold(f.read_text("utf-8")) for f in folder.iterdir() if f.name.endswith(".ps1")}


def problems(commands: list[dict[str, Any]]) -> list[str]:
    """What the reference does not know: unknown cmdlets, parameters absent from every set."""
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))["cmdlets"]
    scripts = shipped_scripts()
    found: list[str] = []
    for cmd in commands:
        name = cmd["name"]
        if cmd["script"]:
            if _fold(name) not in scripts:
                found.append(f"script text that is not a shipped .ps1: {name[:80]!r}")
            continue
        if name.lower() in APPLICATIONS:
            continue
        entry = reference.get(name)
        if entry is None:
            found.append(f"{name}: not a cmdlet in cmdlets.json (exact name)")
            continue
        known = set(entry["parameters"]) | {p["name"] for s in entry["parameter_sets"] for p in s["parameters"]}
        if any(s.get("common_parameters") for s in entry["parameter_sets"]):
            known |= COMMON
        found += [f"{name} -{p}: no such parameter in cmdlets.json" for p in cmd["params"] if p not in known]
        # the parameters used together must fit one parameter set
        sets = [s for s in entry["parameter_sets"]
                if set(cmd["params"]) - COMMON <= {p["name"] for p in s["parameters"]}]
        if not sets and entry["parameter_sets"]:
            found.append(f"{name} {sorted(cmd['params'])}: no parameter set takes these together")
    return sorted(set(found))


RUNS = {
    # a full, passing run: every lab step, the toggle probe, the negative probe, cleanup
    "default": ("--nested-host=sim",),
    # a failing one: the hypervisor-event lookup in the L1, skips, cleanup after failure
    "bcd-nested-off": ("--nested-host=sim:bcd-nested-off",),
    # --nested-vm with remediation: the read-only facts and every remediation change
    "remediate": ("--nested-host=sim:legacy-vms", "--nested-vm=legacy-saved", "--nested-remediate"),
}


@pytest.mark.parametrize("label", sorted(RUNS))
def test_every_command_sent_exists_in_the_reference(pytester: pytest.Pytester, label: str) -> None:
    pytester.makeconftest(RECORDER)
    run = run_suite(pytester, *RUNS[label])
    assert run.cases, run.stdout[-2000:]
    commands = json.loads((pytester.path / "commands.json").read_text(encoding="utf-8"))
    names = {c["name"] for c in commands if not c["script"]}
    assert problems(commands) == []
    assert all(c["positional"] == 0 for c in commands if not c["script"] and c["name"].lower() not in APPLICATIONS)
    # the recording saw the run for real: host commands and, for a provisioning run, guest commands
    assert {"Get-VM", "Get-VMProcessor"} <= names
    if label == "default":
        assert any(c["script"] for c in commands) and any(c["depth"] == 1 for c in commands)
        assert {"New-VM", "Set-VMProcessor", "Start-VM", "Wait-VM", "Install-WindowsFeature", "Restart-Computer",
                "Remove-VM"} <= names
    if label == "remediate":
        assert "Remove-VMSavedState" in names and "Set-VMNetworkAdapter" in names


def test_the_check_itself_catches_mistakes() -> None:
    bad = [{"name": "Get-VMs", "script": False, "params": [], "positional": 0},
           {"name": "Set-VMProcessor", "script": False, "params": ["VMName", "ExposeVirtualisationExtensions"],
            "positional": 0},
           {"name": "Stop-VM", "script": False, "params": ["Name", "VM"], "positional": 0},
           {"name": "Get-VM", "script": True, "params": [], "positional": 0},
           {"name": "Get-VM", "script": False, "params": ["Name", "ErrorAction"], "positional": 0}]
    found = problems(bad)
    assert any(p.startswith("Get-VMs:") for p in found)
    assert any("ExposeVirtualisationExtensions" in p for p in found)
    assert any(p.startswith("Stop-VM ['Name', 'VM']") for p in found)
    assert any("not a shipped .ps1" in p for p in found)
    assert not any(p.startswith("Get-VM -") or p.startswith("Get-VM [") for p in found)
