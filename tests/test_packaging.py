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


def test_the_shipped_suite_runs_from_any_folder(pytester: pytest.Pytester) -> None:
    # an empty folder: what a user who ran `pip install pytest-nestedhv` has
    result = pytester.runpytest_subprocess("--pyargs", "pytest_nestedhv.suites", "--nested-host=sim",
                                           "-p", "no:cacheprovider", "-q", timeout=300)
    result.assert_outcomes(passed=22)
    assert (pytester.path / "reports" / "report.html").is_file()
