"""Lines for the user's terminal while tests run: lab progress, host waits, remediation."""
from __future__ import annotations

import contextlib
import sys

import pytest

from .hyperv.waits import Progress


def write_line(config: pytest.Config, text: str) -> None:
    """One line on the user's terminal, shown even while the running test's output is captured.

    An xdist worker's terminal reporter talks to nobody; its stderr is the one the controller was
    started with, so a worker writes there, naming itself."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    worker = getattr(config, "workerinput", {}).get("workerid")
    with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
        if worker is None:
            reporter.write_line(text)
        else:
            sys.stderr.write(f"[{worker}] {text}\n")
            sys.stderr.flush()


def terminal_progress(config: pytest.Config, label: str, every_s: float) -> Progress | None:
    """Long lab steps print "step: elapsed / limit" while they run (xdist workers too); not under -q."""
    if config.get_verbosity() < 0 or config.pluginmanager.get_plugin("terminalreporter") is None:
        return None
    from .reporting.timeline import STEP_LABELS

    def write(step: str, elapsed_s: float, limit_s: float) -> None:
        write_line(config, f"nestedhv [{label}] {STEP_LABELS.get(step, step)}: {elapsed_s:.0f} s / {limit_s:.0f} s")

    return Progress(write, every_s=every_s)
