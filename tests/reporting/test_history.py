"""The history database (ours only, every run kept, schema 1 upgraded) and what it says: regression
windows, same-build flakes, numeric build order, links and dates, as JSON and HTML."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from history_feed import nightly_runs, run_record

from pytest_nestedhv.history.__main__ import main as history_main
from pytest_nestedhv.remote.secrets import SecretMask
from pytest_nestedhv.reporting import history_store
from pytest_nestedhv.reporting.history_html import render_history_html
from pytest_nestedhv.reporting.history_store import HistoryError, HistoryRow, RunEntry, RunRow
from pytest_nestedhv.reporting.history_view import histories, history_json, newly_failing
from pytest_nestedhv.reporting.writer import run_entries, write_reports

V01_SCHEMA = """
CREATE TABLE results (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, host TEXT NOT NULL, build INTEGER, ubr INTEGER,
    test_id TEXT NOT NULL, requirement TEXT, outcome TEXT NOT NULL, duration REAL NOT NULL, time TEXT NOT NULL);
CREATE INDEX results_host_test ON results (host, test_id);
PRAGMA application_id = 1313363505;
PRAGMA user_version = 1;
"""


def row(build: int, ubr: int, outcome: str, *, req: str | None = "nested.boot", host: str = "h",
        run: str | None = None) -> HistoryRow:
    return HistoryRow(run or f"r{ubr}", host, build, ubr, f"suites/test_nested.py::test_boot[{host}]", req, outcome,
                      1.0, f"2026-01-01T00:00:{ubr % 60:02d}+00:00")


def entry(*rows: HistoryRow) -> RunEntry:
    first = rows[0]
    return RunEntry(RunRow(first.run_id, first.host, first.build, first.ubr, first.time), tuple(rows))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def fed(tmp_path: Path) -> Path:
    """The nightly story fed through the writer, one report folder per run, one history outside them."""
    db = tmp_path / "state" / "history.sqlite"
    for run in nightly_runs():
        write_reports(run, tmp_path / "runs" / run.run_id, SecretMask(), history=db,
                      report=tmp_path / "runs" / run.run_id / "report.html")
    return db


# ---------------------------------------------------------------- the store


def test_every_run_is_kept_and_the_same_run_twice_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    assert history_store.read(db).runs == ()
    first = history_store.append(db, [entry(row(26100, 1, "passed", run="a")), entry(row(26100, 1, "failed", run="b"))])
    assert (first.runs, first.rows, first.skipped, first.note) == (2, 2, 0, None)
    again = history_store.append(db, [entry(row(26100, 1, "failed", run="b"))])
    assert (again.runs, again.rows, again.skipped) == (0, 0, 1)
    history = history_store.read(db)
    assert [(r.run_id, r.outcome) for r in history.results] == [("a", "passed"), ("b", "failed")]
    assert [r.run_id for r in history.runs] == ["a", "b"]


def test_foreign_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    with sqlite3.connect(db) as other:
        other.execute("CREATE TABLE results (x TEXT)")
        other.execute("INSERT INTO results VALUES ('theirs')")
    before = digest(db)
    with pytest.raises(HistoryError, match="belongs to another program") as err:
        history_store.append(db, [entry(row(26100, 1, "passed"))])
    assert "\n" not in str(err.value) and "--nested-history" in str(err.value)
    assert digest(db) == before


def test_corrupt_or_newer_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    before = digest(db)
    with pytest.raises(HistoryError, match="corrupt"):
        history_store.append(db, [entry(row(26100, 1, "passed"))])
    with pytest.raises(HistoryError):
        history_store.read(db)
    assert digest(db) == before
    text = tmp_path / "notes.sqlite"
    text.write_text("just some text, not a database at all" * 50)
    with pytest.raises(HistoryError, match="corrupt or not an SQLite database"):
        history_store.check(text)
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as db3:
        db3.executescript(V01_SCHEMA.replace("user_version = 1", "user_version = 9"))
    with pytest.raises(HistoryError, match="schema version 9, newer"):
        history_store.read(newer)


def test_a_v01_history_is_read_as_it_is_and_upgraded_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    with sqlite3.connect(db) as old:
        old.executescript(V01_SCHEMA)
        old.executemany("INSERT INTO results (run_id, host, build, ubr, test_id, requirement, outcome, duration, time)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [("r1", "h", 26100, 1, "t", "nested.boot", "passed", 1.0, "2026-01-01T00:00:00+00:00"),
                         ("r2", "h", 26100, 2, "t", "nested.boot", "failed", 1.0, "2026-01-02T00:00:00+00:00")])
    before = digest(db)
    old_history = history_store.read(db)  # reading never writes
    assert digest(db) == before
    assert [(r.run_id, r.build_text, r.started) for r in old_history.runs] == [
        ("r1", "26100.1", "2026-01-01T00:00:00+00:00"), ("r2", "26100.2", "2026-01-02T00:00:00+00:00")]
    done = history_store.append(db, [entry(row(26100, 3, "passed", run="r3", host="h"))])
    assert done.note is not None and "\n" not in done.note and "upgraded from schema 1" in done.note
    assert history_store.check(db) == history_store.SCHEMA_VERSION
    history = history_store.read(db)
    assert [r.run_id for r in history.runs] == ["r1", "r2", "r3"]
    (h,) = histories(history)
    assert [(w.broke, w.fixed) for w in h.regressions] == [("26100.2", "26100.3")]
    assert history_store.append(db, [entry(row(26100, 2, "failed", run="r2"))]).runs == 0  # old runs count too
    assert history_store.append(db, [entry(row(26100, 4, "passed", run="r4"))]).note is None  # said once


# ---------------------------------------------------------------- verdicts


def test_regression_windows_and_same_build_flakes_are_told_apart(fed: Path) -> None:
    data = history_json(history_store.read(fed))
    host = data["hosts"]["hv01"]
    boot = host["requirements"]["nested.boot"]
    assert list(boot["outcomes"]) == ["26100.999", "26100.1000", "26100.2000", "26100.3000", "26100.4000",
                                      "26100.5000"]  # numeric, not text, order
    assert [o["outcome"] for o in boot["outcomes"]["26100.2000"]] == ["failed", "failed"]  # both runs kept
    assert [o["run"] for o in boot["outcomes"]["26100.3000"]] == ["n5", "n6"]
    assert boot["regressions"] == [
        {"broke": "26100.2000", "fixed": "26100.4000", "after": "26100.1000"},
        {"broke": "26100.5000", "fixed": None, "after": "26100.4000"},
    ]
    assert boot["flaky_builds"] == ["26100.3000"]  # failed and passed on one build
    assert boot["first_failing_build"] == "26100.5000"
    vbs = host["requirements"]["host.vbs"]
    assert vbs["regressions"] == [] and vbs["flaky_builds"] == ["26100.1000"] and vbs["first_failing_build"] is None
    assert vbs["verdicts"]["26100.1000"] == "flaky" and vbs["verdicts"]["26100.2000"] == "passed"
    assert host["builds"]["26100.5000"]["flight"] == "Dev" and host["builds"]["26100.5000"]["branch"] == "rs_prerelease"


def test_a_requirement_failing_since_the_first_build_is_a_window_with_nothing_before() -> None:
    history = history_store.History(results=(row(1, 1, "failed"), row(1, 2, "skipped"), row(1, 3, "failed")))
    (h,) = histories(history)
    assert [(w.broke, w.fixed, w.after) for w in h.regressions] == [("1.1", None, None)]
    assert h.first_failing_build == "1.1" and h.current == "failed" and not h.flaky


def test_newly_failing_needs_the_same_host_passing_on_the_previous_build() -> None:
    previous = [row(26100, 1000, "passed"), row(26100, 1000, "failed", host="other")]
    current = [row(26100, 2000, "failed"), row(26100, 2000, "failed", host="other")]
    (item,) = newly_failing(previous, current)
    assert (item.host, item.key, item.build, item.passed_on) == ("h", "nested.boot", "26100.2000", "26100.1000")
    assert newly_failing([row(26100, 1000, "failed")], [row(26100, 2000, "failed")]) == []
    assert newly_failing([], [row(26100, 2000, "failed")]) == []
    # a build that flaked is no evidence that it passed
    flaked = [row(26100, 1000, "passed", run="a"), row(26100, 1000, "failed", run="b")]
    assert newly_failing(flaked, [row(26100, 2000, "failed")]) == []


# ---------------------------------------------------------------- history.html


def test_history_html_shows_every_run_with_links_dates_windows_and_flakes(fed: Path, tmp_path: Path) -> None:
    history = history_store.read(fed)
    html = render_history_html(history, base=tmp_path)
    assert html.index('data-build="26100.999"') < html.index('data-build="26100.1000"')
    assert 'data-build="26100.3000" data-verdict="flaky"' in html
    assert 'data-build="26100.2000" data-verdict="failed"' in html
    assert "broke in 26100.2000, fixed in 26100.4000" in html and "broke in 26100.5000, still failing" in html
    assert "2026-11-03 02:00 UTC" in html  # n3's date
    assert "Windows Insider flight: Dev" in html
    # run n5 has its bundle on disk but no report.html (pytest-html wrote none here): only the bundle is linked
    assert 'href="runs/n5/feedback-hv01-26100.3000.zip">bundle</a>' in html
    assert 'href="runs/n5/report.html"' not in html
    (tmp_path / "runs" / "n5" / "report.html").write_text("<html></html>")
    html = render_history_html(history, base=tmp_path)
    assert '<a href="runs/n5/report.html">failed</a>' in html
    assert html.count("<tr><td>hv01</td><td>nested.boot</td><td>26100.3000</td>") == 1  # in the flaky table


def test_history_html_when_empty() -> None:
    assert 'id="empty"' in render_history_html(history_store.History())


# ---------------------------------------------------------------- the CLI


def test_cli_renders_html_and_prints_json(fed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert history_main(["--db", str(tmp_path / "nowhere.sqlite")]) == 2
    assert "no history database" in capsys.readouterr().err
    assert history_main(["--db", str(fed)]) == 0
    assert "26100.5000" in fed.with_name("history.html").read_text()
    other = tmp_path / "x.html"
    assert history_main(["--db", str(fed), "--out", str(other)]) == 0 and other.exists()
    capsys.readouterr()
    assert history_main(["--db", str(fed), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["hosts"]["hv01"]) >= {"requirements", "steps"}
    assert data["hosts"]["hv01"]["requirements"]["nested.boot"]["flaky_builds"] == ["26100.3000"]
    with sqlite3.connect(tmp_path / "foreign.sqlite") as f:
        f.execute("CREATE TABLE t (x)")
    assert history_main(["--db", str(tmp_path / "foreign.sqlite"), "--json"]) == 2
    assert "another program" in capsys.readouterr().err


def test_cli_refuses_a_bad_factor_in_one_line(fed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("fast", "0.5", "1", "inf"):
        with pytest.raises(SystemExit) as exit_info:
            history_main(["--db", str(fed), "--json", "--slowdown-factor", bad])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "--slowdown-factor" in err and "greater than 1" in err


def test_run_entries_carry_build_flight_date_links_and_steps(tmp_path: Path) -> None:
    run = run_record("abc123", 4061, {"nested.boot": "failed"}, failed_step="l2-booted")
    (e,) = run_entries(run, report=tmp_path / "report.html", bundles={"hv01": tmp_path / "b.zip"})
    assert (e.run.build_text, e.run.flight, e.run.branch, e.run.started) == (
        "26100.4061", "Dev", "rs_prerelease", "2026-11-01T02:00:00+00:00")
    assert e.run.report == str((tmp_path / "report.html").resolve())
    assert [(s.step, s.ok) for s in e.steps][-1] == ("l2-booted", False)
    assert [r.outcome for r in e.results] == ["failed"]


def test_a_report_folder_used_again_links_only_its_newest_run(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    reports = tmp_path / "reports"
    for run in nightly_runs()[:3]:  # n1, n2 (build 1000), n3 (2000): one folder for all three
        write_reports(run, reports, SecretMask(), history=db, report=reports / "report.html")
    (reports / "report.html").write_text("<html>n3</html>")
    html = render_history_html(history_store.read(db), base=reports)
    assert html.count('href="report.html"') == 2  # n3's two requirements; n1 and n2 were overwritten
    assert '<span class="run" data-run="n3" title="run n3, started 2026-11-03 02:00 UTC"><a href="report.html">' in html
    n1 = html[html.index('data-run="n1"'):]
    assert n1[:n1.index("</span></span>")].count("href=") == 0
    # the bundle of build 1000 was written by n1 then n2: n2 owns it
    assert html.count('href="feedback-hv01-26100.1000.zip"') == 2
