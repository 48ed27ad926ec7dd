"""The root conftest.py: a run from a checkout must test that checkout's code, never another copy."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_whose_package_is_not_imported_is_refused(pytester: pytest.Pytester) -> None:
    # a second checkout: the repository's conftest.py and a test, while pytest_nestedhv comes from ROOT
    shutil.copy(ROOT / "conftest.py", pytester.path / "conftest.py")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest_nestedhv is imported from {ROOT}*not from this checkout*"])
    assert "Traceback" not in result.stderr.str()


def test_this_checkout_is_the_one_imported() -> None:
    import pytest_nestedhv

    assert Path(pytest_nestedhv.__file__).resolve().is_relative_to(ROOT)
