"""The standalone server: python -m pytest_nestedhv.sim serve / state."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from pytest_nestedhv.sim.scenario import SHIPPED_SCENARIOS

PASSWORD = secrets.token_urlsafe(16)


def _run(*args: str, password: str | None = PASSWORD, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NESTED_HOST_PASSWORD"}
    if password is not None:
        env["NESTED_HOST_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "pytest_nestedhv.sim", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


class Served:
    def __init__(self, process: subprocess.Popen[str], line: str) -> None:
        self.process = process
        self.line = line
        self.url = line.split()[0]
        self.port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
        self.ca = line.split("ca=", 1)[1] if "ca=" in line else None

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)


@pytest.fixture
def serve() -> Iterator:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> Served:
        env = dict(os.environ, NESTED_HOST_PASSWORD=PASSWORD)
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest_nestedhv.sim", "serve", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line, process.stderr.read() if process.stderr else "no output"
        return Served(process, line)

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _invoke(served: Served, auth: str, *commands: tuple[str, dict[str, object]]) -> list[PowerShell]:
    wsman = WSMan(
        "127.0.0.1",
        port=served.port,
        username="Administrator",
        password=PASSWORD,
        ssl=served.ca is not None,
        auth=auth,
        encryption="never" if auth == "basic" and served.ca is None else "auto",
        cert_validation=served.ca or False,
    )
    shells = []
    with RunspacePool(wsman) as pool:
        for name, params in commands:
            ps = PowerShell(pool)
            ps.add_cmdlet(name)
            for key, value in params.items():
                ps.add_parameter(key, value)
            ps.invoke()
            shells.append(ps)
    return shells


def test_serve_https_ntlm_prints_one_line_and_stops_cleanly(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    served = serve("--scenario", "default", "--state", str(tmp_path / "host.json"))
    assert served.url.startswith("https://127.0.0.1:") and served.url.endswith("/wsman")
    assert served.ca is not None and Path(served.ca).is_file()

    (ps,) = _invoke(served, "ntlm", ("Get-VMHost", {}))
    assert not ps.had_errors and ps.output[0].types[0] == "Microsoft.HyperV.PowerShell.VMHost"

    assert served.terminate() == 0
    assert served.process.stdout is not None and served.process.stdout.read() == ""  # exactly one line
    assert PASSWORD not in (served.process.stderr.read() if served.process.stderr else "")


def test_state_survives_a_restart(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "host.json"
    first = serve("--scenario", "default", "--state", str(state), "--http", "--auth", "basic")
    (created,) = _invoke(first, "basic", ("New-VM", {"Name": "outlives-run", "Generation": 2, "NoVHD": True}))
    assert not created.had_errors and not created.streams.error
    assert "outlives-run" in state.read_text()  # saved on change, before any shutdown
    assert first.terminate() == 0

    second = serve("--scenario", "default", "--state", str(state), "--http", "--auth", "basic")
    (listed,) = _invoke(second, "basic", ("Get-VM", {"Name": "outlives-run"}))
    names = [{**vm.adapted_properties, **vm.extended_properties}["Name"] for vm in listed.output]
    assert names == ["outlives-run"]
    assert second.terminate() == 0

    shown = _run("state", "--state", str(state))
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["scenario"] == "default"
    assert PASSWORD not in shown.stdout


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_missing_password_is_one_line(tmp_path: Path) -> None:
    line = _one_line_error(_run("serve", "--scenario", "default", "--state", str(tmp_path / "s.json"), password=None))
    assert "NESTED_HOST_PASSWORD" in line


def test_unknown_scenario_lists_the_shipped_ones(tmp_path: Path) -> None:
    line = _one_line_error(_run("serve", "--scenario", "no-such-host", "--state", str(tmp_path / "s.json")))
    assert "no-such-host" in line
    assert all(name in line for name in SHIPPED_SCENARIOS)


def test_invalid_scenario_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[host]\ncpu = 'Cyrix'\n")
    line = _one_line_error(_run("serve", "--scenario", str(bad), "--state", str(tmp_path / "s.json")))
    assert "bad.toml" in line and "cpu" in line


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        state = str(tmp_path / "s.json")
        line = _one_line_error(_run("serve", "--scenario", "default", "--state", state, "--port", str(port)))
    assert str(port) in line and "in use" in line


def test_state_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    line = _one_line_error(_run("state", "--state", str(tmp_path / "none.json")))
    assert "none.json" in line
