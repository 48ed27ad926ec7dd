"""Everything written at the end of a run except pytest-html's and pytest's own files."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ..remote.secrets import SecretMask
from . import history_store
from .bundle import Bundle, write_bundle
from .history_store import HistoryRow
from .history_view import NewlyFailing, newly_failing, render_history_html
from .records import RunRecord

HISTORY_DB = "history.sqlite"
HISTORY_HTML = "history.html"


@dataclasses.dataclass(frozen=True)
class Written:
    bundles: tuple[Bundle, ...]
    newly_failing: tuple[NewlyFailing, ...]
    history_rows: int
    seconds: float


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


def write_reports(run: RunRecord, root: Path, mask: SecretMask) -> Written:
    """Bundles per host, the history row per test, and history.html. Raises OSError/HistoryError."""
    t0 = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    bundles = tuple(write_bundle(root, host, run, mask) for host in run.hosts.values())
    db = root / HISTORY_DB
    previous = history_store.read(db)
    rows = history_rows(run)
    newly = tuple(newly_failing(previous, rows))
    if rows:
        history_store.append(db, rows)
    render_history(db, root / HISTORY_HTML, mask)
    return Written(bundles, newly, len(rows), time.perf_counter() - t0)


def render_history(db: Path, out: Path, mask: SecretMask | None = None) -> Path:
    html = render_history_html(history_store.read(db))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(mask.mask(html) if mask else html, encoding="utf-8")
    return out
