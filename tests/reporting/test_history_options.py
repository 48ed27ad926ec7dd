"""--nested-history and --nested-slowdown-factor: CLI > env > ini > default; bad values in one line."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from reporting_runs import run_suite

from pytest_nestedhv.config import resolve_settings


def settings(cli: dict[str, object] | None = None, env: dict[str, str] | None = None,
             ini: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    return resolve_settings({"nested_host": ["sim"], **(cli or {})}, env or {}, ini or {})


def test_history_path_and_factor_resolve_cli_then_env_then_ini() -> None:
    assert settings().history is None and settings().slowdown_factor == 1.5
    assert settings(ini={"nested_history": "ini.sqlite"}).history == Path("ini.sqlite")
    assert settings(env={"NESTED_HISTORY": "env.sqlite"}, ini={"nested_history": "ini.sqlite"}).history == \
        Path("env.sqlite")
    assert settings({"nested_history": "cli.sqlite"}, {"NESTED_HISTORY": "env.sqlite"}).history == Path("cli.sqlite")
    assert settings(ini={"nested_slowdown_factor": "2"}).slowdown_factor == 2.0
    assert settings({"nested_slowdown_factor": "1.2"}, {"NESTED_SLOWDOWN_FACTOR": "3"}).slowdown_factor == 1.2
    assert settings(env={"NESTED_SLOWDOWN_FACTOR": "3"}, ini={"nested_slowdown_factor": "2"}).slowdown_factor == 3.0


@pytest.mark.parametrize("bad", ["fast", "1", "0.9", "-2", "inf", "nan"])
def test_a_bad_slowdown_factor_is_one_line(bad: str) -> None:
    with pytest.raises(pytest.UsageError) as err:
        settings({"nested_slowdown_factor": bad})
    text = str(err.value)
    assert text.startswith(f"--nested-slowdown-factor {bad!r}: give a number greater than 1") and "\n" not in text


def test_a_foreign_history_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    foreign = tmp_path / "theirs.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE results (x TEXT)")
    run = run_suite(tmp_path / "work", "--nested-host=sim", f"--nested-history={foreign}",
                    select="suites/test_host.py")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.output[-2000:]
    assert f"ERROR: --nested-history: history database {foreign} belongs to another program" in run.output
    assert "Traceback" not in run.output
    folder = tmp_path / "file-in-the-way"
    folder.write_text("")
    run = run_suite(tmp_path / "work", "--nested-host=sim", f"--nested-history={folder / 'h.sqlite'}",
                    select="suites/test_host.py")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.output[-2000:]
    assert f"--nested-history {folder / 'h.sqlite'}: cannot create its folder" in run.output


def test_a_v01_history_keeps_working_and_says_once_that_it_was_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "state" / "history.sqlite"
    db.parent.mkdir()
    with sqlite3.connect(db) as old:  # what pytest-nestedhv 0.1 wrote
        old.executescript(
            "CREATE TABLE results (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, host TEXT NOT NULL, build INTEGER,"
            " ubr INTEGER, test_id TEXT NOT NULL, requirement TEXT, outcome TEXT NOT NULL, duration REAL NOT NULL,"
            " time TEXT NOT NULL); PRAGMA application_id = 1313363505; PRAGMA user_version = 1;")
        old.execute("INSERT INTO results (run_id, host, build, ubr, test_id, requirement, outcome, duration, time)"
                    " VALUES ('old', 'sim', 26100, 1000, 't', 'host.build', 'failed', 1.0, '2026-01-01T00:00:00+00:00')")
    first = run_suite(tmp_path / "work", "--nested-host=sim", f"--nested-history={db}", select="suites/test_host.py")
    assert first.returncode == 0, first.output[-2000:]
    notes = [line for line in first.output.splitlines() if "upgraded from schema 1" in line]
    assert len(notes) == 1 and str(db) in notes[0]
    second = run_suite(tmp_path / "work", "--nested-host=sim", f"--nested-history={db}", select="suites/test_host.py")
    assert second.returncode == 0 and "upgraded" not in second.output
    with sqlite3.connect(db) as upgraded:
        runs = [r[0] for r in upgraded.execute("SELECT run_id FROM runs ORDER BY id")]
    assert runs[0] == "old" and len(runs) == 3
    history = (tmp_path / "work" / "reports" / "history.html").read_text()
    assert "broke in 26100.1000, fixed in 26100.1742" in history  # the old run still counts
