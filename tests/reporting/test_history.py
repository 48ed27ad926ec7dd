"""The history database (ours only, never overwrites another) and what it says."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from pytest_nestedhv.history.__main__ import main as history_main
from pytest_nestedhv.reporting import history_store
from pytest_nestedhv.reporting.history_store import HistoryError, HistoryRow
from pytest_nestedhv.reporting.history_view import histories, newly_failing, render_history_html


def row(build: int, ubr: int, outcome: str, *, test: str = "suites/test_nested.py::test_boot[h]",
        req: str | None = "nested.boot", host: str = "h", run: str | None = None) -> HistoryRow:
    return HistoryRow(run or f"r{ubr}", host, build, ubr, test, req, outcome, 1.0, f"2026-01-01T00:00:{ubr % 60:02d}+00:00")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_append_and_read_back(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    assert history_store.read(db) == []
    history_store.append(db, [row(26100, 1, "passed"), row(26100, 2, "failed")])
    history_store.append(db, [row(26100, 3, "passed")])
    assert [r.outcome for r in history_store.read(db)] == ["passed", "failed", "passed"]
    history_store.check(db)  # ours: no error


def test_foreign_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    with sqlite3.connect(db) as other:
        other.execute("CREATE TABLE results (x TEXT)")
        other.execute("INSERT INTO results VALUES ('theirs')")
    before = digest(db)
    with pytest.raises(HistoryError, match="belongs to another program") as err:
        history_store.append(db, [row(26100, 1, "passed")])
    assert "\n" not in str(err.value)
    assert digest(db) == before


def test_corrupt_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    before = digest(db)
    with pytest.raises(HistoryError, match="corrupt"):
        history_store.append(db, [row(26100, 1, "passed")])
    with pytest.raises(HistoryError):
        history_store.read(db)
    assert digest(db) == before
    text = tmp_path / "notes.sqlite"
    text.write_text("just some text, not a database at all" * 50)
    with pytest.raises(HistoryError, match="corrupt or not an SQLite database"):
        history_store.check(text)


def test_pass_fail_pass_is_flaky_and_first_failing_build_is_found() -> None:
    rows = [row(26100, 1000, "passed"), row(26100, 2000, "failed")]
    (h,) = histories(rows)
    assert h.first_failing_build == "26100.2000" and not h.flaky
    rows.append(row(26100, 3000, "passed"))
    (h,) = histories(rows)
    assert h.first_failing_build is None and h.flaky
    assert [r.outcome for r in h.results] == ["passed", "failed", "passed"]
    # failing over two builds: the first of the current failure run is named
    (h,) = histories([row(1, 1, "failed"), row(1, 2, "passed"), row(1, 3, "failed"), row(1, 4, "failed")])
    assert h.first_failing_build == "1.3" and h.flaky


def test_newly_failing_needs_the_same_host_passing_on_the_previous_build() -> None:
    previous = [row(26100, 1000, "passed"), row(26100, 1000, "failed", host="other")]
    current = [row(26100, 2000, "failed"), row(26100, 2000, "failed", host="other")]
    (item,) = newly_failing(previous, current)
    assert (item.host, item.key, item.build, item.passed_on) == ("h", "nested.boot", "26100.2000", "26100.1000")
    assert newly_failing([row(26100, 1000, "failed")], [row(26100, 2000, "failed")]) == []
    assert newly_failing([], [row(26100, 2000, "failed")]) == []


def test_history_html_matrix() -> None:
    rows = [row(26100, 1000, "passed"), row(26100, 2000, "failed"), row(26100, 3000, "passed"),
            row(26100, 1000, "passed", test="t2", req="host.build"), row(26100, 3000, "failed", test="t2", req="host.build")]
    html = render_history_html(rows)
    assert '<td class="failed" data-build="26100.2000">failed</td>' in html
    assert '<td class="none" data-build="26100.2000">-</td>' in html  # host.build did not run there
    assert "<span class=flaky>flaky</span>" in html
    assert '<td class="first-failing">26100.3000</td>' in html  # host.build fails since 3000


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "reports" / "history.sqlite"
    assert history_main(["--db", str(db)]) == 2
    assert "no history database" in capsys.readouterr().err
    history_store.append(db, [row(26100, 1, "passed"), row(26100, 2, "failed")])
    assert history_main(["--db", str(db)]) == 0
    out = db.with_name("history.html")
    assert "26100.2" in out.read_text()
    other = tmp_path / "x.html"
    assert history_main(["--db", str(db), "--out", str(other)]) == 0 and other.exists()
    with sqlite3.connect(tmp_path / "foreign.sqlite") as f:
        f.execute("CREATE TABLE t (x)")
    assert history_main(["--db", str(tmp_path / "foreign.sqlite")]) == 2
    assert "another program" in capsys.readouterr().err
