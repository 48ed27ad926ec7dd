"""The examples pass on the healthy emulated host and fail, with the text their docstrings quote,
on the scenario their docstrings name. Read from the docstrings, so a docstring that drifts from
what happens fails here."""
from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(p.name for p in EXAMPLES.glob("test_*.py"))
_CLAIM = re.compile(r"--nested-host=sim:(?P<scenario>[\w-]+)``[^\"]*\"(?P<message>[^\"]+)\"", re.DOTALL)


def claim(name: str) -> tuple[str, list[str]]:
    """(scenario, fragments of the quoted failure text; '...' stands for any text)."""
    doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text(encoding="utf-8"))) or ""
    match = _CLAIM.search(doc)
    assert match, f"{name}: the docstring names no failing scenario and message"
    message = " ".join(match.group("message").split())
    return match.group("scenario"), [f.strip() for f in message.split("...") if f.strip()]


def _run(pytester: pytest.Pytester, path: str, *args: str) -> tuple[int, str]:
    shutil.copytree(EXAMPLES, pytester.path / "examples", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = pytester.runpytest_subprocess(path, "-p", "no:cacheprovider", *args, timeout=300)
    return result.ret, " ".join("\n".join(result.outlines + result.errlines).split())


def test_there_are_at_least_four_examples_on_the_public_api_only() -> None:
    assert len(FILES) >= 4
    for name in FILES:
        tree = ast.parse((EXAMPLES / name).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert imported <= {"pytest_nestedhv"}, (name, imported)  # nothing private


def test_examples_pass_on_the_healthy_host(pytester: pytest.Pytester) -> None:
    ret, out = _run(pytester, "examples", "--nested-host=sim")
    assert ret == 0 and f"{len(FILES)} passed" in out, out[-2000:]


@pytest.mark.parametrize("name", FILES)
def test_example_fails_as_its_docstring_says(pytester: pytest.Pytester, name: str) -> None:
    scenario, fragments = claim(name)
    ret, out = _run(pytester, f"examples/{name}", f"--nested-host=sim:{scenario}")
    assert ret == pytest.ExitCode.TESTS_FAILED and "1 failed" in out, out[-2000:]
    position = 0
    for fragment in fragments:
        found = out.find(fragment, position)
        assert found >= 0, (fragment, out[-2000:])
        position = found + len(fragment)
