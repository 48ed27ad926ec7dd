"""Everything written at the end of a run except pytest-html's and pytest's own files."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ..hyperv.facts import branch_of
from ..remote.secrets import SecretMask
from . import history_store
from .bundle import Bundle, write_bundle
from .history_html import render_history_html
from .history_store import HistoryRow, RunEntry, RunRow, StepRow
from .history_view import DEFAULT_SLOWDOWN_FACTOR, NewlyFailing, newly_failing
from .records import RunRecord
from .timings import steps_of

HISTORY_DB = "history.sqlite"
HISTORY_HTML = "history.html"


@dataclasses.dataclass(frozen=True)
class Written:
    bundles: tuple[Bundle, ...]
    newly_failing: tuple[NewlyFailing, ...]
    history_rows: int
    seconds: float
    history_note: str | None = None  # the history was upgraded from an older schema


def history_rows(run: RunRecord) -> list[HistoryRow]:
    rows = []
    for test in run.tests.values():
        if test.host is None:
            continue  # not a suite test: nothing to compare across builds
        host = run.hosts.get(test.host)
        rows.append(HistoryRow(
            run_id=run.run_id, host=test.host, build=host.build if host else None, ubr=host.ubr if host else None,
            test_id=test.nodeid, requirement=test.requirement, outcome=test.outcome,
            duration=round(test.duration_s, 3), time=test.time or run.started,
        ))
    return rows


def run_entries(run: RunRecord, *, report: Path | None = None,
                bundles: dict[str, Path] | None = None) -> list[RunEntry]:
    """One entry per host: its run row (build, flight, date, report paths, crash), its tests and its steps."""
    rows = history_rows(run)
    labels = list(run.hosts) + [r.host for r in rows if r.host not in run.hosts]
    entries = []
    for label in dict.fromkeys(labels):
        host = run.hosts.get(label)
        facts = host.facts if host else {}
        bundle = (bundles or {}).get(label)
        flight = facts.get("flight")
        entries.append(RunEntry(
            RunRow(run.run_id, label, host.build if host else None, host.ubr if host else None, run.started,
                   flight=str(flight) if flight else None,
                   branch=branch_of(str(facts.get("build_lab_ex") or "")),
                   report=str(report.resolve()) if report else None,
                   bundle=str(bundle.resolve()) if bundle else None,
                   crash=host.crash if host else None),
            tuple(r for r in rows if r.host == label),
            tuple(StepRow(run.run_id, label, s.step, s.started, s.duration_s, s.ok)
                  for s in (steps_of(host) if host else ())),
        ))
    return entries


def write_reports(run: RunRecord, root: Path, mask: SecretMask, *, history: Path | None = None,
                  report: Path | None = None, slowdown_factor: float = DEFAULT_SLOWDOWN_FACTOR) -> Written:
    """Bundles per host, the run in the history (``history``, default ROOT/history.sqlite) and
    ROOT/history.html. Raises OSError/HistoryError."""
    t0 = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    bundles = tuple(write_bundle(root, host, run, mask) for host in run.hosts.values())
    db = history if history is not None else root / HISTORY_DB
    previous = history_store.read(db)
    entries = run_entries(run, report=report, bundles={
        label: b.zip_path for label, b in zip(run.hosts, bundles)})
    rows = [r for e in entries for r in e.results]
    newly = tuple(newly_failing(previous.results, rows))
    note = None
    if entries:
        note = history_store.append(db, entries).note
    render_history(db, root / HISTORY_HTML, mask, slowdown_factor=slowdown_factor)
    return Written(bundles, newly, len(rows), time.perf_counter() - t0, note)


def render_history(db: Path, out: Path, mask: SecretMask | None = None, *,
                   slowdown_factor: float = DEFAULT_SLOWDOWN_FACTOR) -> Path:
    html = render_history_html(history_store.read(db), base=out.parent, factor=slowdown_factor)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(mask.mask(html) if mask else html, encoding="utf-8")
    return out
