"""The suite against a STANDALONE emulated host (``python -m pytest_nestedhv.sim serve --state FILE``),
reached like a real host: URL, CA bundle, user and password from the environment, guest account;
and the same host as this machine (``--nested-host=local``: each run starts ``sim serve --stdio``
on the same state file, as ``powershell.exe -s`` on the PC under test).

The state file is the host's memory that outlives each run, so it shows what a run left behind:
nothing after a success, a failure or Ctrl-C; a killed run's leftovers are swept by the next run,
while VMs the run does not own (untagged, or kept on purpose) are never touched. Passwords (host
and guest) appear in no output and no file the run wrote.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_nestedhv.hyperv.requirements import IDS

from .suite_runner import SUITES

HOST_USER = "labadmin"
GUEST_USER = "Administrator"
BASE_IMAGE = "C:\\Images\\ws2025.vhdx"
RUN_TIMEOUT_S = 240.0
INSTALL_START = "lab step hyperv-installed: start"
INSTALL_CALLED = "installing Hyper-V in"


@dataclasses.dataclass(frozen=True)
class Passwords:
    host: str
    guest: str

    def found_in(self, text: str) -> list[str]:
        return [name for name, value in (("host", self.host), ("guest", self.guest)) if value in text]


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(host="H0st-" + secrets.token_urlsafe(12), guest="Gu3st-" + secrets.token_urlsafe(12))


# ---------------------------------------------------------------- the standalone host


@dataclasses.dataclass
class Host:
    process: subprocess.Popen[str] | None  # None for a local host: each run starts its own PowerShell
    port: int
    ca: str
    state: Path
    scenario: Path
    kind: str = "winrm"  # or "local"

    def target_args(self) -> tuple[list[str], dict[str, str]]:
        """How a run reaches this host: options and environment."""
        if self.kind == "local":
            shell = [sys.executable, "-m", "pytest_nestedhv.sim", "serve", "--stdio", "--scenario", str(self.scenario),
                     "--state", str(self.state)]
            return ["--nested-host=local"], {"NESTED_LOCAL_SHELL": shlex.join(shell)}
        return [f"--nested-host=https://127.0.0.1:{self.port}", f"--nested-cert-validation={self.ca}",
                "--nested-auth=ntlm"], {}

    def model(self) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "pytest_nestedhv.sim", "state", "--state", str(self.state)],
                             capture_output=True, text=True, timeout=60, check=True)
        return json.loads(out.stdout)

    def vms(self) -> dict[str, dict[str, Any]]:
        return {vm["name"]: vm for vm in self.model()["host"]["vms"]}

    def files(self) -> list[str]:
        return [f["path"] for f in self.model()["host"]["files"]]


def scenario_text(guest_password: str, *, install_seconds: float = 180.0, extra: str = "") -> str:
    # Pre-existing VMs the run must never touch: a user's VM, one named like ours but untagged,
    # and one an earlier run kept on purpose (--nested-keep).
    return f"""
description = "standalone e2e host"
[host]
base_images = ['{BASE_IMAGE}']
[guest]
admin_user = "{GUEST_USER}"
admin_password = "{guest_password}"
hyperv_install_seconds = {install_seconds}
{extra}
[[vm]]
name = "user-vm"
state = "Running"
base_image = '{BASE_IMAGE}'
notes = "production web server"
[[vm]]
name = "nestedhv-lookalike"
notes = "named like ours, but no run tag"
[[vm]]
name = "nestedhv-old-l1"
notes = "nestedhv-run:0ld0ld nestedhv-kept"
[faults]
time_scale = 100
"""


UNTOUCHABLE = {"user-vm", "nestedhv-lookalike", "nestedhv-old-l1"}


@pytest.fixture(params=["winrm", "local"])
def standalone(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               passwords: Passwords) -> Iterator[Callable[..., Host]]:
    """Start ``sim serve`` on a scenario file kept outside the run's folder (it holds the guest password);
    for ``local``, only write the scenario: each run starts ``sim serve --stdio`` on its state."""
    started: list[subprocess.Popen[str]] = []

    def start(**scenario: Any) -> Host:
        folder = tmp_path_factory.mktemp("standalone-host")
        path = folder / "host.toml"
        path.write_text(scenario_text(passwords.guest, **scenario), encoding="utf-8")
        state = folder / "state.json"
        if request.param == "local":
            subprocess.run([sys.executable, "-m", "pytest_nestedhv.sim", "serve", "--stdio", "--scenario", str(path),
                            "--state", str(state)], input=b"", check=True, timeout=60)  # the host as it starts
            return Host(None, 0, "", state, path, kind="local")
        env = dict(os.environ, NESTED_HOST_PASSWORD=passwords.host)
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest_nestedhv.sim", "serve", "--scenario", str(path), "--state", str(state),
             "--auth", "negotiate", "--user", HOST_USER],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("https://") and "ca=" in line, process.stderr.read() if process.stderr else line
        url, ca = line.split()[0], line.split("ca=", 1)[1]
        return Host(process, int(url.rsplit(":", 1)[1].split("/", 1)[0]), ca, state, path)

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


# ---------------------------------------------------------------- running the suite as a user would


@dataclasses.dataclass
class Run:
    ret: int
    output: str
    cases: dict[str, str]  # requirement id -> outcome

    def failed(self) -> set[str]:
        return {rid for rid, outcome in self.cases.items() if outcome in ("failed", "error")}


def run_suite(workdir: Path, host: Host, passwords: Passwords, *extra: str,
              on_line: Callable[[str, subprocess.Popen[str]], None] | None = None) -> Run:
    """``pytest suites`` in ``workdir`` against ``host``, output streamed line by line to ``on_line``."""
    if not (workdir / "suites").exists():
        shutil.copytree(SUITES, workdir / "suites", ignore=shutil.ignore_patterns("__pycache__"))
    junit = workdir / "junit.xml"
    junit.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NESTED_")}
    env.update(NESTED_HOST_USER=HOST_USER, NESTED_HOST_PASSWORD=passwords.host,
               NESTED_GUEST_USER=GUEST_USER, NESTED_GUEST_PASSWORD=passwords.guest, PYTHONUNBUFFERED="1")
    target_args, target_env = host.target_args()
    env.update(target_env)
    argv = [sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", f"--junitxml={junit}",
            "-o", "junit_family=xunit1", *target_args, f"--nested-base-image={BASE_IMAGE}",
            f"--nested-inner-image={BASE_IMAGE}", "--log-cli-level=INFO", *extra]
    process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    watchdog = threading.Timer(RUN_TIMEOUT_S, process.kill)  # a hung run fails the test, never the machine
    watchdog.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line, process)
        ret = process.wait(30)
    finally:
        watchdog.cancel()
    cases: dict[str, str] = {}
    if junit.exists():
        for tc in ET.parse(junit).getroot().iter("testcase"):
            props = {p.get("name", ""): p.get("value", "") for p in tc.iter("property")}
            if rid := props.get("requirement"):
                cases[rid] = next((name for tag, name in (("failure", "failed"), ("error", "error"),
                                                           ("skipped", "skipped")) if tc.find(tag) is not None),
                                  "passed")
    return Run(ret, "".join(lines), cases)


def signal_when(*texts: str, signum: int) -> Callable[[str, subprocess.Popen[str]], None]:
    """Send ``signum`` once the output has shown each of ``texts``, in order."""
    pending = list(texts)

    def on_line(line: str, process: subprocess.Popen[str]) -> None:
        if pending and pending[0] in line:
            pending.pop(0)
            if not pending:
                process.send_signal(signum)

    return on_line


def ours(vms: dict[str, dict[str, Any]]) -> set[str]:
    """VMs a run created: tagged nestedhv-run: in their Notes, and not kept on purpose."""
    return {name for name, vm in vms.items() if "nestedhv-run:" in vm["notes"] and "nestedhv-kept" not in vm["notes"]}


def assert_untouched(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> None:
    for name in UNTOUCHABLE:
        for key in ("id", "state", "notes", "expose_virtualization_extensions", "memory_startup", "disks"):
            assert after[name][key] == before[name][key], (name, key)


def assert_no_passwords(passwords: Passwords, run: Run, workdir: Path) -> None:
    assert passwords.found_in(run.output) == []
    written = [p for p in workdir.rglob("*") if p.is_file() and "suites" not in p.relative_to(workdir).parts[:1]]
    assert any(p.suffix == ".html" for p in written) and any(p.name == "junit.xml" for p in written)
    for path in written:
        data = path.read_bytes()
        texts = [data.decode("utf-8", "replace"), data.decode("utf-16-le", "replace")]
        assert not any(passwords.found_in(t) for t in texts), path


# ---------------------------------------------------------------- the tests


CRASHED_LONG_AGO = """
[[vm]]
name = "nestedhv-crashed-l1"
notes = "nestedhv-run:c4a5h3"
"""  # a scenario VM was created 30 days before the host booted: a leftover of a run that died long ago


def test_success_leaves_nothing_and_only_old_leftovers_are_swept(
        pytester: pytest.Pytester, standalone: Callable[..., Host], passwords: Passwords) -> None:
    host = standalone(extra=CRASHED_LONG_AGO)
    before = host.vms()
    assert ours(before) == {"nestedhv-crashed-l1"}

    run = run_suite(pytester.path, host, passwords)
    assert run.ret == 0, run.output[-3000:]
    assert set(run.cases) == set(IDS) and run.failed() == set()
    assert "removing leftover VM of an earlier run: nestedhv-crashed-l1" in run.output  # old: swept
    after = host.vms()
    assert set(after) == UNTOUCHABLE  # the run's L1, L2 host side and probe VM are gone, and the old leftover
    assert_untouched(before, after)
    assert not [f for f in host.files() if "nestedhv-" in f.lower()]  # and their disks
    assert_no_passwords(passwords, run, pytester.path)

    # a run killed outright (no cleanup at all) leaves its tagged L1 behind, and the negative probe's
    # VM when the kill came while the probe still ran beside the install ...
    killed = run_suite(pytester.path, host, passwords, on_line=signal_when(INSTALL_START, signum=signal.SIGKILL))
    assert killed.ret == -signal.SIGKILL
    leftovers = ours(host.vms())
    assert {name.rsplit("-", 1)[-1] for name in leftovers} in ({"l1"}, {"l1", "neg"}), leftovers

    # ... which the next run leaves alone: minutes old, they could be a run still going on this host
    again = run_suite(pytester.path, host, passwords)
    assert again.ret == 0, again.output[-3000:]
    for leftover in leftovers:
        assert f"leaving VM {leftover} (" in again.output
    assert "its run may still be going" in again.output
    final = host.vms()
    assert set(final) == UNTOUCHABLE | leftovers
    assert_untouched(before, final)
    assert_no_passwords(passwords, again, pytester.path)


def test_failing_run_leaves_nothing(pytester: pytest.Pytester, standalone: Callable[..., Host],
                                    passwords: Passwords) -> None:
    host = standalone(extra='hyperv_install = "fail"')
    before = host.vms()
    run = run_suite(pytester.path, host, passwords)
    assert run.ret == 1
    assert run.failed() == {"guest.hyperv-install"}
    after = host.vms()
    assert set(after) == UNTOUCHABLE
    assert_untouched(before, after)
    assert not [f for f in host.files() if "nestedhv-" in f.lower()]
    assert_no_passwords(passwords, run, pytester.path)


def test_interrupted_run_cleans_up(pytester: pytest.Pytester, standalone: Callable[..., Host],
                                   passwords: Passwords) -> None:
    # a long install (30 s real) so that Ctrl-C surely lands while the lab waits for it
    host = standalone(install_seconds=3000.0)
    before = host.vms()
    # Ctrl-C once the install's remote call is under way (the lab logs it as it starts the call)
    run = run_suite(pytester.path, host, passwords,
                    on_line=signal_when(INSTALL_START, INSTALL_CALLED, signum=signal.SIGINT))
    assert INSTALL_START in run.output
    assert run.ret == pytest.ExitCode.INTERRUPTED, run.output[-3000:]
    assert "KeyboardInterrupt" in run.output
    assert re.search(r"removed VM nestedhv-\w+-l1 and its disks", run.output)  # cleanup ran after Ctrl-C
    assert "hyperv-installed: done" not in run.output
    after = host.vms()
    assert set(after) == UNTOUCHABLE, run.output[-3000:]
    assert_untouched(before, after)
    assert not [f for f in host.files() if "nestedhv-" in f.lower()]
    assert_no_passwords(passwords, run, pytester.path)
