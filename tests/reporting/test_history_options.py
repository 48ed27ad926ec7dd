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
