"""The browser tests skip on a machine without Chromium, saying how to enable them; CI makes that an error."""
from __future__ import annotations

from pathlib import Path

import browser_gate
import pytest
from browser_gate import REQUIRE_ENV, find_chromium

HERE = Path(__file__).parent


@pytest.mark.parametrize(("env", "present", "runs", "required"), [
    ({}, True, True, False),
    ({}, False, False, False),
    ({REQUIRE_ENV: "1"}, False, False, True),
    ({REQUIRE_ENV: "true"}, True, True, True),
    ({REQUIRE_ENV: "0"}, False, False, False),
])
def test_gate(env: dict[str, str], present: bool, runs: bool, required: bool) -> None:
    gate = find_chromium(env, exists=lambda _: present)
    assert (gate.executable is not None) == runs
    assert gate.required == required
    if not runs:
        assert "apt-get install chromium" in gate.reason and REQUIRE_ENV in gate.reason


@pytest.mark.parametrize(("env", "outcome"), [({}, "skipped"), ({REQUIRE_ENV: "1"}, "errors")])
def test_browser_module_without_chromium(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                         env: dict[str, str], outcome: str) -> None:
    # the real test module, on a machine with no chromium on PATH nor at the default path
    monkeypatch.setenv("PATH", str(pytester.path))
    monkeypatch.setattr(browser_gate, "DEFAULT_CHROMIUM", str(pytester.path / "no-chromium"))
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pytester.makepyfile(test_browser_here=(HERE / "test_browser.py").read_text())
    result = pytester.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(**{outcome: 2})
    if outcome == "skipped":
        result.stdout.fnmatch_lines(["*apt-get install chromium*"])
