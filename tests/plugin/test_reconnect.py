"""remote/reconnect.py and the "host gone" classification: a host that stops answering is waited for."""
from __future__ import annotations

import dataclasses
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WSManFaultError

from pytest_nestedhv.config import parse_host
from pytest_nestedhv.hyperv import crash
from pytest_nestedhv.remote import Cmd, Secret
from pytest_nestedhv.remote.commands import SWITCH
from pytest_nestedhv.remote.errors import ConnectionFailed, HostGone, HostUnreachable
from pytest_nestedhv.remote.reconnect import WaitPolicy, wait_for_host
from pytest_nestedhv.remote.backends.winrm import ConnectOptions, WinRMConnector, host_gone
from pytest_nestedhv.remote.session import Session
from pytest_nestedhv.sim.model import outage
from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.powershell.engine import Engine
from pytest_nestedhv.sim.scenario import load_scenario
from pytest_nestedhv.sim.server import SimServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _opener(failures: list[Exception], clock: FakeClock, value: str = "session") -> Any:
    calls = {"n": 0}

    def open_session() -> str:
        calls["n"] += 1
        clock.now += 1.0  # an attempt takes a second (connect timeout, refused...)
        if failures:
            raise failures.pop(0)
        return value

    open_session.calls = calls  # type: ignore[attr-defined]
    return open_session


def test_waits_until_the_host_answers_and_says_so() -> None:
    clock = FakeClock()
    lines: list[str] = []
    opener = _opener([HostUnreachable("hostA: 10.0.0.5:5986 refused the connection")] * 3, clock)
    back = wait_for_host(opener, label="hostA", policy=WaitPolicy(timeout_s=600, progress_every_s=0),
                         progress=lines.append, since=clock.now - 5, clock=clock, sleep=clock.sleep)
    assert back.value == "session" and back.attempts == 4
    assert back.waited_s == pytest.approx(5 + 4 + sum(clock.slept))
    assert clock.slept == [0.25, 0.5, 1.0]  # exponential, starting small
    assert len(lines) == 4 and "host not answering for 6 s" in lines[0] and "refused the connection" in lines[0]
    assert "--nested-host-reboot-timeout" in lines[0] and lines[-1].startswith("hostA: host answers again after")


def test_progress_is_throttled() -> None:
    clock = FakeClock()
    lines: list[str] = []
    opener = _opener([HostUnreachable("refused")] * 40, clock)
    wait_for_host(opener, label="h", policy=WaitPolicy(timeout_s=3600, max_wait_s=2, progress_every_s=30),
                  progress=lines.append, clock=clock, sleep=clock.sleep)
    assert 3 <= len(lines) - 1 <= 6  # about 115 s of waiting: a line every 30 s, not one per attempt


def test_gives_up_after_the_timeout_in_one_line() -> None:
    clock = FakeClock()
    opener = _opener([HostUnreachable("hostA: 10.0.0.5:5986 refused the connection")] * 1000, clock)
    with pytest.raises(HostGone) as info:
        wait_for_host(opener, label="hostA", policy=WaitPolicy(timeout_s=120), progress=lambda _l: None,
                      clock=clock, sleep=clock.sleep)
    message = str(info.value)
    assert message.startswith("hostA: the host stopped answering and did not come back within 120 s")
    assert "--nested-host-reboot-timeout" in message and "refused" in message and "\n" not in message
    assert 120 <= clock.now - 100 < 135  # bounded by the timeout, not by the number of attempts


def test_a_failure_waiting_cannot_fix_ends_the_wait_at_once() -> None:
    clock = FakeClock()
    opener = _opener([HostUnreachable("refused"), ConnectionFailed("hostA: wrong credentials for user x")], clock)
    with pytest.raises(ConnectionFailed, match="wrong credentials") as info:
        wait_for_host(opener, label="hostA", progress=lambda _l: None, clock=clock, sleep=clock.sleep)
    assert not isinstance(info.value, HostGone) and opener.calls["n"] == 2


# ---------------------------------------------------------------- against the emulated host


@dataclasses.dataclass
class Sim:
    world: World
    server: SimServer
    session: Session


@pytest.fixture
def restarting_host() -> Iterator[Sim]:
    """The default scenario restarting (unexpectedly) at the first New-VM, back after about half a second."""
    scenario = load_scenario("default")
    scenario = dataclasses.replace(scenario, host=dataclasses.replace(scenario.host, reboot_seconds=50.0),
                                   faults=dataclasses.replace(scenario.faults, host_restart_at="l1-created"))
    world = World.from_scenario(scenario)
    password = secrets.token_urlsafe(12)
    server = SimServer(Engine(world), users={"u": password}, auth="ntlm").start()
    target = parse_host("sim").at("127.0.0.1", server.port)
    options = ConnectOptions(user="u", password=Secret(password), auth="ntlm", cert_validation=str(server.ca_path),
                             no_proxy=True, read_retries=2, retry_wait_max=0.1)
    session = Session(target, WinRMConnector(target, options))
    try:
        session.open()
        yield Sim(world, server, session)
    finally:
        session.close()
        server.stop()


def test_a_host_that_restarts_mid_call_is_unreachable_then_back_and_says_why(restarting_host: Sim) -> None:
    session = restarting_host.session
    boot_before = session.run(Cmd.of("Get-CimInstance", ClassName="Win32_OperatingSystem"))[0].get("LastBootUpTime")
    with pytest.raises(HostUnreachable) as info:
        session.run(Cmd.of("New-VM", Name="l1", Generation=2, NoVHD=SWITCH))
    assert "lost the connection" in str(info.value) or "refused" in str(info.value)
    lines: list[str] = []
    back = wait_for_host(session.reopen, label="sim", policy=WaitPolicy(timeout_s=30), progress=lines.append)
    assert back.waited_s >= 0.2 and restarting_host.server.outages == 1
    record = crash.crash_from(session.run_statements(crash.crash_probe(), check=False), "l1-created",
                              boot_before=str(boot_before), downtime_s=back.waited_s)
    assert record.kind == "unexpected" and {"kernel-power", "unexpected-shutdown"} <= set(record.event_kinds)
    assert record.message().startswith("host restarted unexpectedly during l1-created (the previous shutdown at ")
    assert record.boot_time is not None
    assert session.run(Cmd.of("Get-VM")) == []  # New-VM never ran: the host went down under it


def test_refused_is_host_gone_only_for_a_session_that_reached_the_host(restarting_host: Sim) -> None:
    world, server = restarting_host.world, restarting_host.server
    world.faults.host_reboot_seconds = 10_000.0  # 100 real seconds: it stays away for this test
    with world.lock:
        world.faults.host_restart_at = ""
        outage.crash(world, world.now(), "unexpected")
    deadline = time.monotonic() + 5
    while not server.dark and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(HostUnreachable):
        restarting_host.session.run(Cmd.of("Get-VM"), timeout=5)
    at = parse_host("sim").at("127.0.0.1", server.port)
    fresh = Session(at, WinRMConnector(at, restarting_host.session.connector.options))
    with pytest.raises(ConnectionFailed) as info:
        fresh.open()  # refused too, but this session never reached the host: a setting to fix, not a reboot
    assert not isinstance(info.value, HostUnreachable) and "refused" in str(info.value)


# ---------------------------------------------------------------- --nested-host-reboot-timeout


def _settings(cli: dict[str, Any], env: dict[str, str], ini: dict[str, Any]) -> Any:
    from pytest_nestedhv.config import resolve_settings

    return resolve_settings({"nested_host": ["sim"], **cli}, env, ini, run_id="abc123")


@pytest.mark.parametrize("cli, env, ini, expected", [
    ({}, {}, {}, 1800.0),
    ({}, {}, {"nested_host_reboot_timeout": "600"}, 600.0),
    ({}, {"NESTED_HOST_REBOOT_TIMEOUT": "900"}, {"nested_host_reboot_timeout": "600"}, 900.0),
    ({"nested_host_reboot_timeout": "45.5"}, {"NESTED_HOST_REBOOT_TIMEOUT": "900"}, {}, 45.5),
])
def test_reboot_timeout_cli_env_ini_default(cli: dict[str, Any], env: dict[str, str], ini: dict[str, Any],
                                            expected: float) -> None:
    assert _settings(cli, env, ini).host_reboot_timeout_s == expected


@pytest.mark.parametrize("value", ["0", "-5", "30m", "nan", "inf", "soon"])
def test_bad_reboot_timeout_is_one_line(value: str) -> None:
    with pytest.raises(pytest.UsageError) as info:
        _settings({"nested_host_reboot_timeout": value}, {}, {})
    message = str(info.value)
    assert message.startswith(f"--nested-host-reboot-timeout {value!r}: give the seconds") and "\n" not in message


def test_reboot_timeout_option_reaches_settings(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NESTED_HOST", raising=False)
    monkeypatch.setenv("NESTED_HOST_REBOOT_TIMEOUT", "77")
    pytester.makepyfile("def test_x(nested_settings):\n    assert nested_settings.host_reboot_timeout_s == 77\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--nested-host=sim",
                                          f"--nested-report-dir={pytester.path / 'reports'}")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--nested-host=sim", "--help")
    result.stdout.fnmatch_lines(["*--nested-host-reboot-timeout*"])


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize("exc, gone", [
    (ConnectionRefusedError(111, "Connection refused"), True),
    (ConnectionResetError(104, "Connection reset by peer"), True),
    (TimeoutError("timed out"), True),
    (requests.exceptions.ConnectionError("Max retries exceeded"), True),
    (_chained(requests.exceptions.ConnectionError("x"), ConnectionRefusedError(111, "refused")), True),
    (requests.exceptions.ReadTimeout("read timed out"), True),
    (requests.exceptions.SSLError("certificate verify failed"), False),
    (_chained(requests.exceptions.ConnectionError("x"), socket.gaierror(-2, "Name or service not known")), False),
    (AuthenticationError("Failed to authenticate the user u with ntlm"), False),
    (WSManFaultError(500, 2150858843, "shell not found", "reason"), False),  # the host answered
    (ValueError("a bug"), False),
])
def test_what_counts_as_the_host_gone(exc: BaseException, gone: bool) -> None:
    assert host_gone(exc) is gone
