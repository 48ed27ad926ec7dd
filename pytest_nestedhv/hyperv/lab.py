"""The lab: L1 and L2 brought up as an explicit chain of steps, and taken down again.

host-checked -> l1-created -> l1-booted -> guest-reachable -> hyperv-installed ->
guest-rebooted -> guest-hypervisor -> l2-created -> l2-booted -> l2-network
plus a side branch, negative-no-extensions, that needs only host-checked.

``reach(step)`` runs what is missing up to ``step`` once. A failed step is remembered:
asking for it again returns the same failed outcome, and asking for any later step raises
``LabBlocked`` naming the failed step and its error. Nothing is retried against a machine
that already failed. Cleanup removes only what carries this run's id.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

from ..remote.commands import SWITCH, Cmd
from ..remote.errors import HostUnreachable, RemoteError
from . import requirements as req
from .facts import GuestFacts, HostFacts, VMFacts, gather_guest, gather_vm
from .names import KEPT_TAG, RunNames, is_leftover, is_own_disk, join_path, parent_dir
from .outcomes import StepOutcome, ToggleOutcome
from .ports import SessionLike, as_datetime, prop
from .waits import WaitFailed, WaitSpec, guest_runner, host_runner, require_not_off, wait_vm

# no run lasts this long (the slowest step, the Hyper-V install, is bounded by install_timeout_s):
# a tagged VM younger than this may belong to a run still going
SWEEP_MIN_AGE = datetime.timedelta(hours=6)
log = logging.getLogger("pytest_nestedhv.lab")

STEP_HOST = "host-checked"
STEP_L1_CREATE = "l1-created"
STEP_L1_BOOT = "l1-booted"
STEP_GUEST = "guest-reachable"
CHAIN: tuple[str, ...] = (
    STEP_HOST, STEP_L1_CREATE, STEP_L1_BOOT, STEP_GUEST, req.STEP_INSTALL, req.STEP_REBOOT,
    req.STEP_HYPERVISOR, req.STEP_L2_CREATE, req.STEP_L2_BOOT, req.STEP_L2_NETWORK,
)
SIDE_STEPS: dict[str, str] = {req.STEP_NEGATIVE: STEP_HOST}  # step -> the step it needs
Keep = Literal["never", "failed", "always"]
GIB = 1024**3


class LabBlocked(Exception):
    """A step cannot run because an earlier one failed; the message names both."""


class LabConfigError(Exception):
    """Bad input detected on the host (e.g. the base image does not exist): one line for the user."""


class StepError(Exception):
    def __init__(self, message: str, fqid: str | None = None, **evidence: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fqid = fqid
        self.evidence = evidence


@dataclasses.dataclass(frozen=True)
class LabConfig:
    run_id: str
    base_image: str | None
    guest_cred: Any  # remote.secrets.GuestCredential
    inner_image: str | None = None
    switch: str | None = None  # the host switch for the L1 (--nested-switch); None: picked in preflight
    memory_bytes: int = 4 * GIB
    processor_count: int = 2
    l2_memory_bytes: int = 512 * 1024**2
    negative_memory_bytes: int = 2 * GIB
    boot_timeout_s: int = 600
    install_timeout_s: int = 1800
    reboot_timeout_s: int = 900
    l2_settle_s: int = 30
    slice_s: int = 30  # each slice costs two round trips; a VM that turned off is noticed within one


@dataclasses.dataclass(frozen=True)
class Phase:
    """One step's place on the timeline (for the reports)."""

    step: str
    started: datetime.datetime
    duration_s: float
    ok: bool
    error: str | None = None


class Lab:
    def __init__(self, session: SessionLike, config: LabConfig, host: HostFacts | None = None) -> None:
        self.session = session
        self.config = config
        self.names = RunNames(config.run_id)
        self.host = host
        self.outcomes: dict[str, StepOutcome] = {}
        self.timeline: list[Phase] = []
        self.vm_facts: VMFacts | None = None
        self.guest_before: GuestFacts | None = None
        self.guest_after: GuestFacts | None = None
        self.toggle: ToggleOutcome | None = None
        self.created_vms: list[str] = []  # on the host, in creation order
        self.created_disks: list[str] = []
        self.changes: list[str] = []  # every change made on the host, for the summary
        self._vhd_dir: str | None = None
        self.switch: str | None = config.switch
        self._preflight_done = False
        # host crash (hyperv/recovery.py): called when the host stops answering mid-step; once it
        # returns, that step fails with the crash and nothing more runs on this host
        self.on_host_lost: Callable[[str, Exception], Any] | None = None
        self.host_crash: Any = None  # hyperv.crash.HostCrash

    # ------------------------------------------------------------ the state machine

    def reach(self, step: str) -> StepOutcome:
        """Run every missing step up to ``step``; return its outcome (ok or failed).

        Raises LabBlocked when a step before it failed."""
        for needed in self._path_to(step):
            outcome = self.outcomes.get(needed)
            if outcome is None and self.host_crash is not None:
                raise LabBlocked(f"lab step '{self.host_crash.step}' failed: {self.host_crash.message()}")
            if outcome is None:
                outcome = self._run_step(needed)
            if not outcome.ok and needed != step:
                raise LabBlocked(f"lab step '{needed}' failed: {outcome.error}")
        return self.outcomes[step]

    def require(self, step: str) -> StepOutcome:
        """Like reach, but a failure of ``step`` itself also raises LabBlocked (for dependants)."""
        outcome = self.reach(step)
        if not outcome.ok:
            raise LabBlocked(f"lab step '{step}' failed: {outcome.error}")
        return outcome

    def _path_to(self, step: str) -> list[str]:
        if step in SIDE_STEPS:
            return [*self._path_to(SIDE_STEPS[step]), step]
        if step not in CHAIN:
            raise KeyError(f"unknown lab step {step!r}")
        return list(CHAIN[: CHAIN.index(step) + 1])

    def _run_step(self, step: str) -> StepOutcome:
        action = getattr(self, "_step_" + step.replace("-", "_"))
        started = datetime.datetime.now(datetime.timezone.utc)
        t0 = time.monotonic()
        log.info("lab step %s: start", step)
        with self._transcript_step(step):
            try:
                evidence = action() or {}
                outcome = StepOutcome(step, True, evidence=evidence)
            except StepError as err:
                outcome = StepOutcome(step, False, err.message, err.fqid, err.evidence)
            except WaitFailed as err:
                outcome = StepOutcome(step, False, str(err))
            except RemoteError as err:
                outcome = StepOutcome(step, False, str(err), err.fqid or None)
            except HostUnreachable as lost:
                if self.on_host_lost is None:
                    raise
                self.host_crash = self.on_host_lost(step, lost)  # waits; HostGone if it stays away
                outcome = StepOutcome(step, False, self.host_crash.message(), req.HOST_CRASH_FQID,
                                      {"host_crash": self.host_crash.to_dict()})
        duration = time.monotonic() - t0
        self.outcomes[step] = outcome
        self.timeline.append(Phase(step, started, duration, outcome.ok, outcome.error))
        if outcome.ok:
            log.info("lab step %s: done in %.1f s", step, duration)
        else:
            log.warning("lab step %s: FAILED after %.1f s: %s", step, duration, outcome.error)
        return outcome

    @contextlib.contextmanager
    def _transcript_step(self, step: str) -> Iterator[None]:
        transcript = getattr(self.session, "transcript", None)
        if transcript is None or not hasattr(transcript, "step"):
            yield
            return
        with transcript.step(step):
            yield

    # ------------------------------------------------------------ remote helpers

    def _host(self, *cmds: Cmd, timeout: float = 120.0, check: bool = True) -> list[Any]:
        return self.session.run(*cmds, timeout=timeout, check=check)

    def _guest(self, vm: str, cmd: Cmd, timeout: float = 300.0) -> list[Any]:
        return self.session.in_guest(vm, self.config.guest_cred, cmd, timeout=timeout)

    def _change(self, cmd: Cmd, timeout: float = 120.0) -> list[Any]:
        self.changes.append(cmd.name + " " + " ".join(f"-{k}" for k, _ in cmd.params))
        return self._host(cmd, timeout=timeout)

    # ------------------------------------------------------------ preflight / host-checked

    def preflight(self) -> None:
        """Checks that make the whole run pointless when they fail (raise LabConfigError)."""
        image = self.config.base_image
        if not image:
            raise LabConfigError("no base image: pass --nested-base-image PATH (a VHDX on the host for the L1 OS)")
        exists = self._host(Cmd.of("Test-Path", Path=image))
        if not exists or not _truthy(exists[0]):
            raise LabConfigError(f"base image not found on the host: {image} (--nested-base-image)")
        self.switch = self._pick_switch()
        self._preflight_done = True

    def _pick_switch(self) -> str | None:
        """The host switch the L1 joins: --nested-switch, else an External one, else an Internal one
        ('Default Switch' first: it has NAT).
        Without any, the L1 has no network (only nested.network can then fail, saying why)."""
        # without the Hyper-V role there is no Get-VMSwitch: the host checks say why, the L1 step fails
        listed = self._host(Cmd.of("Get-VMSwitch"), check=False)
        switches = {str(prop(s, "Name", "")): str(prop(s, "SwitchType", "")) for s in listed}
        wanted = self.config.switch
        if wanted is not None and switches:
            if wanted not in switches:
                listed = ", ".join(sorted(switches)) or "none"
                raise LabConfigError(f"--nested-switch {wanted}: no such virtual switch on the host (it has: {listed})")
            return wanted
        def first(kind: str) -> str | None:
            return min((name for name, k in switches.items() if k == kind), default=None)

        internal = "Default Switch" if "Default Switch" in switches else first("Internal")
        choice = first("External") or internal
        log.info("the L1 joins the host switch %s", choice or "(none: the host has no External or Internal switch)")
        return choice

    def _step_host_checked(self) -> dict[str, Any]:
        if not self._preflight_done:
            self.preflight()
        removed = self.sweep()
        vmhost = self._host(Cmd.of("Get-VMHost"))
        vhd_dir = str(prop(vmhost[0], "VirtualHardDiskPath", "") or "") if vmhost else ""
        self._vhd_dir = vhd_dir or parent_dir(str(self.config.base_image))
        return {"swept": removed, "vhd_dir": self._vhd_dir, "base_image": self.config.base_image}

    # ------------------------------------------------------------ L1

    def _step_l1_created(self) -> dict[str, Any]:
        name = self.names.l1
        disk = join_path(self._vhd_dir or ".", self.names.disk_name(name))
        self._create_vm(name, disk, self.config.memory_bytes, expose=True)
        self.vm_facts = gather_vm(self.session, name)
        return {"vm": name, "vhd": disk, "facts": self.vm_facts.to_dict()}

    def _create_vm(self, name: str, disk: str, memory: int, expose: bool) -> None:
        self._change(Cmd.of("New-VHD", Path=disk, ParentPath=str(self.config.base_image), Differencing=SWITCH))
        self.created_disks.append(disk)
        params: dict[str, Any] = {"Name": name, "Generation": 2, "VHDPath": disk, "MemoryStartupBytes": memory}
        if self.switch:
            params["SwitchName"] = self.switch
        self._change(Cmd.of("New-VM", **params))
        self.created_vms.append(name)
        # Tag first, so that even a half-configured VM is found by cleanup and later sweeps.
        self._change(Cmd.of("Set-VM", Name=name, Notes=self.names.tag))
        self._change(Cmd.of("Set-VMMemory", VMName=name, DynamicMemoryEnabled=False))
        # only while the VM is Off, which a new VM is; a guest running Hyper-V and an L2 wants 2 vCPUs
        processor: dict[str, Any] = {"Count": self.config.processor_count}
        if expose:
            processor["ExposeVirtualizationExtensions"] = True
        self._change(Cmd.of("Set-VMProcessor", VMName=name, **processor))
        self._change(Cmd.of("Set-VMNetworkAdapter", VMName=name, MacAddressSpoofing="On"))

    def _boot(self, name: str, label: str) -> None:
        self._change(Cmd.of("Start-VM", Name=name), timeout=300.0)
        run = host_runner(self.session)
        spec = WaitSpec(label, self.config.boot_timeout_s, self.config.slice_s)
        wait_vm(run, name, "Heartbeat", spec, log, on_slice=require_not_off(run, name, label))

    def _step_l1_booted(self) -> dict[str, Any]:
        self._boot(self.names.l1, "L1 heartbeat")
        vm = self._host(Cmd.of("Get-VM", Name=self.names.l1))
        return {"state": str(prop(vm[0], "State", "")) if vm else None,
                "heartbeat": str(prop(vm[0], "Heartbeat", "")) if vm else None}

    def _step_guest_reachable(self) -> dict[str, Any]:
        self.guest_before = gather_guest(self.session, self.names.l1, self.config.guest_cred)
        return {"guest": self.guest_before.to_dict()}

    def probe_toggle(self) -> ToggleOutcome:
        """Try to change ExposeVirtualizationExtensions on the running L1; the platform must refuse."""
        if self.toggle is not None:
            return self.toggle
        self.require(STEP_L1_BOOT)
        if self.host_crash is not None:  # the L1 went down with the host
            raise LabBlocked(f"lab step '{self.host_crash.step}' failed: {self.host_crash.message()}")
        name = self.names.l1
        with self._transcript_step("toggle-while-running"):
            state = str(prop(self._host(Cmd.of("Get-VM", Name=name))[0], "State", ""))
            # A real toggle (True -> False): the platform must refuse it while the VM runs. If it is
            # accepted anyway, put it back at once so the rest of the chain is not affected.
            try:
                self._host(Cmd.of("Set-VMProcessor", VMName=name, ExposeVirtualizationExtensions=False))
            except RemoteError as err:
                self.toggle = ToggleOutcome(name, state, True, err.message, err.fqid, err.category)
            else:
                self.toggle = ToggleOutcome(name, state, refused=False)
                with contextlib.suppress(RemoteError):
                    self._host(Cmd.of("Set-VMProcessor", VMName=name, ExposeVirtualizationExtensions=True))
        return self.toggle

    # ------------------------------------------------------------ inside the L1

    def _install_cmd(self, guest: GuestFacts | None) -> Cmd:
        # Server SKUs have ServerManager's Install-WindowsFeature; client SKUs only DISM.
        if guest is not None and guest.is_server:
            return Cmd.of("Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=SWITCH)
        return Cmd.of("Enable-WindowsOptionalFeature", Online=SWITCH, FeatureName="Microsoft-Hyper-V", All=SWITCH,
                      NoRestart=SWITCH)

    def _install_hyperv(self, vm: str, guest: GuestFacts | None) -> dict[str, Any]:
        cmd = self._install_cmd(guest)
        # one long call with nothing to report until it returns: say so before it starts
        log.info("installing Hyper-V in %s with %s (this takes minutes on a real host)", vm, cmd.name)
        try:
            result = self._guest(vm, cmd, timeout=self.config.install_timeout_s + 60.0)
        except RemoteError as err:
            raise StepError(err.message, err.fqid or None, command=cmd.name) from err
        first = result[0] if result else None
        if first is not None and prop(first, "Success") is False:
            raise StepError(f"{cmd.name} reported Success False (ExitCode {prop(first, 'ExitCode')})",
                            command=cmd.name)
        return {"command": cmd.name, "restart_needed": str(prop(first, "RestartNeeded", ""))}

    def _step_hyperv_installed(self) -> dict[str, Any]:
        return self._install_hyperv(self.names.l1, self.guest_before)

    def _reboot_guest(self, vm: str, before: str | None, label: str) -> GuestFacts:
        """Restart-Computer in the guest, then wait until it is back with a new LastBootUpTime."""
        try:
            self._guest(vm, Cmd.of("Restart-Computer", Force=SWITCH), timeout=120.0)
        except RemoteError as err:
            # The PowerShell Direct session may end with the reboot: that is the expected outcome.
            log.info("Restart-Computer in %s ended the session: %s", vm, err.message)
        run = host_runner(self.session)
        not_off = require_not_off(run, vm, label)
        spec = WaitSpec(label, self.config.reboot_timeout_s, self.config.slice_s)
        deadline_slices = max(1, self.config.reboot_timeout_s // self.config.slice_s)
        for _ in range(deadline_slices):
            with contextlib.suppress(WaitFailed):
                # Returns as soon as the VM rebooted (event-driven); a timed-out slice is fine.
                wait_vm(run, vm, "Reboot", WaitSpec(label, self.config.slice_s, self.config.slice_s), log)
            not_off()
            wait_vm(run, vm, "Heartbeat", spec, log, on_slice=not_off)
            try:
                facts = gather_guest(self.session, vm, self.config.guest_cred)
            except RemoteError as err:
                log.info("%s: guest not reachable yet: %s", label, err.message)
                continue
            if facts.last_boot != before:
                return facts
            log.info("waiting for %s: LastBootUpTime still %s", label, before)
        raise StepError(f"{label}: LastBootUpTime did not change within {self.config.reboot_timeout_s} s")

    def _step_guest_rebooted(self) -> dict[str, Any]:
        before = self.guest_before.last_boot if self.guest_before else None
        self.guest_after = self._reboot_guest(self.names.l1, before, "L1 reboot")
        return {"last_boot_before": before, "last_boot_after": self.guest_after.last_boot}

    def _step_guest_hypervisor(self) -> dict[str, Any]:
        g = self.guest_after
        if g is None or not g.hypervisor_present:
            events = self._hypervisor_events(self.names.l1)
            detail = f" (hypervisor events: {events[0]})" if events else ""
            raise StepError(f"HypervisorPresent False in the L1 after the reboot{detail}", events=events)
        return {"guest": g.to_dict()}

    def _hypervisor_events(self, vm: str) -> list[str]:
        """Best effort: the L1's System-log hypervisor events explain a missing hypervisor (41/42/59)."""
        try:
            events = self._guest(vm, Cmd.of("Get-WinEvent", FilterHashtable={
                "LogName": "System", "ProviderName": "Microsoft-Windows-Hyper-V-Hypervisor"}, MaxEvents=5))
        except RemoteError:
            return []
        return [f"{prop(e, 'Id')} {prop(e, 'Message')}" for e in events]

    # ------------------------------------------------------------ L2

    def _step_l2_created(self) -> dict[str, Any]:
        l1, l2 = self.names.l1, self.names.l2
        params: dict[str, Any] = {"Name": l2, "Generation": 2, "MemoryStartupBytes": self.config.l2_memory_bytes}
        if self.config.inner_image:
            # assumption: --nested-inner-image names a VHDX the L1 can read at that path. The L2 boots
            # from a differencing disk beside it, so the image itself is never written to.
            disk = join_path(parent_dir(self.config.inner_image), self.names.disk_name(l2))
            self._guest(l1, Cmd.of("New-VHD", Path=disk, ParentPath=self.config.inner_image, Differencing=SWITCH))
            params["VHDPath"] = disk
            params["SwitchName"] = self._guest_switch(l1)
        else:
            params["NoVHD"] = SWITCH
        self._guest(l1, Cmd.of("New-VM", **params))
        self._guest(l1, Cmd.of("Set-VM", Name=l2, Notes=self.names.tag))
        return {"vm": l2, "inner_image": self.config.inner_image}

    def _guest_switch(self, l1: str) -> str:
        """An external switch inside the L1 on its NIC, so the L2 reaches the L0 network (MAC spoofing)."""
        try:
            nics = self._guest(l1, Cmd.of("Get-NetAdapter"))
            nic = str(prop(nics[0], "Name", "")) if nics else ""
        except RemoteError as err:
            log.info("Get-NetAdapter in the L1 failed (%s): assuming 'Ethernet'", err.message)
            nic = ""
        name = f"nestedhv-{self.config.run_id}-sw"
        self._guest(l1, Cmd.of("New-VMSwitch", Name=name, NetAdapterName=nic or "Ethernet", AllowManagementOS=True,
                                Notes=self.names.tag))
        return name

    def _step_l2_booted(self) -> dict[str, Any]:
        l1, l2 = self.names.l1, self.names.l2
        self._guest(l1, Cmd.of("Start-VM", Name=l2), timeout=300.0)
        run = guest_runner(self.session, l1, self.config.guest_cred)
        if self.config.inner_image:
            spec = WaitSpec("L2 heartbeat", self.config.boot_timeout_s, self.config.slice_s)
            wait_vm(run, l2, "Heartbeat", spec, log, on_slice=require_not_off(run, l2, "L2 heartbeat"))
        else:
            # Without an OS the L2 sits in firmware: no heartbeat ever comes. A settle window of
            # Wait-VM notices a crash (the VM turning off) at once; a timeout means it stayed up.
            spec = WaitSpec("L2 settle", self.config.l2_settle_s, self.config.l2_settle_s)
            try:
                wait_vm(run, l2, "Heartbeat", spec, log)
            except WaitFailed as err:
                if "not reached within" not in str(err):
                    raise
        vm = run(Cmd.of("Get-VM", Name=l2), 60.0)
        state = str(prop(vm[0], "State", "")) if vm else "missing"
        if state != "Running":
            raise StepError(f"the L2 '{l2}' is {state} after Start-VM, not Running", state=state)
        return {"state": state, "heartbeat": str(prop(vm[0], "Heartbeat", ""))}

    def _step_l2_network(self) -> dict[str, Any]:
        if not self.config.inner_image:
            raise StepError("needs --nested-inner-image: an L2 without an OS has no network")
        l1, l2 = self.names.l1, self.names.l2
        run = guest_runner(self.session, l1, self.config.guest_cred)
        spec = WaitSpec("L2 IP address", self.config.boot_timeout_s, self.config.slice_s)
        try:
            wait_vm(run, l2, "IPAddress", spec, log, on_slice=require_not_off(run, l2, "L2 IP address"))
        except WaitFailed as err:
            uplink = self._l1_uplink()
            raise StepError(f"{err}; {_uplink_text(uplink)}", **uplink) from err
        adapters = run(Cmd.of("Get-VMNetworkAdapter", VMName=l2), 60.0)
        return {"ip_addresses": [str(a) for ad in adapters for a in (prop(ad, "IPAddresses") or [])],
                **self._l1_uplink()}

    def _l1_uplink(self) -> dict[str, Any]:
        """The L1's own adapter on the host: the L2's traffic leaves through it."""
        adapters = self._host(Cmd.of("Get-VMNetworkAdapter", VMName=self.names.l1))
        first = adapters[0] if adapters else None
        return {"l1_switch": str(prop(first, "SwitchName", "") or "") if first else "",
                "l1_mac_spoofing": str(prop(first, "MacAddressSpoofing", "")) if first else "",
                "l1_ip_addresses": [str(a) for a in (prop(first, "IPAddresses") or [])] if first else []}


    # ------------------------------------------------------------ negative branch

    def _step_negative_no_extensions(self) -> dict[str, Any]:
        """An L1 without exposed extensions must be refused cleanly, with the documented error."""
        name = self.names.negative
        disk = join_path(self._vhd_dir or ".", self.names.disk_name(name))
        try:
            self._create_vm(name, disk, self.config.negative_memory_bytes, expose=False)
            self._boot(name, "probe L1 heartbeat")
            guest = gather_guest(self.session, name, self.config.guest_cred)
            try:
                self._install_hyperv(name, guest)
            except StepError as err:
                return {"refusal": err.message, "fqid": err.fqid, "at": "hyperv-install"}
            # Hyper-V installed anyway (DISM sometimes lets it): then starting an L2 must be refused.
            self._reboot_guest(name, guest.last_boot, "probe L1 reboot")
            l2 = f"{name}-l2"
            self._guest(name, Cmd.of("New-VM", Name=l2, Generation=2, NoVHD=SWITCH,
                                     MemoryStartupBytes=self.config.l2_memory_bytes))
            try:
                self._guest(name, Cmd.of("Start-VM", Name=l2))
            except RemoteError as err:
                return {"refusal": err.message, "fqid": err.fqid, "at": "l2-start"}
            raise StepError(f"the probe L1 '{name}' without exposed extensions installed Hyper-V and started an L2")
        finally:
            self._remove_vm(name)  # free the host at once; cleanup would also catch it

    # ------------------------------------------------------------ observations for judging

    def observations(self, host: HostFacts | None = None) -> req.Observations:
        return req.Observations(
            host=host or self.host, vm=self.vm_facts, guest_before=self.guest_before,
            guest_after=self.guest_after, steps=dict(self.outcomes), toggle=self.toggle,
            inner_image=bool(self.config.inner_image),
        )

    # ------------------------------------------------------------ cleanup

    def sweep(self) -> list[str]:
        """Remove leftovers of earlier crashed runs: VMs whose Notes carry another run's tag and
        that are older than any run lasts. A younger one may belong to a run still going on this
        host (two nightly pipelines, say): it is left alone, and swept by a later run."""
        leftovers = [vm for vm in self._host(Cmd.of("Get-VM"))
                     if is_leftover(str(prop(vm, "Notes", "") or ""), self.names)]
        if not leftovers:
            return []
        system = self._host(Cmd.of("Get-CimInstance", ClassName="Win32_OperatingSystem"))
        host_now = as_datetime(prop(system[0], "LocalDateTime")) if system else None  # the host's clock, not ours
        removed = []
        for vm in leftovers:
            name, notes = str(prop(vm, "Name", "")), str(prop(vm, "Notes", "") or "")
            created = as_datetime(prop(vm, "CreationTime"))
            age = host_now - created if host_now and created else None
            if age is None or age < SWEEP_MIN_AGE:
                known = f"created {age.total_seconds() / 60:.0f} min ago" if age is not None else "of unknown age"
                log.warning("leaving VM %s (%s) alone: %s, its run may still be going; a run sweeps it once it "
                            "is %d h old", name, notes, known, SWEEP_MIN_AGE.total_seconds() // 3600)
                continue
            log.warning("removing leftover VM of an earlier run: %s (%s)", name, notes)
            self._remove_vm(name)
            removed.append(name)
        return removed

    def cleanup(self, keep: Keep, failed: bool) -> list[str]:
        """Remove this run's VMs and disks unless ``keep`` says otherwise; returns what was removed."""
        own = [str(prop(vm, "Name", "")) for vm in self._safe_list_vms() if self.names.owns(str(prop(vm, "Notes", "") or ""))]
        if keep == "always" or (keep == "failed" and failed):
            for name in own:
                log.warning("keeping VM %s (--nested-keep=%s)", name, keep)
                with contextlib.suppress(RemoteError):
                    self._host(Cmd.of("Set-VM", Name=name, Notes=f"{self.names.tag} {KEPT_TAG}"))
            return []
        removed = []
        for name in own:
            self._remove_vm(name)
            removed.append(name)
        for disk in self.created_disks:
            if is_own_disk(disk):
                with contextlib.suppress(RemoteError):
                    self._host(Cmd.of("Remove-Item", Path=disk, Force=SWITCH), check=False)
        return removed

    def _safe_list_vms(self) -> list[Any]:
        try:
            return self._host(Cmd.of("Get-VM"))
        except RemoteError as err:
            log.error("cleanup: cannot list VMs: %s", err)
            return []

    def _remove_vm(self, name: str) -> None:
        """Turn off, remove, delete its disks (only files named like ours). Errors are logged, not raised."""
        try:
            disks = [str(prop(d, "Path", "")) for d in self._host(Cmd.of("Get-VMHardDiskDrive", VMName=name))]
            self._host(Cmd.of("Stop-VM", Name=name, TurnOff=SWITCH, Force=SWITCH), check=False)
            self._host(Cmd.of("Remove-VM", Name=name, Force=SWITCH))
            for disk in disks:
                if is_own_disk(disk):
                    self._host(Cmd.of("Remove-Item", Path=disk, Force=SWITCH), check=False)
            log.info("removed VM %s and its disks", name)
        except RemoteError as err:
            log.error("could not remove VM %s: %s", name, err)


def _truthy(value: Any) -> bool:
    inner = getattr(value, "value", value)
    return inner is True or str(inner).lower() == "true"


def _uplink_text(up: dict[str, Any]) -> str:
    switch = f"switch '{up['l1_switch']}'" if up["l1_switch"] else "no switch (--nested-switch)"
    addresses = ", ".join(up["l1_ip_addresses"]) or "none"
    return (f"the L1's adapter is on {switch}, MacAddressSpoofing {up['l1_mac_spoofing'] or '?'}, "
            f"L1 addresses: {addresses}")
