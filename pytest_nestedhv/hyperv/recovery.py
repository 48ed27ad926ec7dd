"""A host that stopped answering in the middle of a lab step or a test: wait for it, read why, name it.

The lab calls a ``HostRecovery`` when a step ends in ``HostUnreachable`` (the plugin, when a
test does); it waits (bounded by the reboot timeout) on a fresh session, reads the crash record
(hyperv/crash.py) and returns it; the lab decides whether it goes on (hyperv/lab/chain.py). A
host that never comes back raises ``HostGone`` (one line). ``restart()`` is a restart asked for
(``nested_host.restart()``). One per host (HyperVHost.recovery); the fixtures add the terminal
and the reports to it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from ..remote.commands import SWITCH, Cmd
from ..remote.errors import ConnectionFailed, HostGone, HostUnreachable, RemoteError, one_line
from ..remote.reconnect import WaitPolicy, wait_for_host
from .crash import HostCrash, crash_from, crash_probe, where
from .ports import prop

log = logging.getLogger("pytest_nestedhv.lab")


@dataclasses.dataclass
class HostRecovery:
    session: Any  # remote.session.Session: reopen() opens a fresh pool, run_statements() reads
    label: str
    policy: WaitPolicy = WaitPolicy()
    progress: Callable[[str], None] = log.warning
    on_crash: Callable[[HostCrash], None] | None = None  # e.g. hand the record to the reports
    boot_before: str | None = None  # LastBootUpTime when the run began: tells a reboot from a network cut
    crashes: list[HostCrash] = dataclasses.field(default_factory=list)  # every outage, and every restart asked for

    def remember_boot(self) -> None:
        """Read the host's boot time now, so that a later outage can tell whether it rebooted."""
        try:
            self.boot_before = self._boot_time()
        except (RemoteError, ConnectionFailed) as err:  # a courtesy: the events still tell a crash
            log.info("%s: cannot read LastBootUpTime: %s", self.label, one_line(str(err))[:200])

    def _boot_time(self) -> str | None:
        out = self.session.run(Cmd.of("Get-CimInstance", ClassName="Win32_OperatingSystem"), timeout=60.0,
                               check=False)
        value = prop(out[0], "LastBootUpTime") if out else None
        return None if value is None else str(value)

    def restart(self, where: str, *, poll_s: float = 0.5) -> HostCrash:
        """Restart the host on purpose (Restart-Computer -Force) and wait until it answers again.

        The record joins the outages, so every lab on the host learns that its VMs went down and
        boots them again, but it is marked ``asked``: no crash, and the reports are not told."""
        before = self._boot_time()
        started = time.monotonic()
        with contextlib.suppress(HostUnreachable):  # the answer may go down with the host
            self.session.run(Cmd.of("Restart-Computer", Force=SWITCH), timeout=120.0)
        self.progress(f"{self.label}: restarting the host ({where})")
        try:  # Windows answers first and goes down moments later
            while self._boot_time() == before:
                if time.monotonic() - started > self.policy.timeout_s:
                    raise RemoteError(f"{self.label}: Restart-Computer was accepted but the host did not restart "
                                      f"within {self.policy.timeout_s:.0f} s (--nested-host-reboot-timeout)")
                time.sleep(poll_s)
            self.session.reopen()  # back already: its shells went with the old boot
        except HostUnreachable:
            wait_for_host(self.session.reopen, label=self.label, policy=self.policy, progress=self.progress,
                          since=started)
        record = crash_from(self.session.run_statements(crash_probe(), check=False), where, boot_before=before,
                            downtime_s=round(time.monotonic() - started, 1))
        record = dataclasses.replace(record, asked=True)
        self.boot_before = record.boot_time or before
        self.crashes.append(record)
        return record

    def __call__(self, step: str, error: Exception) -> HostCrash:
        """Wait for the host and read what happened while ``step`` ran; raises HostGone if it stays away."""
        self.progress(f"{self.label}: the host stopped answering during {where(step)}: {one_line(str(error))[:120]}")
        try:
            back = wait_for_host(self.session.reopen, label=self.label, policy=self.policy, progress=self.progress)
        except HostGone:
            self._record(HostCrash(step, "gone", None, None, None, None, (), round(self.policy.timeout_s, 1)))
            raise
        record = crash_from(self.session.run_statements(crash_probe(), check=False), step,
                            boot_before=self.boot_before, downtime_s=round(back.waited_s, 1))
        self.boot_before = record.boot_time or self.boot_before
        self.progress(f"{self.label}: {record.message()}")
        self._record(record)
        return record

    def _record(self, record: HostCrash) -> None:
        self.crashes.append(record)
        if self.on_crash is not None:
            self.on_crash(record)
