"""Run history in SQLite: every run on every host, its tests' outcomes and its lab steps' durations.

A database is ours when its ``PRAGMA application_id`` carries our id. Anything else (another
program's database, a corrupt file, a text file) is refused with a one-line HistoryError
and left as it is. An absent or empty file becomes a new history.

Schema 1 (v0.1) had only ``results``. Schema 2 adds ``runs`` (one row per run and host: build,
flight, date, report paths, a host crash) and ``steps`` (lab step durations). A schema-1 file is
read as it is, and upgraded in place the first time something is appended to it
(``Appended.note`` says so in one line). A run is stored once: appending a run id already present for that host adds nothing.
"""
from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from .records import build_text

APPLICATION_ID = 0x4E485631  # "NHV1"
SCHEMA_VERSION = 2
RESULTS_TABLE = """
CREATE TABLE results (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    host TEXT NOT NULL,
    build INTEGER,
    ubr INTEGER,
    test_id TEXT NOT NULL,
    requirement TEXT,
    outcome TEXT NOT NULL,
    duration REAL NOT NULL,
    time TEXT NOT NULL
);
CREATE INDEX results_host_test ON results (host, test_id);
"""
V2_TABLES = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    host TEXT NOT NULL,
    build INTEGER,
    ubr INTEGER,
    started TEXT NOT NULL,
    flight TEXT,
    branch TEXT,
    report TEXT,
    bundle TEXT,
    crash TEXT,
    UNIQUE (run_id, host)
);
CREATE TABLE steps (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    host TEXT NOT NULL,
    step TEXT NOT NULL,
    started TEXT,
    duration REAL NOT NULL,
    ok INTEGER NOT NULL
);
CREATE INDEX steps_host_step ON steps (host, step);
"""
# a schema-1 history's runs, as far as its results tell them
RUNS_FROM_RESULTS = (
    "SELECT run_id, host, max(build), max(ubr), min(time) FROM results GROUP BY run_id, host ORDER BY min(id)"
)


class HistoryError(Exception):
    """The history database cannot be used; one line for the user."""


class _OnABuild:
    """Build and UBR as history sorts (numerically) and writes (BUILD.UBR) them."""

    build: int | None
    ubr: int | None

    @property
    def build_key(self) -> tuple[int, int]:
        return (self.build or 0, self.ubr or 0)

    @property
    def build_text(self) -> str:
        return build_text(self.build, self.ubr)


@dataclasses.dataclass(frozen=True)
class HistoryRow(_OnABuild):
    """One test's outcome in one run."""

    run_id: str
    host: str
    build: int | None
    ubr: int | None
    test_id: str
    requirement: str | None
    outcome: str
    duration: float
    time: str


@dataclasses.dataclass(frozen=True)
class RunRow(_OnABuild):
    """One run on one host. ``report`` and ``bundle`` are absolute paths, as they were when recorded."""

    run_id: str
    host: str
    build: int | None
    ubr: int | None
    started: str
    flight: str | None = None  # Windows Insider channel (WindowsSelfHost\Applicability BranchName)
    branch: str | None = None  # the build's branch from BuildLabEx
    report: str | None = None
    bundle: str | None = None
    crash: str | None = None  # the host went down under the run: "host bugcheck 0x... during lab step ..."


@dataclasses.dataclass(frozen=True)
class StepRow:
    """One lab step's duration in one run."""

    run_id: str
    host: str
    step: str
    started: str | None
    duration: float
    ok: bool


@dataclasses.dataclass(frozen=True)
class RunEntry:
    """What one run recorded about one host: appended (or skipped) as a whole."""

    run: RunRow
    results: tuple[HistoryRow, ...] = ()
    steps: tuple[StepRow, ...] = ()


@dataclasses.dataclass(frozen=True)
class History:
    runs: tuple[RunRow, ...] = ()
    results: tuple[HistoryRow, ...] = ()
    steps: tuple[StepRow, ...] = ()


@dataclasses.dataclass(frozen=True)
class Appended:
    runs: int  # runs added
    skipped: int  # runs already in the history (same run id and host)
    rows: int  # test results added
    note: str | None = None  # set when a schema-1 history was upgraded


def _refuse(path: Path, why: str) -> HistoryError:
    return HistoryError(
        f"history database {path} {why}; it was left untouched: move it away or point --nested-history elsewhere"
    )


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _empty(path: Path) -> bool:
    return not path.exists() or (path.is_file() and path.stat().st_size == 0)


def check(path: Path) -> int:
    """Raise HistoryError unless ``path`` is absent, empty, or a history of ours; its schema version (0: none)."""
    if _empty(path):
        return 0
    if not path.is_file():
        raise _refuse(path, "is not a file")
    try:
        with contextlib.closing(_connect_ro(path)) as db:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if app_id != APPLICATION_ID:
                raise _refuse(path, "belongs to another program (not a pytest-nestedhv history)")
            if version > SCHEMA_VERSION:
                raise _refuse(path, f"has schema version {version}, newer than this pytest-nestedhv ({SCHEMA_VERSION})")
            db.execute("SELECT count(*) FROM results").fetchone()
            quick = db.execute("PRAGMA quick_check").fetchone()[0]
            if quick != "ok":
                raise _refuse(path, f"is corrupt ({quick})")
            return version
    except sqlite3.DatabaseError as err:
        raise _refuse(path, f"is corrupt or not an SQLite database ({err})") from None


def _upgrade_1_to_2(db: sqlite3.Connection) -> None:
    db.executescript(V2_TABLES)
    db.execute("INSERT INTO runs (run_id, host, build, ubr, started) " + RUNS_FROM_RESULTS)
    db.execute("PRAGMA user_version = 2")


@contextlib.contextmanager
def _open(path: Path) -> Iterator[tuple[sqlite3.Connection, str | None]]:
    """A writable connection on a schema-2 history; the second value says when it was upgraded."""
    version = check(path)
    db = sqlite3.connect(path)
    note = None
    try:
        if version == 0:
            db.executescript(RESULTS_TABLE + V2_TABLES)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version == 1:
            _upgrade_1_to_2(db)
            note = (f"history database {path} upgraded from schema 1 (pytest-nestedhv 0.1) to {SCHEMA_VERSION}: "
                    "it now keeps run dates, report links and step timings; older pytest-nestedhv cannot write it")
        yield db, note
        db.commit()
    finally:
        db.close()


def append(path: Path, entries: Iterable[RunEntry]) -> Appended:
    """Add runs not yet recorded (run id and host); creates the database and its folder if needed."""
    entries = list(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    added = skipped = rows = 0
    with _open(path) as (db, note):
        for entry in entries:
            run = entry.run
            known = db.execute("SELECT 1 FROM runs WHERE run_id = ? AND host = ?", (run.run_id, run.host)).fetchone()
            if known:
                skipped += 1
                continue
            db.execute("INSERT INTO runs (run_id, host, build, ubr, started, flight, branch, report, bundle, crash)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", dataclasses.astuple(run))
            db.executemany(
                "INSERT INTO results (run_id, host, build, ubr, test_id, requirement, outcome, duration, time)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [dataclasses.astuple(r) for r in entry.results])
            db.executemany("INSERT INTO steps (run_id, host, step, started, duration, ok) VALUES (?, ?, ?, ?, ?, ?)",
                           [(s.run_id, s.host, s.step, s.started, s.duration, int(s.ok)) for s in entry.steps])
            added += 1
            rows += len(entry.results)
    return Appended(added, skipped, rows, note)


def read(path: Path) -> History:
    """Everything, oldest first. An absent database is an empty history; a schema-1 one is read as it is."""
    version = check(path)
    if version == 0:
        return History()
    with contextlib.closing(_connect_ro(path)) as db:
        results = tuple(HistoryRow(*row) for row in db.execute(
            "SELECT run_id, host, build, ubr, test_id, requirement, outcome, duration, time FROM results ORDER BY id"))
        if version == 1:
            return History(tuple(RunRow(*row) for row in db.execute(RUNS_FROM_RESULTS)), results, ())
        runs = tuple(RunRow(*row) for row in db.execute(
            "SELECT run_id, host, build, ubr, started, flight, branch, report, bundle, crash FROM runs ORDER BY id"))
        steps = tuple(StepRow(r, h, s, st, d, bool(ok)) for r, h, s, st, d, ok in db.execute(
            "SELECT run_id, host, step, started, duration, ok FROM steps ORDER BY id"))
    return History(runs, results, steps)
