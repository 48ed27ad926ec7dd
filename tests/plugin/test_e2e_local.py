"""--nested-host=local end to end: pytester -> plugin -> psrpcore over a child's stdio -> the
emulator as ``powershell.exe -s`` (``sim serve --stdio``): the whole suite, a prompt that is not
elevated, a PowerShell that dies mid-run, bad input, and no secret and no VM left behind."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_nestedhv.exitcodes import NestedExit
from pytest_nestedhv.hyperv.requirements import IDS
from pytest_nestedhv.sim.scenario import load_scenario

from .suite_runner import SUITES, local_target, run_suite

STAND_IN = str(Path(__file__).with_name("stdio_servers.py"))
ONE_LINE_EXIT = NestedExit.HOST_UNREACHABLE  # the session stopped before (or instead of) the tests


def _vms(state: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pytest_nestedhv.sim", "state", "--state", str(state)],
                         capture_output=True, text=True, check=True).stdout
    return [vm["name"] for vm in json.loads(out)["host"]["vms"]]


def _no_secret_anywhere(pytester: pytest.Pytester, output: str, secret: str) -> None:
    assert secret not in output
    for path in pytester.path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for text in (data.decode("utf-8", "replace"), data.decode("utf-16-le", "replace")):
                assert secret not in text, path


def test_the_whole_suite_passes_over_local(pytester: pytest.Pytester) -> None:
    state = pytester.path / "host.json"
    args, env = local_target("default", pytester.path, state=state)
    run = run_suite(pytester, *args, env=env)
    assert run.ret == 0, run.stdout[-3000:]
    assert set(run.cases) == set(IDS) and len(IDS) == 22
    assert {rid for rid, c in run.cases.items() if c.outcome != "passed"} == set()
    assert "local: this machine (PowerShell over stdio), build 26100.1742" in run.stdout
    assert _vms(state) == []  # everything the run created is gone
    _no_secret_anywhere(pytester, run.stdout + run.stderr, env["NESTED_GUEST_PASSWORD"])


def test_a_prompt_that_is_not_elevated_stops_the_run_with_one_line(pytester: pytest.Pytester) -> None:
    scenario = pytester.path / "not-elevated.toml"
    scenario.write_text((SUITES.parent / "pytest_nestedhv" / "sim" / "scenarios" / "default.toml")
                        .read_text(encoding="utf-8").replace("[host]\n", "[host]\nelevated = false\n"), encoding="utf-8")
    state = pytester.path / "host.json"
    args, env = local_target(str(scenario), pytester.path, state=state)
    run = run_suite(pytester, *args, env=env)
    assert run.ret == ONE_LINE_EXIT and not run.cases
    lines = [line for line in (run.stdout + "\n" + run.stderr).splitlines() if line.strip()]
    assert lines == ['Exit: local: Hyper-V refused access (this prompt is not elevated): run from an elevated '
                     'prompt (Run as administrator), or join the "Hyper-V Administrators" group and sign in again']
    assert _vms(state) == []  # nothing touched


def test_a_powershell_that_dies_mid_run_ends_it_with_one_line_and_is_cleaned_up(pytester: pytest.Pytester) -> None:
    state = pytester.path / "host.json"
    log = pytester.path.parent / f"{pytester.path.name}-starts.txt"
    shell = [sys.executable, STAND_IN, "die-after", "40", "--scenario", "default"]
    args, env = local_target("default", pytester.path, state=state, shell=shell)
    run = run_suite(pytester, *args, env={**env, "STAND_IN_LOG": str(log)})
    died = [c for c in run.cases.values() if c.outcome == "failed"]
    assert len(died) == 1, run.stdout[-3000:]
    message = died[0].message
    assert message.startswith("local: the local PowerShell (") and "exited with code 3" in message
    assert "the run stops here" in message and "Traceback" not in run.stdout
    assert len(run.cases) < len(IDS)  # the run ended there
    assert f"Interrupted: {message}" in run.stdout
    assert run.ret == NestedExit.HOST_LOST  # README: Exit codes
    assert (pytester.path / "reports" / "report.html").is_file()  # reports written
    # the cleanup started a new PowerShell (beside those the lab's background branches opened),
    # which removed what the run had created
    starts = log.read_text(encoding="utf-8").splitlines()
    assert set(starts) == {"start"} and len(starts) >= 2, starts
    log.unlink()
    assert _vms(state) == []


@pytest.mark.parametrize(("shell", "expected"), [
    ("nestedhv-no-such-powershell.exe -s", "local: cannot start 'nestedhv-no-such-powershell.exe': "),
    ('pwsh -NoLogo "-s', "ERROR: nested_local_shell / NESTED_LOCAL_SHELL 'pwsh -NoLogo \"-s': No closing quotation;"),
])
def test_a_bad_local_shell_is_one_line(pytester: pytest.Pytester, shell: str, expected: str) -> None:
    args, env = local_target("default", pytester.path)
    run = run_suite(pytester, *args, env={**env, "NESTED_LOCAL_SHELL": shell})
    assert run.ret in (ONE_LINE_EXIT, pytest.ExitCode.USAGE_ERROR) and not run.cases
    lines = [line for line in (run.stdout + "\n" + run.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], lines


def test_local_needs_no_host_account_but_the_guest_one(pytester: pytest.Pytester) -> None:
    args, env = local_target("default", pytester.path)
    run = run_suite(pytester, *args, env={**env, "NESTED_GUEST_PASSWORD": ""})
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "NESTED_GUEST_PASSWORD is not set" in run.stderr and "NESTED_HOST_PASSWORD" not in run.stderr
    assert load_scenario("default").guest.admin_user in run.stderr


def test_a_host_account_hyperv_refuses_stops_a_winrm_run_the_same_way(pytester: pytest.Pytester) -> None:
    scenario = pytester.path / "not-admin.toml"
    scenario.write_text("[host]\nelevated = false\n", encoding="utf-8")
    run = run_suite(pytester, f"--nested-host=sim:{scenario}")
    assert run.ret == ONE_LINE_EXIT and not run.cases
    lines = [line for line in (run.stdout + "\n" + run.stderr).splitlines() if line.strip()]
    assert lines == ['Exit: sim-not-admin: Hyper-V refused access (the account is not an administrator): run from '
                     'an elevated prompt (Run as administrator), or join the "Hyper-V Administrators" group and '
                     'sign in again']
