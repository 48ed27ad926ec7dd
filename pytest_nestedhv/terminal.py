"""Lines for the user's terminal while tests run: lab progress, host waits, remediation."""
from __future__ import annotations

import pytest

from .hyperv.waits import Progress


def write_line(config: pytest.Config, text: str) -> None:
    """One line on the terminal, shown even while the running test's output is captured."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capman is None:
        reporter.write_line(text)
        return
    with capman.global_and_fixture_disabled():
        reporter.write_line(text)


def terminal_progress(config: pytest.Config, label: str, every_s: float) -> Progress | None:
    """Long lab steps print "step: elapsed / limit" while they run; not under -q, not on xdist workers."""
    worker = hasattr(config, "workerinput")  # xdist: a worker's terminal is not the user's
    if worker or config.get_verbosity() < 0 or config.pluginmanager.get_plugin("terminalreporter") is None:
        return None
    from .reporting.timeline import STEP_LABELS

    def write(step: str, elapsed_s: float, limit_s: float) -> None:
        write_line(config, f"nestedhv [{label}] {STEP_LABELS.get(step, step)}: {elapsed_s:.0f} s / {limit_s:.0f} s")

    return Progress(write, every_s=every_s)
