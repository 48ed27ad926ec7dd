"""The L1: a VM with the virtualization extensions exposed, booted, Hyper-V installed in it and
running after a reboot. The building blocks (create, boot, install, reboot) serve the negative
probe too, which is an L1 without the extensions."""
from __future__ import annotations

import contextlib
import logging
from typing import Any

from ...remote.commands import SWITCH, Cmd
from ...remote.errors import RemoteError
from ..facts import GuestFacts, VMFacts, gather_guest, gather_vm
from ..names import join_path
from ..outcomes import ToggleOutcome
from ..ports import prop
from ..waits import WaitFailed, WaitSpec, host_runner, require_not_off, wait_vm
from .errors import StepError
from .host import HostPrep
from .ops import Ops

log = logging.getLogger("pytest_nestedhv.lab")


def create_vm(ops: Ops, name: str, memory: int, *, expose: bool, switch: str | None, vhd_dir: str | None,
              generation: int = 2, version: str | None = None) -> str:
    """A differencing disk on the base image and a tagged VM on it, configured while Off; returns the disk."""
    disk = join_path(vhd_dir or ".", ops.names.disk_name(name))
    ops.change(Cmd.of("New-VHD", Path=disk, ParentPath=str(ops.config.base_image), Differencing=SWITCH))
    ops.ledger.disks.append(disk)
    params: dict[str, Any] = {"Name": name, "Generation": generation, "VHDPath": disk, "MemoryStartupBytes": memory}
    if version:
        params["Version"] = version
    if switch:
        params["SwitchName"] = switch
    ops.change(Cmd.of("New-VM", **params))
    ops.ledger.vms.append(name)
    # Tag first, so that even a half-configured VM is found by cleanup and later sweeps. It never
    # starts by itself when the host boots (New-VM's default is StartIfRunning): after a host
    # restart the lab decides, and a VM a dead run left behind stays Off until a sweep removes it.
    ops.change(Cmd.of("Set-VM", Name=name, Notes=ops.names.tag, AutomaticStartAction="Nothing"))
    ops.change(Cmd.of("Set-VMMemory", VMName=name, DynamicMemoryEnabled=False))
    # only while the VM is Off, which a new VM is; a guest running Hyper-V and an L2 wants 2 vCPUs
    processor: dict[str, Any] = {"Count": ops.config.processor_count}
    if expose:
        processor["ExposeVirtualizationExtensions"] = True
    ops.change(Cmd.of("Set-VMProcessor", VMName=name, **processor))
    ops.change(Cmd.of("Set-VMNetworkAdapter", VMName=name, MacAddressSpoofing="On"))
    return disk


def boot(ops: Ops, name: str, label: str) -> None:
    ops.change(Cmd.of("Start-VM", Name=name), timeout=300.0)
    run = host_runner(ops.session)
    spec = WaitSpec(label, ops.config.boot_timeout_s, ops.config.slice_s)
    wait_vm(run, name, "Heartbeat", spec, log, on_slice=require_not_off(run, name, label))


def install_cmd(guest: GuestFacts | None) -> Cmd:
    # Server SKUs have ServerManager's Install-WindowsFeature; client SKUs only DISM.
    if guest is not None and guest.is_server:
        return Cmd.of("Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=SWITCH)
    return Cmd.of("Enable-WindowsOptionalFeature", Online=SWITCH, FeatureName="Microsoft-Hyper-V", All=SWITCH,
                  NoRestart=SWITCH)


def install_hyperv(ops: Ops, vm: str, guest: GuestFacts | None) -> dict[str, Any]:
    cmd = install_cmd(guest)
    # one long call with nothing to report until it returns: say so before it starts
    log.info("installing Hyper-V in %s with %s (this takes minutes on a real host)", vm, cmd.name)
    try:
        result = ops.guest(vm, cmd, timeout=ops.config.install_timeout_s + 60.0)
    except RemoteError as err:
        raise StepError(err.message, err.fqid or None, command=cmd.name) from err
    first = result[0] if result else None
    if first is not None and prop(first, "Success") is False:
        raise StepError(f"{cmd.name} reported Success False (ExitCode {prop(first, 'ExitCode')})", command=cmd.name)
    return {"command": cmd.name, "restart_needed": str(prop(first, "RestartNeeded", ""))}


def reboot_guest(ops: Ops, vm: str, before: str | None, label: str) -> GuestFacts:
    """Restart-Computer in the guest, then wait until it is back with a new LastBootUpTime."""
    try:
        ops.guest(vm, Cmd.of("Restart-Computer", Force=SWITCH), timeout=120.0)
    except RemoteError as err:
        # The PowerShell Direct session may end with the reboot: that is the expected outcome.
        log.info("Restart-Computer in %s ended the session: %s", vm, err.message)
    run = host_runner(ops.session)
    not_off = require_not_off(run, vm, label)
    config = ops.config
    spec = WaitSpec(label, config.reboot_timeout_s, config.slice_s)
    for _ in range(max(1, config.reboot_timeout_s // config.slice_s)):
        with contextlib.suppress(WaitFailed):
            # Returns as soon as the VM rebooted (event-driven); a timed-out slice is fine.
            wait_vm(run, vm, "Reboot", WaitSpec(label, config.slice_s, config.slice_s), log)
        not_off()
        wait_vm(run, vm, "Heartbeat", spec, log, on_slice=not_off)
        try:
            facts = gather_guest(ops.session, vm, config.guest_cred)
        except RemoteError as err:
            log.info("%s: guest not reachable yet: %s", label, err.message)
            continue
        if facts.last_boot != before:
            return facts
        log.info("waiting for %s: LastBootUpTime still %s", label, before)
    raise StepError(f"{label}: LastBootUpTime did not change within {config.reboot_timeout_s} s")


class L1:
    """The L1's steps and what they observed (the judges read vm_facts, guest_*, toggle)."""

    def __init__(self, ops: Ops, prep: HostPrep) -> None:
        self.ops = ops
        self.prep = prep
        self.name = ops.names.l1
        self.vm_facts: VMFacts | None = None
        self.guest_before: GuestFacts | None = None
        self.guest_after: GuestFacts | None = None
        self.toggle: ToggleOutcome | None = None

    def create(self) -> dict[str, Any]:
        config = self.ops.config
        disk = create_vm(self.ops, self.name, config.memory_bytes, expose=True, switch=self.prep.switch,
                         vhd_dir=self.prep.vhd_dir, generation=config.generation, version=config.version)
        self.vm_facts = gather_vm(self.ops.session, self.name)
        return {"vm": self.name, "vhd": disk, "facts": self.vm_facts.to_dict()}

    def boot(self) -> dict[str, Any]:
        boot(self.ops, self.name, "L1 heartbeat")
        vm = self.ops.host(Cmd.of("Get-VM", Name=self.name))
        return {"state": str(prop(vm[0], "State", "")) if vm else None,
                "heartbeat": str(prop(vm[0], "Heartbeat", "")) if vm else None}

    def try_toggle(self) -> dict[str, Any]:
        """Try to change ExposeVirtualizationExtensions on the running L1; the platform must refuse."""
        state = str(prop(self.ops.host(Cmd.of("Get-VM", Name=self.name))[0], "State", ""))
        # A real toggle (True -> False): the platform must refuse it while the VM runs. If it is
        # accepted anyway, put it back at once so the rest of the chain is not affected.
        try:
            self.ops.host(Cmd.of("Set-VMProcessor", VMName=self.name, ExposeVirtualizationExtensions=False))
        except RemoteError as err:
            self.toggle = ToggleOutcome(self.name, state, True, err.message, err.fqid, err.category)
        else:
            self.toggle = ToggleOutcome(self.name, state, refused=False)
            with contextlib.suppress(RemoteError):
                self.ops.host(Cmd.of("Set-VMProcessor", VMName=self.name, ExposeVirtualizationExtensions=True))
        return {"refused": self.toggle.refused, "state": state, "error": self.toggle.error}

    def reach_guest(self) -> dict[str, Any]:
        self.guest_before = gather_guest(self.ops.session, self.name, self.ops.config.guest_cred)
        return {"guest": self.guest_before.to_dict()}

    def install(self) -> dict[str, Any]:
        return install_hyperv(self.ops, self.name, self.guest_before)

    def reboot(self) -> dict[str, Any]:
        before = self.guest_before.last_boot if self.guest_before else None
        self.guest_after = reboot_guest(self.ops, self.name, before, "L1 reboot")
        return {"last_boot_before": before, "last_boot_after": self.guest_after.last_boot}

    def hypervisor(self) -> dict[str, Any]:
        g = self.guest_after
        if g is None or not g.hypervisor_present:
            events = self._hypervisor_events()
            detail = f" (hypervisor events: {events[0]})" if events else ""
            raise StepError(f"HypervisorPresent False in the L1 after the reboot{detail}", events=events)
        return {"guest": g.to_dict()}

    def _hypervisor_events(self) -> list[str]:
        """Best effort: the L1's System-log hypervisor events explain a missing hypervisor (41/42/59)."""
        try:
            events = self.ops.guest(self.name, Cmd.of("Get-WinEvent", FilterHashtable={
                "LogName": "System", "ProviderName": "Microsoft-Windows-Hyper-V-Hypervisor"}, MaxEvents=5))
        except RemoteError:
            return []
        return [f"{prop(e, 'Id')} {prop(e, 'Message')}" for e in events]
