"""Bad input gets a WSManFault and the server keeps serving; injected latency and drops;
prompt shutdown."""
from __future__ import annotations

import base64
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
import requests
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.shell import SignalCode
from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan

from pytest_nestedhv.sim.server import Faults, SimServer
from pytest_nestedhv.sim.server.echo_engine import EchoEngine

PS_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
SHELL_NOT_FOUND = 0x8033805B
TIMED_OUT = 0x80338029


@pytest.fixture
def server(sim_server: Callable[..., SimServer]) -> SimServer:
    return sim_server(auth="basic", https=False)


def _post(server: SimServer, account: object, body: bytes) -> requests.Response:
    return requests.post(
        server.url,
        data=body,
        auth=(account.user, account.password),  # type: ignore[attr-defined]
        headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
        timeout=10,
    )


def _still_serves(server: SimServer, sim_wsman: Callable[..., WSMan]) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM")
        assert ps.invoke() == ["Get-VM"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<not xml", 0x80338043),
        (b"<a>well formed but not SOAP</a>", 0x80338043),
        (
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>',
            0x80338011,
        ),
    ],
    ids=["malformed", "not-soap", "no-action"],
)
def test_bad_soap_gets_a_wsman_fault(
    server: SimServer, sim_wsman: Callable[..., WSMan], sim_account: object, body: bytes, code: int
) -> None:
    response = _post(server, sim_account, body)
    assert response.status_code == 500
    fault = WSMan._parse_wsman_fault(response.text)
    assert fault.code == code
    assert fault.reason
    _still_serves(server, sim_wsman)


def test_oversized_envelope_gets_a_fault(
    server: SimServer, sim_wsman: Callable[..., WSMan], sim_account: object
) -> None:
    response = _post(server, sim_account, b"<x>" + b"a" * (1100 * 1024) + b"</x>")
    assert response.status_code == 500
    assert WSMan._parse_wsman_fault(response.text).code == 0x80338035
    _still_serves(server, sim_wsman)


def test_unknown_action_gets_a_fault(server: SimServer, sim_wsman: Callable[..., WSMan]) -> None:
    wsman = sim_wsman(server)
    with pytest.raises(WSManFaultError) as info:
        wsman.invoke("http://schemas.xmlsoap.org/ws/2004/09/transfer/Put", PS_URI, None)
    assert info.value.code == 0x80338013


def test_unknown_shell_id_gets_the_shell_not_found_fault(
    server: SimServer, sim_wsman: Callable[..., WSMan]
) -> None:
    wsman = sim_wsman(server)
    bogus = str(uuid.uuid4()).upper()
    selectors = SelectorSet()
    selectors.add_option("ShellId", bogus)
    receive = ET.Element("{%s}Receive" % NAMESPACES["rsp"])
    ET.SubElement(receive, "{%s}DesiredStream" % NAMESPACES["rsp"]).text = "stdout"
    with pytest.raises(WSManFaultError) as info:
        wsman.receive(PS_URI, receive, selector_set=selectors)
    assert info.value.code == SHELL_NOT_FOUND
    assert f"ShellId {bogus} failed because the shell was not found on the server" in info.value.reason
    _still_serves(server, sim_wsman)


def test_unknown_command_id_gets_a_fault(server: SimServer, sim_wsman: Callable[..., WSMan]) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        with pytest.raises(WSManFaultError) as info:
            pool.shell.signal(SignalCode.TERMINATE, str(uuid.uuid4()).upper())
        assert info.value.code == SHELL_NOT_FOUND
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM")
        assert ps.invoke() == ["Get-VM"]


def test_garbage_psrp_fragments_break_only_that_pool(server: SimServer, sim_wsman: Callable[..., WSMan]) -> None:
    wsman = sim_wsman(server)
    with RunspacePool(wsman) as healthy:
        broken = RunspacePool(wsman)
        broken.open()
        with pytest.raises(WSManFaultError) as info:
            broken.shell.send("stdin", b"\x00" * 10 + b"garbage that is no PSRP fragment" * 3)
        assert info.value.code == 0x80338003
        broken.close()
        ps = PowerShell(healthy)
        ps.add_cmdlet("Get-VM")
        assert ps.invoke() == ["Get-VM"]


def test_receive_with_nothing_to_say_times_out_with_the_retryable_fault(
    server: SimServer, sim_wsman: Callable[..., WSMan]
) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        started = time.monotonic()
        with pytest.raises(WSManFaultError) as info:
            pool.shell.receive("stdout", timeout=1)
        assert info.value.code == TIMED_OUT
        assert time.monotonic() - started >= 0.9


def test_slow_pipeline_is_polled_through_operation_timeouts(
    sim_server: Callable[..., SimServer], sim_wsman: Callable[..., WSMan]
) -> None:
    server = sim_server(auth="basic", https=False)
    with RunspacePool(sim_wsman(server, operation_timeout=1, read_timeout=5)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 1.5)
        ps.add_statement()
        ps.add_cmdlet("Get-VM")
        assert ps.invoke() == ["Get-VM"]  # pypsrp retried the 0x80338029 faults silently


def test_latency_is_added_to_every_response(
    sim_server: Callable[..., SimServer], sim_wsman: Callable[..., WSMan]
) -> None:
    server = sim_server(auth="basic", https=False, faults=Faults(latency_ms=60))
    with RunspacePool(sim_wsman(server)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM")
        before = server.request_count
        started = time.monotonic()
        ps.invoke()
        elapsed = time.monotonic() - started
        requests_made = server.request_count - before
    assert requests_made == 2
    assert elapsed >= requests_made * 0.060


def test_dropped_connections_surface_as_connection_errors(
    sim_server: Callable[..., SimServer], sim_wsman: Callable[..., WSMan]
) -> None:
    server = sim_server(auth="basic", https=False, faults=Faults(drop_rate=0.25, seed=7))
    outcomes: list[str] = []
    for _ in range(12):
        try:
            pool = RunspacePool(sim_wsman(server))
            pool.open()
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-VM")
            assert ps.invoke() == ["Get-VM"]
            pool.close()
            outcomes.append("ok")
        except requests.exceptions.ConnectionError:
            # pypsrp does not retry a dropped request (urllib3 read retries are 0): the caller must
            outcomes.append("dropped")
    assert "ok" in outcomes and "dropped" in outcomes
    # every drop the server made reached the client as exactly one ConnectionError, nothing else
    assert outcomes.count("dropped") == server.dropped_count


def test_every_request_dropped(sim_server: Callable[..., SimServer], sim_wsman: Callable[..., WSMan]) -> None:
    server = sim_server(auth="ntlm", https=True, faults=Faults(drop_rate=1.0))
    with pytest.raises(requests.exceptions.ConnectionError):
        RunspacePool(sim_wsman(server)).open()
    assert server.dropped_count == 1


def test_stop_is_prompt_with_a_receive_in_flight(
    sim_server: Callable[..., SimServer], sim_wsman: Callable[..., WSMan], echo_engine: EchoEngine
) -> None:
    server = sim_server(auth="ntlm", https=False)
    pool = RunspacePool(sim_wsman(server, operation_timeout=20, read_timeout=30))
    pool.open()
    ps = PowerShell(pool)
    ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 60)
    ps.begin_invoke()
    poller = threading.Thread(target=lambda: _poll_quietly(ps), daemon=True)
    poller.start()
    time.sleep(0.2)  # let the poller's Receive reach the server and block there
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 0.5
    poller.join(5)
    assert not poller.is_alive(), "the blocked client was not released"
    assert echo_engine.cancelled.wait(2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=2).close()  # nothing listens any more


def _poll_quietly(ps: PowerShell) -> None:
    try:
        ps.poll_invoke()
    except Exception:
        pass


def test_port_in_use_fails_to_start(sim_server: Callable[..., SimServer]) -> None:
    first = sim_server(auth="basic", https=False)
    with pytest.raises(OSError):
        sim_server(auth="basic", https=False, port=first.port)


def test_basic_credentials_are_checked_on_every_request(server: SimServer, sim_account: object) -> None:
    body = base64.b64encode(b"x").decode()
    response = requests.post(server.url, data=body, auth=(sim_account.user, "wrong"), timeout=10)  # type: ignore[attr-defined]
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="WSMAN"'
