"""What the history says, as pure functions over a History.

Per host and requirement (or test id, for tests without one), outcomes by build and run:
- a build's verdict is "passed" or "failed" when all its judged runs agree, "flaky" when they
  disagree (one build disagreeing with itself), "skipped" when none was judged;
- a regression window opens at a failed build and closes at the next passed build ("broke in
  A, fixed in B"); still open, it is "still failing" and its first build is the first failing build;
- flaky and skipped builds neither open nor close a window.
Per host and lab step, the durations of the runs where the step succeeded, by build; a build is
a slowdown when its median is more than ``factor`` times the median of up to five earlier builds'
medians (and at least a second more: sub-second steps jitter).
Builds sort numerically: build, then UBR.
"""
from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

from ..config import DEFAULT_SLOWDOWN_FACTOR
from .history_store import History, HistoryRow, RunRow

BAD = ("failed", "error")
GOOD = ("passed",)
BASELINE_BUILDS = 5
# a step must also be this many seconds slower: sub-second steps jitter by more than 1.5x between runs
NOISE_FLOOR_S = 1.0

BuildKey = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    """One run's outcome of one requirement."""

    run_id: str
    outcome: str
    started: str  # when the run started (ISO 8601)
    report: str | None = None
    bundle: str | None = None
    crash: str | None = None  # the host went down under this run


@dataclasses.dataclass(frozen=True)
class BuildResult:
    build_text: str
    build_key: BuildKey
    runs: tuple[RunOutcome, ...]  # oldest first

    @property
    def verdict(self) -> str:
        judged = {r.outcome in BAD for r in self.runs if r.outcome in BAD + GOOD}
        if not judged:
            return "skipped"
        if len(judged) == 2:
            return "flaky"
        return "failed" if judged == {True} else "passed"


@dataclasses.dataclass(frozen=True)
class Window:
    broke: str  # the first failed build
    fixed: str | None  # the next passed build; None: still failing
    after: str | None = None  # the last passed build before it; None: it never passed before

    def text(self) -> str:
        return f"broke in {self.broke}, " + (f"fixed in {self.fixed}" if self.fixed else "still failing")


@dataclasses.dataclass(frozen=True)
class TestHistory:
    host: str
    key: str  # the requirement id, or the test id for tests without one
    test_id: str
    results: tuple[BuildResult, ...]  # oldest build first

    @property
    def current(self) -> str:
        """The newest build's verdict."""
        return self.results[-1].verdict if self.results else ""

    @property
    def regressions(self) -> tuple[Window, ...]:
        windows: list[Window] = []
        broke: str | None = None
        broke_after: str | None = None
        last_pass: str | None = None
        for result in self.results:
            verdict = result.verdict
            if verdict == "failed" and broke is None:
                broke, broke_after = result.build_text, last_pass
            elif verdict == "passed":
                if broke is not None:
                    windows.append(Window(broke, result.build_text, broke_after))
                    broke = None
                last_pass = result.build_text
        if broke is not None:
            windows.append(Window(broke, None, broke_after))
        return tuple(windows)

    @property
    def first_failing_build(self) -> str | None:
        """The first build of the window that is still open (failing now), else None."""
        windows = self.regressions
        return windows[-1].broke if windows and windows[-1].fixed is None else None

    @property
    def flaky_builds(self) -> tuple[str, ...]:
        return tuple(r.build_text for r in self.results if r.verdict == "flaky")

    @property
    def flaky(self) -> bool:
        return bool(self.flaky_builds)


def _runs_by_key(history: History) -> dict[tuple[str, str], RunRow]:
    return {(r.host, r.run_id): r for r in history.runs}


def histories(history: History) -> list[TestHistory]:
    runs = _runs_by_key(history)
    grouped: dict[tuple[str, str], list[HistoryRow]] = {}
    for row in history.results:
        grouped.setdefault((row.host, row.requirement or row.test_id), []).append(row)
    out = []
    for (host, key), rows in sorted(grouped.items()):
        by_build: dict[BuildKey, list[tuple[str, RunOutcome]]] = {}
        texts: dict[BuildKey, str] = {}
        for row in rows:
            run = runs.get((host, row.run_id))
            started = run.started if run else row.time
            by_build.setdefault(row.build_key, []).append((started, RunOutcome(
                row.run_id, row.outcome, started, run.report if run else None, run.bundle if run else None,
                run.crash if run else None)))
            texts[row.build_key] = row.build_text
        newest = max(rows, key=lambda r: (r.build_key, r.time))
        out.append(TestHistory(host, key, newest.test_id, tuple(
            BuildResult(texts[bk], bk, tuple(o for _, o in sorted(items, key=lambda x: x[0])))
            for bk, items in sorted(by_build.items()))))
    return out


# ------------------------------------------------------------------ step timings


@dataclasses.dataclass(frozen=True)
class Slowdown:
    build: str
    seconds: float  # the build's median duration
    baseline: float  # median of up to five earlier builds' medians
    baseline_builds: tuple[str, ...]

    @property
    def ratio(self) -> float:
        return self.seconds / self.baseline if self.baseline else float("inf")


@dataclasses.dataclass(frozen=True)
class StepHistory:
    host: str
    step: str
    durations: tuple[tuple[BuildKey, str, tuple[float, ...]], ...]  # by build, oldest first; ok runs only
    slowdowns: tuple[Slowdown, ...]

    def median(self, key: BuildKey) -> float | None:
        for build_key, _, seconds in self.durations:
            if build_key == key:
                return statistics.median(seconds)
        return None


def slowdowns(durations: Sequence[tuple[BuildKey, str, Sequence[float]]], factor: float,
              window: int = BASELINE_BUILDS, floor: float = NOISE_FLOOR_S) -> tuple[Slowdown, ...]:
    """Builds whose median is more than ``factor`` x the median of the previous ``window`` builds' medians
    (and more than ``floor`` seconds above it)."""
    medians = [(text, statistics.median(seconds)) for _, text, seconds in durations if seconds]
    out = []
    for i, (text, seconds) in enumerate(medians):
        earlier = medians[max(0, i - window):i]
        if not earlier:
            continue
        baseline = statistics.median(s for _, s in earlier)
        if seconds > factor * baseline and seconds - baseline > floor:
            out.append(Slowdown(text, seconds, baseline, tuple(t for t, _ in earlier)))
    return tuple(out)


def step_histories(history: History, factor: float = DEFAULT_SLOWDOWN_FACTOR) -> list[StepHistory]:
    runs = _runs_by_key(history)
    grouped: dict[tuple[str, str], dict[BuildKey, list[tuple[str, float]]]] = {}
    texts: dict[BuildKey, str] = {}
    order: dict[tuple[str, str], int] = {}
    for index, step in enumerate(history.steps):
        run = runs.get((step.host, step.run_id))
        if run is None or not step.ok:
            continue  # a failed step's duration says how it failed, not how fast it is
        key = (step.host, step.step)
        order.setdefault(key, index)
        grouped.setdefault(key, {}).setdefault(run.build_key, []).append((run.started, step.duration))
        texts[run.build_key] = run.build_text
    out = []
    for (host, name), per_build in sorted(grouped.items(), key=lambda kv: (kv[0][0], order[kv[0]])):
        durations = tuple((bk, texts[bk], tuple(round(s, 3) for _, s in sorted(items)))
                          for bk, items in sorted(per_build.items()))
        out.append(StepHistory(host, name, durations, slowdowns(durations, factor)))
    return out


# ------------------------------------------------------------------ newly failing (the current run)


@dataclasses.dataclass(frozen=True)
class NewlyFailing:
    host: str
    key: str
    build: str  # the current build, where it fails
    passed_on: str  # the previous build, where it passed


def newly_failing(previous: Sequence[HistoryRow], current: Sequence[HistoryRow]) -> list[NewlyFailing]:
    """Tests failing now whose same host passed them in every run of the latest earlier build."""
    out = []
    for row in current:
        if row.outcome not in BAD:
            continue
        key = row.requirement or row.test_id
        earlier = [p for p in previous
                   if p.host == row.host and (p.requirement or p.test_id) == key and p.build_key < row.build_key]
        judged = [p for p in earlier if p.outcome in BAD + GOOD]
        if not judged:
            continue
        last_build = max(p.build_key for p in judged)
        last = [p for p in judged if p.build_key == last_build]
        if all(p.outcome in GOOD for p in last):
            out.append(NewlyFailing(row.host, key, row.build_text, last[0].build_text))
    return out


# ------------------------------------------------------------------ JSON


def host_runs(history: History, host: str) -> list[RunRow]:
    return sorted((r for r in history.runs if r.host == host), key=lambda r: (r.build_key, r.started))


def history_json(history: History, factor: float = DEFAULT_SLOWDOWN_FACTOR) -> dict[str, Any]:
    """``{"hosts": {LABEL: {"builds", "requirements", "steps"}}, "slowdown_factor"}``; builds as BUILD.UBR."""
    tests = histories(history)
    steps = step_histories(history, factor)
    hosts: dict[str, Any] = {}
    for label in sorted({r.host for r in history.runs} | {t.host for t in tests}):
        builds: dict[str, Any] = {}
        for run in host_runs(history, label):
            build = builds.setdefault(run.build_text, {"flight": None, "branch": None, "runs": []})
            build["flight"] = run.flight or build["flight"]
            build["branch"] = run.branch or build["branch"]
            build["runs"].append({"run": run.run_id, "started": run.started,
                                  "report": run.report, "bundle": run.bundle, "crash": run.crash})
        requirements = {t.key: {
            "test_id": t.test_id,
            "outcomes": {r.build_text: [{"run": o.run_id, "outcome": o.outcome, "started": o.started}
                                        for o in r.runs] for r in t.results},
            "verdicts": {r.build_text: r.verdict for r in t.results},
            "first_failing_build": t.first_failing_build,
            "regressions": [{"broke": w.broke, "fixed": w.fixed, "after": w.after} for w in t.regressions],
            "flaky_builds": list(t.flaky_builds),
        } for t in tests if t.host == label}
        step_part = {s.step: {
            "durations": {text: list(seconds) for _, text, seconds in s.durations},
            "slowdowns": [{"build": d.build, "seconds": round(d.seconds, 3), "baseline": round(d.baseline, 3),
                           "ratio": round(d.ratio, 2), "baseline_builds": list(d.baseline_builds)}
                          for d in s.slowdowns],
        } for s in steps if s.host == label}
        hosts[label] = {"builds": builds, "requirements": requirements, "steps": step_part}
    return {"hosts": hosts, "slowdown_factor": factor}
