"""A host that stopped answering in the middle of a lab step or a test: wait for it, read why, name it.

The lab calls a ``HostRecovery`` when a step ends in ``HostUnreachable`` (the plugin, when a test does); it waits (bounded by
the reboot timeout) on a fresh session, reads the crash record (hyperv/crash.py) and returns
it: the step fails with its message and nothing later runs on that host. A host that never
comes back raises ``HostGone`` (one line). Pure Python: the fixtures wire it to pytest.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from ..remote.commands import Cmd
from ..remote.errors import ConnectionFailed, HostGone, RemoteError, one_line
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
    crashes: list[HostCrash] = dataclasses.field(default_factory=list)

    @property
    def crash(self) -> HostCrash | None:
        """The latest outage it waited through (None: the host never went away)."""
        return self.crashes[-1] if self.crashes else None

    def remember_boot(self) -> None:
        """Read the host's boot time now, so that a later outage can tell whether it rebooted."""
        try:
            out = self.session.run(Cmd.of("Get-CimInstance", ClassName="Win32_OperatingSystem"), timeout=60.0,
                                   check=False)
        except (RemoteError, ConnectionFailed) as err:  # a courtesy: the events still tell a crash
            log.info("%s: cannot read LastBootUpTime: %s", self.label, one_line(str(err))[:200])
            return
        value = prop(out[0], "LastBootUpTime") if out else None
        self.boot_before = None if value is None else str(value)

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
