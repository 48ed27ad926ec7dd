"""One HostRecovery per host for the whole run.

The suite's lab, the L1 pool's labs and the tests' own calls all wait on it when the host stops
answering (``--nested-host-reboot-timeout``), with progress on the terminal; each crash record
it reads goes to the reports (the host's HostEvidence) and the verdict, and every lab on that host learns of it,
so that their unfinished steps are blocked by it.
"""
from __future__ import annotations

from typing import Any

import pytest

from .handover import host_evidence
from .hyperv.recovery import HostRecovery
from .remote.reconnect import WaitPolicy
from .reporting.verdict import notes_for
from .terminal import write_line

_WATCHES = pytest.StashKey[dict[str, HostRecovery]]()


def host_watch(config: pytest.Config, host: Any) -> HostRecovery:
    """The recovery of ``host`` (a HyperVHost); made on first use, when it reads the host's boot time."""
    watches = config.stash.setdefault(_WATCHES, {})
    label = host.label
    watch = watches.get(label)
    if watch is None:
        def record(crash: Any) -> None:
            host_evidence(config, label).crashes.append(crash.to_dict())
            notes_for(config, label).crashes.append(crash.message())

        watch = watches[label] = HostRecovery(
            host.session, label, WaitPolicy(timeout_s=host.settings.host_reboot_timeout_s),
            progress=lambda text: write_line(config, f"nestedhv {text}"), on_crash=record)
        watch.remember_boot()
    return watch
