"""--nested-remediate: change one existing VM until it meets the L1 requirements.

Only the named VM is touched, and only what the issue lists: remove saved state, turn off,
expose extensions, static memory, MAC spoofing, 4 GB. Every change is returned (and logged)
so the user sees exactly what was done. Checkpoints and the configuration version are left
alone: removing checkpoints or upgrading a VM cannot be undone.
"""
from __future__ import annotations

import logging

from ..remote.commands import SWITCH, Cmd, Pipeline
from ..remote.transcript import render_cmd, render_pipeline
from .builds import ADVISED_MEMORY_BYTES
from .facts import VMFacts, gather_vm
from .ports import SessionLike

log = logging.getLogger("pytest_nestedhv.remedy")


def off_first(vm: VMFacts) -> list[Cmd]:
    """What processor and memory changes need first: the VM Off (a Saved VM loses its saved state)."""
    if vm.state == "Saved":
        return [Cmd.of("Remove-VMSavedState", VMName=vm.name)]  # leaves the VM Off
    if vm.state != "Off":
        return [Cmd.of("Stop-VM", Name=vm.name, Force=SWITCH)]  # a graceful shutdown
    return []


def fix(*steps: Cmd | Pipeline) -> str:
    """A remedy as runnable PowerShell: each step (a command or a pipeline) in order."""
    return "; ".join(render_pipeline(step if isinstance(step, tuple) else (step,)) for step in steps)


def plan(vm: VMFacts) -> list[Cmd]:
    """The commands that bring ``vm`` in line, in an order the platform accepts."""
    name = vm.name
    settings: list[Cmd] = []
    if not vm.expose_virtualization_extensions:
        settings.append(Cmd.of("Set-VMProcessor", VMName=name, ExposeVirtualizationExtensions=True))
    if vm.dynamic_memory_enabled:
        settings.append(Cmd.of("Set-VMMemory", VMName=name, DynamicMemoryEnabled=False))
    if vm.memory_startup_bytes < ADVISED_MEMORY_BYTES:
        settings.append(Cmd.of("Set-VMMemory", VMName=name, StartupBytes=ADVISED_MEMORY_BYTES))
    if any(a.mac_address_spoofing != "On" for a in vm.adapters):
        settings.append(Cmd.of("Set-VMNetworkAdapter", VMName=name, MacAddressSpoofing="On"))
    return (off_first(vm) if settings or vm.state == "Saved" else []) + settings


def remediate(session: SessionLike, name: str, timeout: float = 300.0) -> tuple[list[str], VMFacts]:
    """Apply ``plan`` to the VM; returns the changes made (as PowerShell lines) and the new facts."""
    before = gather_vm(session, name)
    changes = []
    for cmd in plan(before):
        line = render_cmd(cmd)
        log.warning("remediating VM %s: %s", name, line)
        session.run(cmd, timeout=timeout)
        changes.append(line)
    return changes, gather_vm(session, name)
