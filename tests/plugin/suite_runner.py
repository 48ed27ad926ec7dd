"""Run the shipped validation suite with pytester and read the outcome per requirement id from JUnit XML."""
from __future__ import annotations

import dataclasses
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

SUITES = Path(__file__).resolve().parents[2] / "suites"


@dataclasses.dataclass(frozen=True)
class Case:
    requirement: str
    outcome: str  # passed, failed, skipped, error
    message: str
    properties: dict[str, str]


@dataclasses.dataclass
class SuiteRun:
    ret: int
    stdout: str
    stderr: str
    cases: dict[str, Case]  # requirement id -> case (one host per run)

    def outcome(self, rid: str) -> str:
        return self.cases[rid].outcome

    def failed(self) -> set[str]:
        return {rid for rid, c in self.cases.items() if c.outcome in ("failed", "error")}

    def skipped(self) -> set[str]:
        return {rid for rid, c in self.cases.items() if c.outcome == "skipped"}


def run_suite(pytester: Any, *args: str, env: dict[str, str] | None = None, subprocess: bool = True) -> SuiteRun:
    # a subprocess by default: the emulator's TLS stack (cryptography) does not survive pytester's
    # in-process module snapshot/restore between runs
    dest = pytester.path / "suites"
    if not dest.exists():
        shutil.copytree(SUITES, dest, ignore=shutil.ignore_patterns("__pycache__"))
    junit = pytester.path / "junit.xml"
    argv = ["suites", f"--junitxml={junit}", "-p", "no:cacheprovider", "-o", "junit_family=xunit1", *args]
    for key, value in (env or {}).items():
        pytester._monkeypatch.setenv(key, value)
    result = pytester.runpytest_subprocess(*argv) if subprocess else pytester.runpytest(*argv)
    cases: dict[str, Case] = {}
    if junit.exists():
        for tc in ET.parse(junit).getroot().iter("testcase"):
            props = {p.get("name", ""): p.get("value", "") for p in tc.iter("property")}
            rid = props.get("requirement")
            if not rid:
                continue
            outcome, message = "passed", ""
            for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
                node = tc.find(tag)
                if node is not None:
                    message = node.get("message", "") or ""
                    if not message or "[truncated" in message:  # pytest shortens the attribute; the text is whole
                        message = node.text or message
                    outcome = name
                    break
            cases[rid] = Case(rid, outcome, message, props)
    return SuiteRun(result.ret, "\n".join(result.outlines), "\n".join(result.errlines), cases)


GUEST_PASSWORD = "Local-Guest-Passw0rd!"  # for scenarios whose guest has none: a user always gives one


def local_target(scenario: str, workdir: Path, *, state: Path | None = None,
                 shell: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Options and environment that run the suite over ``--nested-host=local`` against the emulator
    serving ``scenario`` on stdio (``sim serve --stdio``), given what a real user gives: the images
    and the guest account (from the scenario, as the sim target takes them)."""
    import shlex
    import sys

    from pytest_nestedhv.sim.scenario import load_scenario

    loaded = load_scenario(scenario)
    if not loaded.guest.admin_password:
        path = Path(scenario) if scenario.endswith(".toml") else SUITES.parent / "pytest_nestedhv" / "sim" / "scenarios" / f"{scenario}.toml"
        text = path.read_text(encoding="utf-8")
        line = f'admin_password = "{GUEST_PASSWORD}"\n'
        text = text.replace("[guest]\n", "[guest]\n" + line) if "[guest]\n" in text else text + "\n[guest]\n" + line
        scenario = str(workdir / f"{path.stem}-with-password.toml")
        Path(scenario).write_text(text, encoding="utf-8")
        loaded = load_scenario(scenario)
    command = shell or [sys.executable, "-m", "pytest_nestedhv.sim", "serve", "--stdio", "--scenario", scenario]
    if state is not None:
        command = [*command, "--state", str(state)]
    args = ["--nested-host=local", f"--nested-base-image={loaded.host.base_images[0]}",
            f"--nested-guest-user={loaded.guest.admin_user}"]
    if loaded.guest.base_images:
        args.append(f"--nested-inner-image={loaded.guest.base_images[0]}")
    env = {"NESTED_LOCAL_SHELL": shlex.join(command), "NESTED_GUEST_PASSWORD": loaded.guest.admin_password}
    return args, env


def host_run(pytester: Any, via: str, scenario: str, *args: str) -> SuiteRun:
    """The suite against ``scenario`` over ``via``: "sim" (WinRM to the in-process emulator) or "local" (stdio)."""
    if via == "sim":
        return run_suite(pytester, f"--nested-host=sim:{scenario}", *args)
    local_args, env = local_target(scenario, pytester.path)
    return run_suite(pytester, *local_args, *args, env=env)
