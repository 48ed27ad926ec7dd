"""What an installed copy holds and runs: every package listed, and the shipped suite by default."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package_and_ships_the_suite() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    on_disk = set(setuptools.find_namespace_packages(where=str(ROOT), include=["pytest_nestedhv*"]))
    assert set(config["packages"]) == on_disk | {"pytest_nestedhv.suites"}
    assert config["package-dir"] == {"pytest_nestedhv.suites": "suites"}


def test_nested_host_without_test_paths_runs_the_shipped_suite(pytester: pytest.Pytester) -> None:
    # an empty folder with no testpaths: what a user who ran `pip install pytest-nestedhv` has
    result = pytester.runpytest_subprocess("--nested-host=sim", "-p", "no:cacheprovider", "-q", timeout=300)
    result.assert_outcomes(passed=22)
    assert (pytester.path / "reports" / "report.html").is_file()


def test_named_test_paths_are_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mine="def test_mine():\n    pass\n")
    result = pytester.runpytest_subprocess("--nested-host=sim", "-p", "no:cacheprovider", "-q", "test_mine.py")
    result.assert_outcomes(passed=1)
