"""One HostRecovery per host for the whole run.

The suite's lab, the L1 pool's labs and the tests' own calls all wait on it when the host stops
answering (``--nested-host-reboot-timeout``), with progress on the terminal. Each outage it
reads goes to the reports (the host's HostEvidence) and the verdict, and every lab on that host
learns of it: it boots its L1 again after a restart and stops at a bugcheck (hyperv/lab/chain.py).
"""
from __future__ import annotations

from typing import Any

import pytest

from .handover import host_evidence
from .hyperv.recovery import HostRecovery
from .reporting.verdict import notes_for
from .terminal import write_line

_WIRED = pytest.StashKey[set[str]]()


def host_watch(config: pytest.Config, host: Any) -> HostRecovery:
    """The recovery of ``host`` (a HyperVHost), wired on first use to the terminal and the reports;
    that is also when it reads the host's boot time."""
    watch: HostRecovery = host.recovery
    wired = config.stash.setdefault(_WIRED, set())
    if host.label not in wired:
        wired.add(host.label)
        label = host.label

        def record(crash: Any) -> None:
            host_evidence(config, label).crashes.append(crash.to_dict())
            notes_for(config, label).crashes.append(crash.message())

        watch.progress = lambda text: write_line(config, f"nestedhv {text}")
        watch.on_crash = record
        watch.remember_boot()
    return watch
