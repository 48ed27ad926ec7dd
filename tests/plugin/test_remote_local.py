"""The local target's transport: PSRP over a child's stdio (MS-PSRP out-of-process), end to end
through Session with psrpcore on both sides: framing, fragmentation, Ctrl-C and timeouts (the
Signal packet), a child that dies, one-line failures."""
from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_nestedhv.config import parse_host
from pytest_nestedhv.remote import Cmd, GuestCredential, RemoteError, RemoteTimeout, Secret
from pytest_nestedhv.remote.backends.local import StdioConnector, _Pool
from pytest_nestedhv.remote.errors import ConnectionFailed, HostLost
from pytest_nestedhv.remote.outofproc import Packet, decode, encode
from pytest_nestedhv.remote.session import Session

SERVERS = str(Path(__file__).with_name("stdio_servers.py"))
TARGET = parse_host("local")


def _session(*mode: str, open_timeout: float = 30.0) -> tuple[Session, StdioConnector]:
    connector = StdioConnector(TARGET, [sys.executable, SERVERS, *mode], open_timeout=open_timeout)
    return Session(TARGET, connector), connector


@pytest.fixture
def echo() -> Iterator[tuple[Session, StdioConnector]]:
    session, connector = _session("echo")
    session.open()
    yield session, connector
    session.close()


def _channel(session: Session):  # the open pool's channel: packets counted by tag
    pool = session._pool
    assert isinstance(pool, _Pool)
    return pool.channel


@pytest.mark.parametrize("packet", [
    Packet("Data", None, b"\x00\x01fragment", "Default"),
    Packet("Data", uuid.UUID("2d2b81d5-1e5e-4c5a-9a3e-6f6c3c1d2b10"), b"x" * 100, "PromptResponse"),
    Packet("Command", uuid.UUID("2d2b81d5-1e5e-4c5a-9a3e-6f6c3c1d2b10")),
    Packet("CloseAck", None),
])
def test_packets_round_trip(packet: Packet) -> None:
    line = encode(packet)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line) == packet
    assert decode(line.rstrip(b"\n") + b"\r\n") == packet  # as PowerShell ends its lines on Windows


def test_the_zero_guid_is_the_pool_and_garbage_is_no_packet() -> None:
    assert encode(Packet("Close", None)) == b"<Close PSGuid='00000000-0000-0000-0000-000000000000' />\n"
    assert decode(b"\xef\xbb\xbf<CloseAck PSGuid='00000000-0000-0000-0000-000000000000' />\r\n") == Packet("CloseAck", None)
    for junk in (b"Windows PowerShell\r\n", b"<Data PSGuid='nope'>AA==</Data>", b"<Data PSGuid='00000000-0000-0000-0000-000000000000'>**</Data>", b""):
        assert decode(junk) is None


def test_calls_errors_and_warnings(echo: tuple[Session, StdioConnector], caplog: pytest.LogCaptureFixture) -> None:
    session, _ = echo
    out = session.run(Cmd.of("Get-VM", Name="a", MemoryStartupBytes=8 * 2**30))
    assert [o.value for o in out] == ["Get-VM", "Name=a", f"MemoryStartupBytes={8 * 2**30}"]
    session.run(Cmd.of("Write-Warning", Message="careful"))
    assert "careful" in caplog.text
    with pytest.raises(RemoteError) as info:
        session.run(Cmd.of("Throw-Error", Message="it broke"))
    assert (info.value.message, info.value.fqid, info.value.category) == ("it broke", "EchoTerminating,Echo", "InvalidOperation")
    out = session.run(Cmd.of("Write-Error", Message="soft"), check=False)
    assert out == [] and [e.message for e in session.last_errors] == ["soft"]


def test_secrets_go_as_securestrings(echo: tuple[Session, StdioConnector]) -> None:
    session, _ = echo
    cred = GuestCredential("Administrator", Secret("Guest-Pw-5678!"))
    out = session.in_guest("vm1", cred, Cmd.of("Get-Service", Name="vmms"))
    texts = [str(o.value) for o in out]
    # the host got a PSCredential whose password is an (encrypted) SecureString
    assert "Credential=PSCredential(UserName='Administrator', Password=PSSecureString())" in texts
    assert "Guest-Pw-5678!" not in " ".join(texts)
    assert all("Guest-Pw-5678!" not in str(e) for e in session.transcript.entries)


def test_large_input_and_output_travel_in_fragments(echo: tuple[Session, StdioConnector]) -> None:
    session, _ = echo
    channel = _channel(session)
    sent, received = channel.sent["Data"], channel.received["Data"]
    big = "x" * 200_000 + "end"
    out = session.run(Cmd.of("Get-VM", Name=big))
    assert out[1].value == f"Name={big}"
    # 200 kB each way: several 32 kB fragments, each in its own Data packet
    assert channel.sent["Data"] - sent >= 6
    assert channel.received["Data"] - received >= 6


def test_ctrl_c_sends_the_signal_and_the_session_goes_on(echo: tuple[Session, StdioConnector],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    session, _ = echo
    channel = _channel(session)
    original = _Pool.pump
    calls = {"n": 0}

    def interrupted(self: _Pool, until, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # the first wait for output, while the pipeline sleeps: as if ^C arrived
            raise KeyboardInterrupt
        return original(self, until, timeout)

    monkeypatch.setattr(_Pool, "pump", interrupted)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        session.run(Cmd.of("Start-Sleep", Seconds=30))
    monkeypatch.setattr(_Pool, "pump", original)
    assert time.monotonic() - t0 < 10
    assert channel.sent["Signal"] == 1 and channel.received["SignalAck"] == 1
    assert session.transcript.entries[-1].outcome == "error"
    assert session.run(Cmd.of("Get-VM"))[0].value == "Get-VM"  # same child, same pool


def test_a_timeout_stops_the_pipeline_with_the_signal(echo: tuple[Session, StdioConnector]) -> None:
    session, _ = echo
    channel = _channel(session)
    t0 = time.monotonic()
    with pytest.raises(RemoteTimeout):
        session.run(Cmd.of("Start-Sleep", Seconds=60), timeout=1)
    assert time.monotonic() - t0 < 10
    assert channel.sent["Signal"] == 1 and channel.received["SignalAck"] == 1
    assert session.run(Cmd.of("Get-VM"))[0].value == "Get-VM"


def test_a_child_that_dies_mid_call_is_one_line_and_the_next_call_starts_afresh() -> None:
    session, connector = _session("die-after", "1", "--scenario", "default")
    session.open()
    try:
        assert session.run(Cmd.of("Get-VMHost"))  # the first pipeline gets through
        with pytest.raises(HostLost) as info:
            session.run(Cmd.of("Get-VM"))
        message = str(info.value)
        assert "\n" not in message and message.startswith("local: the local PowerShell (")
        assert "exited with code 3" in message and "killed" in message
        assert not session.is_open
        assert session.run(Cmd.of("Get-VMHost"))  # cleanup can go on: a new child
        assert len(connector.pids) == 2
    finally:
        session.close()


def test_close_ends_the_child(echo: tuple[Session, StdioConnector]) -> None:
    session, _ = echo
    process = _channel(session).process
    session.close()
    assert process.poll() == 0 and not session.is_open


def test_a_missing_program_is_one_line() -> None:
    connector = StdioConnector(TARGET, ["nestedhv-no-such-powershell.exe", "-s"])
    with pytest.raises(ConnectionFailed) as info:
        Session(TARGET, connector).open()
    assert str(info.value).startswith("local: cannot start 'nestedhv-no-such-powershell.exe': ")
    assert "NESTED_LOCAL_SHELL" in str(info.value)


def test_a_program_that_is_not_powershell_is_one_line_within_the_open_timeout() -> None:
    session, connector = _session("banner", open_timeout=2)
    t0 = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        session.open()
    assert time.monotonic() - t0 < 8
    assert "did not answer as a PowerShell server" in str(info.value) and "-s" in str(info.value)
    assert len(connector.pids) == 1


def test_a_program_that_exits_at_once_is_one_line() -> None:
    connector = StdioConnector(TARGET, [sys.executable, "-c", "import sys; sys.stderr.write('bad switch -s'); sys.exit(5)"])
    with pytest.raises(ConnectionFailed) as info:
        Session(TARGET, connector).open()
    assert "exited with code 5" in str(info.value) and "bad switch -s" in str(info.value)


@pytest.mark.parametrize(("command", "windows", "argv"), [
    ("powershell.exe -NoLogo -NoProfile -NonInteractive -s", True,
     ["powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-s"]),
    ('"C:\\Program Files\\PowerShell\\7\\pwsh.exe" -NoLogo -s', True,
     ["C:\\Program Files\\PowerShell\\7\\pwsh.exe", "-NoLogo", "-s"]),
    ("python -m pytest_nestedhv.sim serve --stdio --scenario 'my lab.toml'", False,
     ["python", "-m", "pytest_nestedhv.sim", "serve", "--stdio", "--scenario", "my lab.toml"]),
])
def test_the_shell_command_splits_as_its_platform_does(command: str, windows: bool, argv: list[str]) -> None:
    from pytest_nestedhv.remote.backends.local import shell_argv

    assert shell_argv(command, windows=windows) == argv
