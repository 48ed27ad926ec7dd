"""The repository's own pytest settings: only what runs from this checkout need.

Kept small on purpose. The validation suite also runs from an installed copy
(`pytest --pyargs pytest_nestedhv.suites`), where this file does not exist, so nothing here may
add a fixture, option or marker a suite test relies on (pyproject's addopts say the same for
`-p pytester`). The plugin's own behaviour belongs to the plugin; the rules' documentation is
checked by tests/test_docs.py.

What is here: a run started in this checkout (`pytest tests`, `pytest --nested-host=sim`) must
exercise this checkout's code. With another copy of pytest_nestedhv installed in the same
environment (a stale `pip install .`, a venv made for another worktree), pytest loads that
copy's plugin and the run would pass or fail for code that is not the code in front of you.
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    import pytest_nestedhv

    imported = Path(pytest_nestedhv.__file__).resolve().parent
    if not imported.is_relative_to(ROOT):
        raise pytest.UsageError(
            f"pytest_nestedhv is imported from {imported}, not from this checkout ({ROOT}): "
            f'run `pip install -e ".[test]"` in {ROOT} (or use the environment made for it)')
