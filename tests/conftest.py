"""Settings shared by the plugin's own tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, minus the xdist worker identity these tests run under (`-n auto` in CI).

    A pytest run started by a test must not believe it is an xdist worker: our plugin and others
    (pytest-benchmark warns on stderr) read PYTEST_XDIST_WORKER from the environment.
    """
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    return pytester
