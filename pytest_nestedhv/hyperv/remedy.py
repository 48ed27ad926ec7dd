"""--nested-remediate: change one existing VM until it meets the L1 requirements.

Only the named VM is touched, and only what the requirements need: saved state removed,
turned off, configuration version upgraded, extensions exposed, static memory, 4 GB, MAC
spoofing. Each change is announced before it is made (``announce``), so a running VM is
never stopped without a word. Checkpoints are left alone (deleting them cannot be undone)
and said so; so is what cannot be changed, with the reason.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator

from ..remote.commands import SWITCH, Cmd, Pipeline
from ..remote.errors import RemoteError
from ..remote.transcript import render_cmd, render_pipeline
from .builds import ADVISED_MEMORY_BYTES, format_version, parse_version, required_vm_version
from .facts import HostFacts, VMFacts, gather_vm
from .ports import SessionLike

log = logging.getLogger("pytest_nestedhv.remedy")

Announce = Callable[[str], None]
REMEDIATE_STEP = "remediate"  # the transcript's step for the changes: a repro script never replays them


@dataclasses.dataclass(frozen=True)
class Step:
    """One change: the command, and why it is made (shown before it runs)."""

    cmd: Cmd
    why: str


@dataclasses.dataclass(frozen=True)
class Remediation:
    changes: tuple[str, ...]  # the commands that ran, as PowerShell
    unchanged: tuple[str, ...]  # what was left as it was, and why
    facts: VMFacts  # the VM afterwards
    error: str | None = None  # the change that failed (later ones were not tried)


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


def _version_step(vm: VMFacts, host: HostFacts | None) -> tuple[Step | None, str | None]:
    """Update-VMVersion when the VM's configuration version is below what nesting needs here,
    or the one line saying why it is not upgraded."""
    need = required_vm_version(host.build, host.cpu_vendor) if host else None
    have = parse_version(vm.version)
    if need is None or (have is not None and have >= need):
        return None, None
    highest = max((parse_version(v) or (0, 0) for v in host.supported_versions), default=None) if host else None
    if highest is not None and highest < need:
        return None, (f"configuration version {vm.version} left as it is: nesting needs {format_version(need)} "
                      f"and this host runs at most {format_version(highest)}; upgrade the host first")
    return Step(Cmd.of("Update-VMVersion", Name=vm.name, Force=SWITCH),
                f"configuration version {vm.version} is below {format_version(need)}; "
                "the upgrade cannot be undone"), None


def plan(vm: VMFacts, host: HostFacts | None = None) -> tuple[list[Step], list[str]]:
    """The changes that bring ``vm`` in line, in an order the platform accepts, and what is
    left unchanged (with why)."""
    name = vm.name
    settings: list[Step] = []
    unchanged: list[str] = []
    upgrade, why_not = _version_step(vm, host)
    if upgrade is not None:
        settings.append(upgrade)  # before Set-VMProcessor: a GA host refuses to expose below 8.0
    if why_not:
        unchanged.append(why_not)
    if not vm.expose_virtualization_extensions:
        settings.append(Step(Cmd.of("Set-VMProcessor", VMName=name, ExposeVirtualizationExtensions=True),
                             "the virtualization extensions are not exposed"))
    if vm.dynamic_memory_enabled:
        settings.append(Step(Cmd.of("Set-VMMemory", VMName=name, DynamicMemoryEnabled=False),
                             "dynamic memory is on"))
    if vm.memory_startup_bytes < ADVISED_MEMORY_BYTES:
        settings.append(Step(Cmd.of("Set-VMMemory", VMName=name, StartupBytes=ADVISED_MEMORY_BYTES),
                             f"{vm.memory_startup_bytes // 1024**2} MB of memory is below the advised 4 GB"))
    if any(a.mac_address_spoofing != "On" for a in vm.adapters):
        settings.append(Step(Cmd.of("Set-VMNetworkAdapter", VMName=name, MacAddressSpoofing="On"),
                             "MAC address spoofing is off: an L2 would have no network"))
    steps: list[Step] = []
    if settings or vm.state == "Saved":
        for cmd in off_first(vm):
            if cmd.name == "Stop-VM":
                steps.append(Step(cmd, f"the VM is {vm.state} and these changes need it Off; "
                                       "it is shut down and left Off"))
            else:
                steps.append(Step(cmd, "the VM is Saved: its saved state (the guest's memory) is discarded, "
                                       "which leaves it Off"))
    if vm.checkpoints or vm.parent_checkpoint_id:
        count = len(vm.checkpoints) or 1
        unchanged.append(f"{count} checkpoint(s) kept: deleting them cannot be undone; if you do not need them: "
                         + fix((Cmd.of("Get-VMSnapshot", VMName=name), Cmd.of("Remove-VMSnapshot"))))
    return steps + settings, unchanged


def remediate(session: SessionLike, name: str, host: HostFacts | None = None,
              announce: Announce | None = None, timeout: float = 300.0) -> Remediation:
    """Apply ``plan`` to the VM, announcing each change before it is made. A change that fails
    ends the remediation (later ones depend on it); the VM is then judged as it is."""
    before = gather_vm(session, name)
    steps, unchanged = plan(before, host)
    changes: list[str] = []
    error = None
    with _transcript_step(session, REMEDIATE_STEP):
        for step in steps:
            line = render_cmd(step.cmd)
            log.warning("remediating VM %s: %s", name, line)
            if announce is not None:
                announce(f"{line}  ({step.why})")
            try:
                session.run(step.cmd, timeout=timeout)
            except RemoteError as err:
                error = f"{line} failed: {err.message}"
                break
            changes.append(line)
    return Remediation(tuple(changes), tuple(unchanged), gather_vm(session, name), error)


@contextlib.contextmanager
def _transcript_step(session: SessionLike, name: str) -> Iterator[None]:
    transcript = getattr(session, "transcript", None)
    with transcript.step(name) if transcript is not None else contextlib.nullcontext():
        yield
