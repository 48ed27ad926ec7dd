"""Run history in SQLite: one row per test per run; never touches a database that is not ours.

A database is ours when its ``PRAGMA application_id`` carries our id. Anything else (another
program's database, a corrupt file, a text file) is refused with a one-line HistoryError
and left as it is. An absent or empty file becomes a new history.
"""
from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

APPLICATION_ID = 0x4E485631  # "NHV1"
SCHEMA_VERSION = 1
SCHEMA = """
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


class HistoryError(Exception):
    """The history database cannot be used; one line for the user."""


@dataclasses.dataclass(frozen=True)
class HistoryRow:
    run_id: str
    host: str
    build: int | None
    ubr: int | None
    test_id: str
    requirement: str | None
    outcome: str
    duration: float
    time: str

    @property
    def build_key(self) -> tuple[int, int]:
        return (self.build or 0, self.ubr or 0)

    @property
    def build_text(self) -> str:
        if self.build is None:
            return "unknown"
        return f"{self.build}.{self.ubr}" if self.ubr is not None else str(self.build)


def _refuse(path: Path, why: str) -> HistoryError:
    return HistoryError(
        f"history database {path} {why}; it was left untouched: move it away or use another --nested-report-dir"
    )


def check(path: Path) -> None:
    """Raise HistoryError unless ``path`` is absent, empty, or a history of ours."""
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return
    if not path.is_file():
        raise _refuse(path, "is not a file")
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if app_id != APPLICATION_ID:
                raise _refuse(path, "belongs to another program (not a pytest-nestedhv history)")
            if version > SCHEMA_VERSION:
                raise _refuse(path, f"has schema version {version}, newer than this pytest-nestedhv ({SCHEMA_VERSION})")
            db.execute("SELECT count(*) FROM results").fetchone()
            quick = db.execute("PRAGMA quick_check").fetchone()[0]
            if quick != "ok":
                raise _refuse(path, f"is corrupt ({quick})")
    except sqlite3.DatabaseError as err:
        raise _refuse(path, f"is corrupt or not an SQLite database ({err})") from None


@contextlib.contextmanager
def _open(path: Path) -> Iterator[sqlite3.Connection]:
    check(path)
    db = sqlite3.connect(path)
    try:
        if db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        yield db
        db.commit()
    finally:
        db.close()


def append(path: Path, rows: Iterable[HistoryRow]) -> int:
    rows = list(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open(path) as db:
        db.executemany(
            "INSERT INTO results (run_id, host, build, ubr, test_id, requirement, outcome, duration, time)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [dataclasses.astuple(r) for r in rows],
        )
    return len(rows)


def read(path: Path) -> list[HistoryRow]:
    """Every row, oldest first. An absent database is an empty history."""
    if not path.exists():
        return []
    check(path)
    if path.stat().st_size == 0:
        return []
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        cur = db.execute(
            "SELECT run_id, host, build, ubr, test_id, requirement, outcome, duration, time FROM results ORDER BY id"
        )
        return [HistoryRow(*row) for row in cur.fetchall()]
