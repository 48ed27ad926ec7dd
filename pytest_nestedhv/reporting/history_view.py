"""What the history says: the build x requirement matrix, first failing builds, flaky tests,
and "newly failing since build X" for the current run. Pure functions over HistoryRow."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from html import escape

from .history_store import HistoryRow

BAD = ("failed", "error")
GOOD = ("passed",)
OUTCOME_COLOURS = {"passed": "#c8e6c9", "failed": "#ffcdd2", "error": "#ffab91", "skipped": "#eeeeee"}


@dataclasses.dataclass(frozen=True)
class BuildResult:
    build_text: str
    build_key: tuple[int, int]
    outcome: str


@dataclasses.dataclass(frozen=True)
class TestHistory:
    host: str
    key: str  # the requirement id, or the test id for tests without one
    test_id: str
    results: tuple[BuildResult, ...]  # one per build, oldest build first (the last run of that build)

    @property
    def current(self) -> str:
        return self.results[-1].outcome if self.results else ""

    @property
    def first_failing_build(self) -> str | None:
        """The earliest build of the failure run that reaches the newest build, if it is failing now."""
        if self.current not in BAD:
            return None
        first = None
        for result in reversed(self.results):
            if result.outcome in BAD:
                first = result.build_text
            elif result.outcome in GOOD:
                break
        return first

    @property
    def flips(self) -> int:
        judged = [r.outcome in BAD for r in self.results if r.outcome in BAD + GOOD]
        return sum(1 for a, b in zip(judged, judged[1:]) if a != b)

    @property
    def flaky(self) -> bool:
        """Went both ways: passed after failing and failed after passing (or back and forth more)."""
        return self.flips >= 2


def histories(rows: Iterable[HistoryRow]) -> list[TestHistory]:
    latest: dict[tuple[str, str], dict[tuple[int, int], tuple[HistoryRow, int]]] = {}
    for index, row in enumerate(rows):
        key = (row.host, row.requirement or row.test_id)
        latest.setdefault(key, {})[row.build_key] = (row, index)  # a later run of a build replaces it
    out = []
    for (host, key), per_build in sorted(latest.items()):
        ordered = sorted(per_build.items())
        newest_row = max((r for r, _ in per_build.values()), key=lambda r: r.time)
        out.append(TestHistory(host, key, newest_row.test_id, tuple(
            BuildResult(row.build_text, bk, row.outcome) for bk, (row, _) in ordered)))
    return out


@dataclasses.dataclass(frozen=True)
class NewlyFailing:
    host: str
    key: str
    build: str  # the current build, where it fails
    passed_on: str  # the previous build, where it passed


def newly_failing(previous: Sequence[HistoryRow], current: Sequence[HistoryRow]) -> list[NewlyFailing]:
    """Tests failing now whose same host passed them on the latest earlier build in the history."""
    out = []
    for row in current:
        if row.outcome not in BAD:
            continue
        key = row.requirement or row.test_id
        earlier = [p for p in previous
                   if p.host == row.host and (p.requirement or p.test_id) == key and p.build_key < row.build_key]
        if not earlier:
            continue
        last_build = max(p.build_key for p in earlier)
        last = [p for p in earlier if p.build_key == last_build][-1]
        if last.outcome in GOOD:
            out.append(NewlyFailing(row.host, key, row.build_text, last.build_text))
    return out


# ------------------------------------------------------------------ history.html

_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; font-size: 13px; }
th { background: #f3f3f3; }
td.passed { background: #c8e6c9; } td.failed { background: #ffcdd2; }
td.error { background: #ffab91; } td.skipped { background: #eeeeee; } td.none { background: #fff; color: #999; }
.flaky { color: #8e24aa; font-weight: bold; }
"""


def render_history_html(rows: Sequence[HistoryRow], *, title: str = "pytest-nestedhv history") -> str:
    hist = histories(rows)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{len(rows)} results from {len({r.run_id for r in rows})} runs.</p>",
    ]
    if not rows:
        parts.append('<p id="empty">No runs recorded yet.</p>')
    for host in sorted({h.host for h in hist}):
        mine = [h for h in hist if h.host == host]
        builds = sorted({(r.build_key, r.build_text) for h in mine for r in h.results})
        parts.append(f"<h2>{escape(host)}</h2>")
        parts.append(f'<table class="matrix" data-host="{escape(host)}"><thead><tr><th>requirement</th>')
        parts += [f"<th>{escape(text)}</th>" for _, text in builds]
        parts.append("<th>first failing build</th><th>flaky</th></tr></thead><tbody>")
        for h in mine:
            by_build = {r.build_key: r.outcome for r in h.results}
            parts.append(f'<tr data-key="{escape(h.key)}"><th>{escape(h.key)}</th>')
            for key, text in builds:
                outcome = by_build.get(key)
                cls = outcome or "none"
                parts.append(f'<td class="{escape(cls)}" data-build="{escape(text)}">{escape(outcome or "-")}</td>')
            parts.append(f'<td class="first-failing">{escape(h.first_failing_build or "")}</td>')
            parts.append(f'<td>{"<span class=flaky>flaky</span>" if h.flaky else ""}</td></tr>')
        parts.append("</tbody></table>")
    failing = [h for h in hist if h.first_failing_build]
    parts.append('<h2>Failing now</h2><table id="failing"><thead><tr><th>host</th><th>requirement</th>'
                 "<th>test</th><th>first failing build</th></tr></thead><tbody>")
    for h in failing:
        parts.append(f"<tr><td>{escape(h.host)}</td><td>{escape(h.key)}</td><td>{escape(h.test_id)}</td>"
                     f"<td>{escape(h.first_failing_build or '')}</td></tr>")
    parts.append("</tbody></table>")
    parts.append('<h2>Flaky (flip between builds)</h2><table id="flaky"><thead><tr><th>host</th>'
                 "<th>requirement</th><th>outcomes by build</th></tr></thead><tbody>")
    for h in (h for h in hist if h.flaky):
        seq = ", ".join(f"{r.build_text}: {r.outcome}" for r in h.results)
        parts.append(f"<tr><td>{escape(h.host)}</td><td>{escape(h.key)}</td><td>{escape(seq)}</td></tr>")
    parts.append("</tbody></table></body></html>")
    return "\n".join(parts) + "\n"
