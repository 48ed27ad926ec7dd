"""history.html: per host, the build x requirement matrix (every run, linked to its report and
bundle when those files exist), regression windows, same-build flakes and the step-timing trend."""
from __future__ import annotations

import datetime
import os
import urllib.parse
from collections.abc import Sequence
from html import escape
from pathlib import Path

from .history_store import History, RunRow
from .history_view import (
    DEFAULT_SLOWDOWN_FACTOR, BuildKey, RunOutcome, StepHistory, TestHistory, histories, host_runs, step_histories,
)

_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; font-size: 13px; vertical-align: top; }
th { background: #f3f3f3; }
td.passed { background: #c8e6c9; } td.failed { background: #ffcdd2; } td.flaky { background: #e1bee7; }
td.skipped { background: #eeeeee; } td.none { background: #fff; color: #999; }
td.slow { background: #ffe082; font-weight: bold; }
.run { display: block; white-space: nowrap; } .date, .meta { color: #555; font-size: 11px; }
.flaky { color: #8e24aa; font-weight: bold; }
.crash { color: #b71c1c; font-weight: bold; }
"""


def _date(iso: str | None) -> str:
    """YYYY-MM-DD HH:MM UTC, or the text as it is when it is not a date."""
    if not iso:
        return ""
    try:
        when = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _href(path: str | None, base: Path | None) -> str | None:
    """A link from the page's folder to ``path``, only when that file exists."""
    if not path or not Path(path).is_file():
        return None
    target = Path(path).resolve()
    if base is None:
        return target.as_uri()
    try:
        rel = os.path.relpath(target, base.resolve())
    except ValueError:  # another drive on Windows
        return target.as_uri()
    return urllib.parse.quote(Path(rel).as_posix())


def _seconds(value: float) -> str:
    if value >= 60:
        return f"{int(value // 60)} min {value % 60:.0f} s"
    return f"{value:.1f} s"


def owners(runs: Sequence[RunRow]) -> dict[str, str]:
    """Path -> the run id of the newest run that wrote it: a report folder used again holds only the
    newest run's files, so older runs that recorded the same path get no link."""
    out: dict[str, tuple[str, str]] = {}
    for run in runs:
        for path in (run.report, run.bundle):
            if path and (path not in out or run.started >= out[path][0]):
                out[path] = (run.started, run.run_id)
    return {path: run_id for path, (_, run_id) in out.items()}


def _run_cell(run: RunOutcome, base: Path | None, owned: dict[str, str]) -> str:
    title = escape(f"run {run.run_id}, started {_date(run.started)}", quote=True)
    report = _href(run.report, base) if owned.get(run.report or "") == run.run_id else None
    bundle = _href(run.bundle, base) if owned.get(run.bundle or "") == run.run_id else None
    text = escape(run.outcome)
    link = f'<a href="{escape(report)}">{text}</a>' if report else text
    extra = f' <a class="bundle" href="{escape(bundle)}">bundle</a>' if bundle else ""
    if run.crash:
        extra += f' <span class="crash" title="{escape(run.crash, quote=True)}">host crash</span>'
    return (f'<span class="run" data-run="{escape(run.run_id)}" title="{title}">{link}{extra} '
            f'<span class="date">{escape(_date(run.started))}</span></span>')


def _build_header(key: BuildKey, text: str, runs: Sequence[RunRow]) -> str:
    mine = [r for r in runs if r.build_key == key]
    flights = sorted({r.flight for r in mine if r.flight})
    branches = sorted({r.branch for r in mine if r.branch})
    meta = " ".join(filter(None, [", ".join(flights), ", ".join(branches)]))
    dates = sorted(_date(r.started)[:10] for r in mine)
    when = dates[0] if dates and dates[0] == dates[-1] else (f"{dates[0]} .. {dates[-1]}" if dates else "")
    return (f'<th data-build="{escape(text)}">{escape(text)}<br><span class="meta">{escape(meta)}</span>'
            f'<br><span class="date">{escape(when)}</span></th>')


def _matrix(host: str, tests: Sequence[TestHistory], builds: Sequence[tuple[BuildKey, str]],
            runs: Sequence[RunRow], base: Path | None) -> list[str]:
    owned = owners(runs)
    parts = [f'<table class="matrix" data-host="{escape(host)}"><thead><tr><th>requirement</th>']
    parts += [_build_header(key, text, runs) for key, text in builds]
    parts.append("<th>regression windows</th><th>flaky builds</th></tr></thead><tbody>")
    for t in tests:
        by_build = {r.build_key: r for r in t.results}
        parts.append(f'<tr data-key="{escape(t.key)}"><th title="{escape(t.test_id)}">{escape(t.key)}</th>')
        for key, text in builds:
            result = by_build.get(key)
            if result is None:
                parts.append(f'<td class="none" data-build="{escape(text)}">-</td>')
                continue
            cells = "".join(_run_cell(run, base, owned) for run in result.runs)
            parts.append(f'<td class="{result.verdict}" data-build="{escape(text)}" '
                         f'data-verdict="{result.verdict}">{cells}</td>')
        windows = "<br>".join(escape(w.text()) for w in t.regressions)
        flaky = ", ".join(t.flaky_builds)
        parts.append(f'<td class="regressions">{windows}</td>'
                     f'<td>{f"<span class=flaky>{escape(flaky)}</span>" if flaky else ""}</td></tr>')
    parts.append("</tbody></table>")
    return parts


def _steps(host: str, steps: Sequence[StepHistory], builds: Sequence[tuple[BuildKey, str]],
           factor: float) -> list[str]:
    if not steps:
        return []
    parts = [f"<h3>Step durations (median per build; more than {factor:g}x, and a second, slower than the "
             "median of the previous five builds is flagged)</h3>",
             f'<table class="steps" data-host="{escape(host)}"><thead><tr><th>step</th>']
    parts += [f"<th>{escape(text)}</th>" for _, text in builds]
    parts.append("</tr></thead><tbody>")
    for step in steps:
        slow = {s.build: s for s in step.slowdowns}
        parts.append(f'<tr data-step="{escape(step.step)}"><th>{escape(step.step)}</th>')
        per_build = {key: seconds for key, _, seconds in step.durations}
        for key, text in builds:
            seconds = per_build.get(key)
            median = step.median(key)
            if median is None or not seconds:
                parts.append(f'<td class="none" data-build="{escape(text)}">-</td>')
                continue
            runs = f" ({len(seconds)} runs)" if len(seconds) > 1 else ""
            hit = slow.get(text)
            if hit is not None:
                tip = (f"{hit.ratio:.1f}x the median {_seconds(hit.baseline)} of "
                       f"{', '.join(hit.baseline_builds)}: performance regression")
                parts.append(f'<td class="slow" data-build="{escape(text)}" title="{escape(tip)}">'
                             f"{escape(_seconds(median))}{runs} slower {hit.ratio:.1f}x</td>")
            else:
                parts.append(f'<td data-build="{escape(text)}">{escape(_seconds(median))}{runs}</td>')
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return parts


def render_history_html(history: History, *, title: str = "pytest-nestedhv history", base: Path | None = None,
                        factor: float = DEFAULT_SLOWDOWN_FACTOR) -> str:
    """The page; ``base`` is the folder it is written to (links are relative to it)."""
    tests = histories(history)
    steps = step_histories(history, factor)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{len(history.results)} results from {len(history.runs)} runs. A build's cell lists every run; "
        "a build whose runs disagree is <span class=flaky>flaky</span>.</p>",
    ]
    if not history.runs and not history.results:
        parts.append('<p id="empty">No runs recorded yet.</p>')
    hosts = sorted({r.host for r in history.runs} | {t.host for t in tests})
    for host in hosts:
        runs = host_runs(history, host)
        mine = [t for t in tests if t.host == host]
        my_steps = [s for s in steps if s.host == host]
        keys = {r.build_key: r.build_text for r in runs}
        keys.update({r.build_key: r.build_text for t in mine for r in t.results})
        builds = sorted(keys.items())
        flights = sorted({r.flight for r in runs if r.flight})
        parts.append(f"<h2>{escape(host)}</h2>")
        if flights:
            parts.append(f'<p class="flight">Windows Insider flight: {escape(", ".join(flights))}</p>')
        parts += _matrix(host, mine, builds, runs, base)
        parts += _steps(host, my_steps, builds, factor)
    parts += _table("failing", "Failing now", ("host", "requirement", "test", "first failing build"),
                    [(t.host, t.key, t.test_id, t.first_failing_build or "") for t in tests if t.first_failing_build])
    parts += _table("regressions", "Regression windows",
                    ("host", "requirement", "broke in", "fixed in", "last passed before"),
                    [(t.host, t.key, w.broke, w.fixed or "still failing", w.after or "-")
                     for t in tests for w in t.regressions])
    parts += _table("crashes", "Host crashes", ("host", "build", "run", "started", "what happened"),
                    [(r.host, r.build_text, r.run_id, _date(r.started), r.crash)
                     for host in hosts for r in host_runs(history, host) if r.crash])
    parts += _table("flaky", "Flaky (one build, different outcomes)",
                    ("host", "requirement", "build", "outcomes of its runs"),
                    [(t.host, t.key, r.build_text, ", ".join(f"{o.outcome} ({o.run_id})" for o in r.runs))
                     for t in tests for r in t.results if r.verdict == "flaky"])
    parts += _table("slowdowns", "Slower steps", ("host", "step", "build", "median", "baseline (previous builds)",
                                                  "ratio"),
                    [(s.host, s.step, d.build, _seconds(d.seconds),
                      f"{_seconds(d.baseline)} ({', '.join(d.baseline_builds)})", f"{d.ratio:.2f}x")
                     for s in steps for d in s.slowdowns])
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _table(table_id: str, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows]
    return [f'<h2>{escape(title)}</h2><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>', *body,
            "</tbody></table>"]
