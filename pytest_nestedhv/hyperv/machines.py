"""Handles for tests: the host and its VMs, and the VMs inside an L1, with one ``VM`` class at
every level. Pure Python over a session: the fixtures hand these out, tests call them.

A ``Machine`` says where a command runs: on the host, inside an L1 over PowerShell Direct, or
inside an L2 through its L1 (a double hop). A ``VM`` is managed from the machine that hosts it
(Get-VM, Start-VM... run there) and ``VM.run`` runs a command in its own OS.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from typing import TYPE_CHECKING, Any

from ..remote.commands import SWITCH, Cmd
from ..remote.errors import RemoteError
from ..remote.hosts import NestedHost
from ..remote.reconnect import WaitPolicy
from .crash import HostCrash
from .eventlog import event_queries
from .facts import HostFacts, gather_host
from .ports import SessionLike, flatten, prop
from .recovery import HostRecovery
from .waits import WaitFailed, WaitSpec, require_not_off, wait_vm

if TYPE_CHECKING:
    from ..remote.objects import RemoteObject

log = logging.getLogger("pytest_nestedhv.machines")

POLL_S = 1.0  # wait_running reads the state this often (Wait-VM has no "Running" condition)
SLICE_S = 30  # Wait-VM slices: a VM that turned off is noticed within one


@dataclasses.dataclass(frozen=True)
class Machine:
    """Where a command runs: ``hops`` are VM names from the host inward (none: the host itself),
    ``creds`` the guest credential for each hop."""

    session: SessionLike
    hops: tuple[str, ...] = ()
    creds: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        return "host" if not self.hops else "guest:" + "/".join(self.hops)

    def into(self, vm_name: str, cred: Any) -> Machine:
        """The OS of ``vm_name``, a VM on this machine."""
        if len(self.hops) >= 2:
            raise ValueError(f"{self.label}: PowerShell Direct goes at most two levels deep (host -> L1 -> L2)")
        return Machine(self.session, (*self.hops, vm_name), (*self.creds, cred))

    def run(self, cmd: Cmd, timeout: float | None = None, check: bool = True) -> list[Any]:
        if not self.hops:
            return self.session.run(cmd, timeout=timeout, check=check)
        if None in self.creds:
            raise RemoteError(f"no guest credential for {self.label}: give --nested-guest-user and "
                              "NESTED_GUEST_PASSWORD", command=cmd.name)
        if len(self.hops) == 1:
            return self.session.in_guest(self.hops[0], self.creds[0], cmd, timeout=timeout, check=check)
        nested = getattr(self.session, "in_nested_guest")
        return nested(self.hops[0], self.creds[0], self.hops[1], self.creds[1], cmd, timeout=timeout, check=check)

    def runner(self) -> Any:
        """``run(cmd, timeout)`` for hyperv.waits."""
        return lambda cmd, timeout: self.run(cmd, timeout=timeout)


def command(cmdlet: str, params: dict[str, Any]) -> Cmd:
    """A user's ``run("Get-VM", Name="x")``: ``True`` stands for a present switch (``-Force``)."""
    return Cmd.of(cmdlet, **params)


class VM:
    """A Hyper-V VM, managed from the machine that hosts it; the same class at every level.

    ``state`` is what the last ``refresh()`` read (every action refreshes); the property
    objects (``processor``, ``memory``, ``network_adapters``) are read when asked for.
    """

    def __init__(self, name: str, host: Machine, guest_cred: Any = None) -> None:
        self.name = name
        self.host = host  # where Get-VM / Start-VM for this VM run
        self.guest_cred = guest_cred
        self.info: RemoteObject | None = None  # the last Get-VM object

    def __repr__(self) -> str:
        state = f" {self.state}" if self.info is not None else ""
        return f"<VM {self.name} on {self.host.label}{state}>"

    # -- state ------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The VM's state name as of the last refresh (``"Running"``, ``"Off"``, ``"Saved"``...)."""
        if self.info is None:
            self.refresh()
        return str(prop(self.info, "State", ""))

    def refresh(self) -> VM:
        found = self.host.run(Cmd.of("Get-VM", Name=self.name))
        if not found:
            raise RemoteError(f'Hyper-V was unable to find a virtual machine with name "{self.name}".',
                              fqid="InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM",
                              category="InvalidArgument", command=f"Get-VM -Name {self.name}")
        self.info = found[0]
        return self

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> VM:
        self.host.run(Cmd.of("Start-VM", Name=self.name), timeout=300.0)
        return self.refresh()

    def stop(self, turn_off: bool = False) -> VM:
        """Shut the guest down (``turn_off``: pull the plug instead)."""
        flags: dict[str, Any] = {"TurnOff": SWITCH} if turn_off else {}
        self.host.run(Cmd.of("Stop-VM", Name=self.name, Force=SWITCH, **flags), timeout=300.0)
        return self.refresh()

    def save(self) -> VM:
        """Save the VM's state (Stop-VM -Save)."""
        self.host.run(Cmd.of("Stop-VM", Name=self.name, Save=SWITCH), timeout=300.0)
        return self.refresh()

    def checkpoint(self, name: str) -> RemoteObject | None:
        """Take a checkpoint; returns the VMSnapshot object."""
        out = self.host.run(Cmd.of("Checkpoint-VM", Name=self.name, SnapshotName=name, Passthru=SWITCH),
                            timeout=300.0)
        self.refresh()
        return out[0] if out else None

    def wait_running(self, timeout: float = 60.0) -> VM:
        """Until Get-VM says Running; WaitFailed (naming the state) when it does not within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            if self.refresh().state == "Running":
                return self
            if time.monotonic() >= deadline:
                raise WaitFailed(f"{self.name}: still {self.state} after {timeout:g} s, not Running")
            time.sleep(POLL_S)

    def wait_heartbeat(self, timeout: int = 600) -> VM:
        """Until the guest OS answers (Wait-VM -For Heartbeat, in slices that notice a VM turned off).
        ``timeout`` is in the host's seconds."""
        run = self.host.runner()
        label = f"{self.name} heartbeat"
        spec = WaitSpec(label, int(timeout), min(SLICE_S, max(1, int(timeout))))
        wait_vm(run, self.name, "Heartbeat", spec, log, on_slice=require_not_off(run, self.name, label))
        return self.refresh()

    # -- settings ---------------------------------------------------------------------------
    @property
    def processor(self) -> RemoteObject:
        """The Get-VMProcessor object (Count, ExposeVirtualizationExtensions...)."""
        return self.host.run(Cmd.of("Get-VMProcessor", VMName=self.name))[0]

    @property
    def memory(self) -> RemoteObject:
        """The Get-VMMemory object (Startup, DynamicMemoryEnabled...)."""
        return self.host.run(Cmd.of("Get-VMMemory", VMName=self.name))[0]

    @property
    def network_adapters(self) -> list[RemoteObject]:
        """The Get-VMNetworkAdapter objects (SwitchName, MacAddressSpoofing, IPAddresses...)."""
        return self.host.run(Cmd.of("Get-VMNetworkAdapter", VMName=self.name))

    # -- looking inside ---------------------------------------------------------------------
    def events(self, since: datetime.datetime | None = None) -> list[RemoteObject]:
        """Hyper-V event-log entries that name this VM, newest first, from the machine hosting it
        (the host for an L1, the L1 for an L2). ``since``: only entries from then on."""
        info = self.info if self.info is not None else self.refresh().info
        vm_id = str(prop(info, "Id", "") or prop(info, "VMId", "") or "").upper()
        found: list[Any] = []
        for cmd in event_queries(since):
            # a log without a match answers with an error ("No events were found..."): skip it
            found += flatten(self.host.run(cmd, timeout=60.0, check=False))
        quoted = f"'{self.name}'".lower()
        mine = [e for e in found
                if quoted in str(prop(e, "Message", "")).lower() or (vm_id and vm_id in str(prop(e, "Message", "")).upper())]
        return sorted(mine, key=lambda e: str(prop(e, "TimeCreated", "")), reverse=True)

    def run(self, cmdlet: str, **params: Any) -> list[RemoteObject]:
        """Run one cmdlet in this VM's OS over PowerShell Direct (through the L1 for an L2).

        Returns the output objects (properties as ``obj.Status`` or ``obj["Status"]``); a failing
        command raises RemoteCommandError with PowerShell's message, FQID and category."""
        return self.inside.run(command(cmdlet, params))

    @property
    def inside(self) -> Machine:
        """The VM's own OS, as a Machine (VMs created in it are hosted there)."""
        return self.host.into(self.name, self.guest_cred)

    def vm(self, name: str) -> VM:
        """A VM inside this one (an L2 inside this L1)."""
        return VM(name, self.inside, self.guest_cred)


@dataclasses.dataclass(repr=False, eq=False)
class HyperVHost(NestedHost):
    """The ``nested_host`` fixture's value: one host under test, its open session, and typed
    access: ``run(cmdlet, **params)`` on the host, ``vm(name)`` a handle, ``facts`` (read once)."""

    host_facts: HostFacts | None = None
    _recovery: HostRecovery | None = dataclasses.field(default=None, init=False)

    @property
    def machine(self) -> Machine:
        return Machine(self.session)

    @property
    def recovery(self) -> HostRecovery:
        """This host's one HostRecovery: what waits for it when it stops answering, and knows every
        outage (the plugin adds the terminal's progress lines and the reports to it)."""
        if self._recovery is None:
            self._recovery = HostRecovery(self.session, self.label,
                                          WaitPolicy(timeout_s=self.settings.host_reboot_timeout_s))
        return self._recovery

    def restart(self) -> HostCrash:
        """Restart the host (Restart-Computer -Force) and wait until it answers again, within
        --nested-host-reboot-timeout. Returns what its System log says (``kind`` "planned",
        ``boot_time``, ``downtime_s``). Its VMs went down: ``nested_l1`` boots its L1 again when a
        test next asks for it. Not a crash: the run's verdict and reports do not count it as one.
        Refused for the machine pytest runs on (--nested-host=local, or its own name over WinRM)."""
        from ..remote.connect_errors import runs_on_this_machine

        if runs_on_this_machine(self.target):
            raise RemoteError(f"{self.label}: nested_host.restart() would restart the machine this run is on; "
                              "restart another host you reach over WinRM (--nested-host=NAME), or restart this "
                              "PC yourself and run the test again", category="InvalidOperation")
        return self.recovery.restart("nested_host.restart()")

    def run(self, cmdlet: str, **params: Any) -> list[RemoteObject]:
        """Run one cmdlet on the host; a failing command raises RemoteCommandError."""
        return self.machine.run(command(cmdlet, params))

    def vm(self, name: str) -> VM:
        """A handle on a VM of the host (the tests may only change VMs this run created)."""
        return VM(name, self.machine, self.guest_credential)

    @property
    def facts(self) -> HostFacts:
        """The host's facts (build, CPU, memory, supported VM versions...), read on first use."""
        if self.host_facts is None:
            self.host_facts = gather_host(self.session)
        return self.host_facts

    def __repr__(self) -> str:
        return f"<HyperVHost {self.target.label}>"
