"""Session against the emulated WinRM endpoint (echo engine): the real pypsrp client path."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from pytest_nestedhv.config import parse_host
from pytest_nestedhv.remote import Cmd, GuestCredential, RemoteError, RemoteTimeout, Secret
from pytest_nestedhv.remote.errors import ConnectionFailed
from pytest_nestedhv.remote.backends.winrm import ConnectOptions, WinRMConnector
from pytest_nestedhv.remote.session import Session
from pytest_nestedhv.remote.transcript import ScriptNames, render_entry
from pytest_nestedhv.sim.server import Faults, SimServer
from pytest_nestedhv.sim.server.echo_engine import EchoEngine

USER, PW, GUEST_PW = "labadmin", "Host-Pw-1234!", "Guest-Pw-5678!"


def _session(server: SimServer, **options: object) -> Session:
    target = parse_host("sim").at("127.0.0.1", server.port)
    opts = ConnectOptions(user=USER, password=Secret(PW), auth="ntlm", cert_validation=str(server.ca_path),
                          no_proxy=True, **options)  # type: ignore[arg-type]
    return Session(target, WinRMConnector(target, opts))


@pytest.fixture
def engine() -> EchoEngine:
    return EchoEngine()


@pytest.fixture
def server(engine: EchoEngine) -> Iterator[SimServer]:
    with SimServer(engine, users={USER: PW}, auth="ntlm") as srv:
        yield srv


@pytest.fixture
def session(server: SimServer) -> Iterator[Session]:
    with _session(server) as s:
        yield s


def test_run_sends_named_parameters_with_their_types(session: Session, engine: EchoEngine) -> None:
    out = session.run(Cmd.of("Set-VMMemory", VMName="l1", StartupBytes=4 * 2**30, DynamicMemoryEnabled=False,
                             Ratio=0.5), Cmd.of("Out-Null"))
    assert [o.value for o in out][:5] == ["Set-VMMemory", "VMName=l1", "StartupBytes=4294967296",
                                         "DynamicMemoryEnabled=False", "Ratio=0.5"]
    statement = engine.requests[-1].statements[0]
    assert [c.name for c in statement] == ["Set-VMMemory", "Out-Null"]
    assert [name for name, _ in statement[0].parameters] == ["VMName", "StartupBytes", "DynamicMemoryEnabled", "Ratio"]
    assert session.transcript.entries[-1].outcome == "ok"


def test_statements_in_one_invocation(session: Session, engine: EchoEngine) -> None:
    before = len(engine.requests)
    out = session.run_statements([Cmd.of("Get-VM"), (Cmd.of("Get-VMHost"), Cmd.of("Select-Object"))])
    assert len(engine.requests) == before + 1 and len(engine.requests[-1].statements) == 2
    assert "Get-VM" in [o.value for o in out] and len(session.transcript.entries) == 2


def test_non_terminating_error_fails_the_call(session: Session) -> None:
    with pytest.raises(RemoteError) as info:
        session.run(Cmd.of("Write-Error", Message="Hyper-V was unable to find a virtual machine"))
    err = info.value
    assert "unable to find" in err.message and "Write-Error" in err.command and "\n" not in str(err)
    assert session.transcript.entries[-1].outcome == "error"
    assert session.run(Cmd.of("Write-Error", Message="tolerated"), check=False) == []
    assert session.last_errors and session.last_errors[0].message == "tolerated"


def test_warnings_are_logged_with_their_text(session: Session, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="pytest_nestedhv.remote"):
        session.run(Cmd.of("Write-Warning", Message="You must restart this server"))
    assert any(r.getMessage().endswith(": You must restart this server") for r in caplog.records)


def test_terminating_error_fails_the_call(session: Session) -> None:
    with pytest.raises(RemoteError, match="it broke"):
        session.run(Cmd.of("Throw-Error", Message="it broke"))
    assert session.run(Cmd.of("Get-VM"))  # the pool is still usable


def test_timeout_stops_the_pipeline(session: Session, engine: EchoEngine) -> None:
    started = time.monotonic()
    with pytest.raises(RemoteTimeout, match="within 1 s"):
        session.run(Cmd.of("Start-Sleep", Seconds=30), timeout=1)
    assert time.monotonic() - started < 6
    assert session.run(Cmd.of("Get-VM"))[0].value == "Get-VM"


def test_in_guest_sends_the_trampoline_with_a_secure_credential(session: Session, engine: EchoEngine) -> None:
    cred = GuestCredential("Administrator", Secret(GUEST_PW))
    session.in_guest("l1", cred, Cmd.of("Get-WindowsFeature", Name="Hyper-V"))
    spec = engine.requests[-1].statements[0][0]
    assert spec.is_script and "Invoke-Command -VMName $VMName -Credential $Credential" in spec.name
    params = dict(spec.parameters)
    assert params["VMName"] == "l1" and params["Command"] == "Get-WindowsFeature"
    assert GUEST_PW not in repr(params["Credential"])  # a SecureString, decrypted only by the server
    entry = session.transcript.entries[-1]
    assert entry.target == "guest:l1" and entry.pipeline == (Cmd.of("Get-WindowsFeature", Name="Hyper-V"),)
    assert GUEST_PW not in "\n".join(render_entry(e, ScriptNames()) for e in session.transcript.entries)


def test_passwords_never_logged(server: SimServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        with _session(server) as s:
            s.run(Cmd.of("Get-VM"))
            s.in_guest("l1", GuestCredential("Administrator", Secret(GUEST_PW)), Cmd.of("Get-Service"))
    assert caplog.records and PW not in caplog.text and GUEST_PW not in caplog.text


def test_dropped_connections_are_survived() -> None:
    engine = EchoEngine()
    with SimServer(engine, users={USER: PW}, auth="ntlm", faults=Faults(drop_rate=0.1, seed=7)) as server:
        with _session(server) as s:
            for i in range(25):
                assert s.run(Cmd.of("New-Thing", Name=str(i)))[1].value == f"Name={i}"
        assert server.dropped_count > 0
    names = [r.statements[0][0].name for r in engine.requests]
    assert names.count("New-Thing") == 25  # nothing ran twice


def test_reopens_a_pool_that_is_gone(session: Session) -> None:
    session._discard()  # as after a read timeout: the pool is not trusted any more
    assert session.run(Cmd.of("Get-VM"))[0].value == "Get-VM" and session.is_open


def test_wrong_password_is_one_line(server: SimServer) -> None:
    target = parse_host("sim").at("127.0.0.1", server.port)
    s = Session(target, WinRMConnector(target, ConnectOptions(user=USER, password=Secret("Wrong-1234"), auth="ntlm",
                                                              cert_validation=str(server.ca_path), no_proxy=True)))
    with pytest.raises(ConnectionFailed) as info:
        s.open()
    assert str(info.value) == f"sim: wrong credentials for user {USER} on host 127.0.0.1 (NESTED_HOST_PASSWORD), auth ntlm"


def test_a_key_exchange_cut_short_starts_again_on_a_new_pool(session: Session,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # pypsrp keeps its half of an interrupted exchange and returns at once on a second call, with
    # no cipher: retrying on the same pool would fail with "cipher is not initialised"
    import requests
    from pypsrp.powershell import RunspacePool

    real = RunspacePool.exchange_keys
    pools: list[object] = []

    def cut_short_once(pool: RunspacePool) -> None:
        pools.append(pool)
        if len(pools) == 1:
            pool._exchange_key = object()  # type: ignore[assignment]
            raise requests.exceptions.ConnectionError("Connection reset by peer")
        real(pool)

    monkeypatch.setattr(RunspacePool, "exchange_keys", cut_short_once)
    out = session.in_guest("l1", GuestCredential("Administrator", Secret(GUEST_PW)), Cmd.of("Get-Service"))
    assert out is not None
    assert len(pools) == 2 and pools[0] is not pools[1]  # the second exchange ran on a fresh pool


def test_calls_do_not_read_the_environment_once_open(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # a session used from a background thread must not iterate os.environ while pytest's main
    # thread sets and deletes PYTEST_CURRENT_TEST: requests would, on every send, with trust_env
    import requests.utils

    def reads_environment(*args: object, **kw: object) -> bool:
        raise AssertionError("the proxy settings were read from the environment again")

    monkeypatch.setattr(requests.utils, "should_bypass_proxies", reads_environment)
    assert session.run(Cmd.of("Get-VM"))
