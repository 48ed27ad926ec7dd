"""Benchmark the validation suite on the emulated host and the plugin's start-up cost.

Prints:
- the default suite's wall time (pytest session, in-process) against the modelled time its lab
  spends on the critical path divided by the time scale (target: overhead <= 10 %), per time scale;
- the lab's longest chain of dependent steps (hyperv.steps.longest_chain over the measured step
  durations) beside the sum of all steps and the wall time: with the negative probe overlapping
  the L1's boot and install, wall approaches the longest chain (target: wall <= 1.05 x chain at 20);
- the HTTP requests the emulator served for the run;
- the start-up cost of the installed plugin: `pytest --collect-only` in an empty folder, with the
  plugin vs `-p no:nestedhv` (target <= 5 % extra), as medians of repeated runs.

Usage: python bench/suite.py [--scales 100,20] [--startup-runs 15]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


class _Probe:
    """Reads what the plugin kept about the run before the session closes."""

    def __init__(self) -> None:
        self.started = 0.0
        self.wall = 0.0
        self.requests: dict[str, int] = {}
        self.waited_modelled = 0.0
        self.phases: list[tuple[str, float]] = []
        self.outcomes: dict[str, int] = {}

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = time.perf_counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcomes[report.outcome] = self.outcomes.get(report.outcome, 0) + 1

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from pytest_nestedhv.handover import HOSTS_KEY
        from pytest_nestedhv.plugin import get_state

        self.wall = time.perf_counter() - self.started
        state = get_state(session.config)
        if state is not None:
            for label, server in state.hosts.sim_servers().items():
                self.requests[label] = server.request_count
                self.waited_modelled += server.engine.world.waited_s
        for host in session.config.stash.get(HOSTS_KEY, {}).values():
            self.phases.extend((p.step, p.duration_s) for p in host.timeline)


def _scenario_at(scale: float, folder: Path) -> Path:
    text = (ROOT / "pytest_nestedhv" / "sim" / "scenarios" / "default.toml").read_text("utf-8")
    lines = [f"time_scale = {scale}" if line.startswith("time_scale") else line for line in text.splitlines()]
    path = folder / f"default-x{int(scale)}.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def bench_suite(scale: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scenario_path = _scenario_at(scale, Path(tmp))
        probe = _Probe()
        args = [str(ROOT / "suites"), f"--nested-host=sim:{scenario_path}", f"--nested-report-dir={tmp}/reports",
                "-p", "no:cacheprovider", "-q", "--rootdir", str(ROOT)]
        code = pytest.main(args, plugins=[probe])
    from pytest_nestedhv.hyperv.steps import longest_chain

    # the critical path: modelled time the emulator kept the plugin waiting (boots, install, reboot);
    # overlapping branches wait at the same time, so this sums more than the wall can show
    critical = probe.waited_modelled / scale
    overhead = (probe.wall - critical) / critical * 100
    print(f"suite @ time_scale {scale:g}: exit {int(code)}, outcomes {probe.outcomes}")
    print(f"  wall {probe.wall:.2f} s; critical path {probe.waited_modelled:.0f} modelled s "
          f"= {critical:.2f} s; overhead {overhead:.0f} % (target <= 10 %)")
    durations: dict[str, float] = {}
    for step, seconds in probe.phases:
        durations[step] = durations.get(step, 0.0) + seconds
    chain, steps = longest_chain(durations)
    print(f"  longest chain {chain:.2f} s ({' -> '.join(s.value for s in steps)}); sum of steps "
          f"{sum(durations.values()):.2f} s; wall {probe.wall:.2f} s = {probe.wall / chain:.2f} x the chain "
          f"(target <= 1.05 at time_scale 20)")
    print(f"  HTTP requests: {sum(probe.requests.values())} {probe.requests}")
    print("  lab phases (real s): " + ", ".join(f"{step} {d:.2f}" for step, d in probe.phases))


def _collect_time(folder: Path, extra: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra],
                   cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    return time.perf_counter() - started


def bench_startup(runs: int) -> None:
    if runs <= 0:
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_empty.py").write_text("def test_nothing():\n    pass\n")
        with_plugin: list[float] = []
        without: list[float] = []
        for _ in range(runs):  # interleaved, so drift on a shared machine hits both alike
            with_plugin.append(_collect_time(folder, []))
            without.append(_collect_time(folder, ["-p", "no:nestedhv"]))
    a, b = statistics.median(with_plugin), statistics.median(without)
    print(f"start-up: --collect-only median {a * 1000:.0f} ms with the plugin, {b * 1000:.0f} ms without "
          f"({(a - b) / b * 100:+.1f} %, target <= 5 %; {runs} runs each)")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-X", "importtime", "-c", "import pytest_nestedhv.plugin"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    print(f"  (python -c 'import pytest_nestedhv.plugin' took {(time.perf_counter() - started) * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="100,20", help="time scales to run the suite at (comma-separated)")
    parser.add_argument("--startup-runs", type=int, default=15)
    args = parser.parse_args()
    for scale in (float(s) for s in args.scales.split(",") if s):
        bench_suite(scale)
    bench_startup(args.startup_runs)


if __name__ == "__main__":
    main()
