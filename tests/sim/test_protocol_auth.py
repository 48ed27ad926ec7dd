"""Each auth mode and transport, driven by real pypsrp clients."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from pypsrp.exceptions import AuthenticationError
from pypsrp.powershell import PowerShell, RunspacePool

from pytest_nestedhv.sim.server import SimServer

MODES = [
    ("basic", False),
    ("basic", True),
    ("ntlm", False),
    ("ntlm", True),
    ("negotiate", False),
    ("negotiate", True),
]


def _invoke_get_vm(wsman: object) -> list[object]:
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM").add_parameter("Name", "vm1")
        return ps.invoke()


@pytest.mark.parametrize(("auth", "https"), MODES, ids=[f"{a}-{'https' if h else 'http'}" for a, h in MODES])
def test_invoke_over_each_auth_and_transport(
    sim_server: Callable[..., SimServer], sim_wsman: Callable[..., object], auth: str, https: bool
) -> None:
    server = sim_server(auth=auth, https=https)
    wsman = sim_wsman(server)

    assert _invoke_get_vm(wsman) == ["Get-VM", "Name=vm1"]
    assert server.url.startswith("https://" if https else "http://")
    transport = wsman.transport  # type: ignore[attr-defined]
    if auth != "basic" and not https:
        # the SOAP bodies went through WinRM message encryption, both ways
        assert transport.wrap_required and transport.encryption is not None
    else:
        assert transport.encryption is None


def test_ntlm_over_https_validates_against_the_servers_ca(
    sim_server: Callable[..., SimServer], sim_wsman: Callable[..., object]
) -> None:
    server = sim_server(auth="ntlm", https=True)
    assert server.ca_path is not None and server.ca_path.read_text().startswith("-----BEGIN CERTIFICATE-----")

    assert _invoke_get_vm(sim_wsman(server, cert_validation=str(server.ca_path))) == ["Get-VM", "Name=vm1"]

    with pytest.raises(requests.exceptions.SSLError):
        _invoke_get_vm(sim_wsman(server, cert_validation=True))


@pytest.mark.parametrize("auth", ["basic", "ntlm", "negotiate"])
def test_wrong_password_is_refused_with_401(
    sim_server: Callable[..., SimServer], sim_wsman: Callable[..., object], auth: str
) -> None:
    server = sim_server(auth=auth, https=auth == "basic")
    with pytest.raises(AuthenticationError):
        _invoke_get_vm(sim_wsman(server, password="not-the-password"))
    # the server is unharmed and still accepts the right password
    assert _invoke_get_vm(sim_wsman(server)) == ["Get-VM", "Name=vm1"]


def test_unknown_user_is_refused(sim_server: Callable[..., SimServer], sim_wsman: Callable[..., object]) -> None:
    server = sim_server(auth="ntlm", https=False)
    with pytest.raises(AuthenticationError):
        _invoke_get_vm(sim_wsman(server, username="mallory"))


def test_users_of_one_server_are_not_accepted_by_another(
    sim_server: Callable[..., SimServer], sim_wsman: Callable[..., object]
) -> None:
    # pyspnego reads NTLM users from a process-wide file setting: each server must still see only its own
    first = sim_server(auth="ntlm", https=False)
    second = sim_server(auth="ntlm", https=False, users={"other": "0ther-Pa55"})
    assert _invoke_get_vm(sim_wsman(first)) == ["Get-VM", "Name=vm1"]
    assert _invoke_get_vm(sim_wsman(second, username="other", password="0ther-Pa55")) == ["Get-VM", "Name=vm1"]
    with pytest.raises(AuthenticationError):
        _invoke_get_vm(sim_wsman(second))


def test_the_password_never_appears_in_reprs(sim_server: Callable[..., SimServer], sim_account: object) -> None:
    server = sim_server(auth="basic", https=False)
    password = sim_account.password  # type: ignore[attr-defined]
    assert password not in repr(server)
    assert password not in repr(server.users)
    assert password not in repr(sim_account)
