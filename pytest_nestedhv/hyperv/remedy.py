"""--nested-remediate: change one existing VM until it meets the L1 requirements.

Only the named VM is touched, and only what the issue lists: remove saved state, turn off,
expose extensions, static memory, MAC spoofing, 4 GB. Every change is returned (and logged)
so the user sees exactly what was done. Checkpoints and the configuration version are left
alone: removing checkpoints or upgrading a VM cannot be undone.
"""
from __future__ import annotations

import logging

from ..remote.commands import Cmd
from .builds import ADVISED_MEMORY_BYTES
from .facts import VMFacts, gather_vm
from .ports import SessionLike

log = logging.getLogger("pytest_nestedhv.remedy")


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
    steps: list[Cmd] = []
    if vm.state == "Saved":
        steps.append(Cmd.of("Remove-VMSavedState", VMName=name))  # leaves the VM Off
    elif vm.state != "Off" and settings:
        # Extensions and memory only change while Off; a graceful shutdown first.
        steps.append(Cmd.of("Stop-VM", Name=name, Force=True))
    return steps + settings


def describe(cmd: Cmd) -> str:
    """The change as a runnable PowerShell line (Boolean parameters written as -Name:$true)."""
    from ..remote.transcript import ps_quote

    parts = [cmd.name]
    for key, value in cmd.params:
        if isinstance(value, bool):
            parts.append(f"-{key}" if value and key in _SWITCHES else f"-{key}:${str(value).lower()}")
        elif isinstance(value, int):
            parts.append(f"-{key} {value}")
        else:
            parts.append(f"-{key} {ps_quote(str(value))}")
    return " ".join(parts)


_SWITCHES = frozenset({"Force", "TurnOff", "Passthru"})


def remediate(session: SessionLike, name: str, timeout: float = 300.0) -> tuple[list[str], VMFacts]:
    """Apply ``plan`` to the VM; returns the changes made (as PowerShell lines) and the new facts."""
    before = gather_vm(session, name)
    changes = []
    for cmd in plan(before):
        line = describe(cmd)
        log.warning("remediating VM %s: %s", name, line)
        session.run(cmd, timeout=timeout)
        changes.append(line)
    return changes, gather_vm(session, name)
