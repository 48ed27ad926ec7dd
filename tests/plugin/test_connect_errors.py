"""Each one-line connection failure names the fix the user types (table-driven, synthetic causes)."""
from __future__ import annotations

import socket
import ssl

import pytest

from pytest_nestedhv.config import parse_host
from pytest_nestedhv.remote.connect_errors import LOCAL_HINT, classify, is_this_machine


class AuthenticationError(Exception):
    """Named as pypsrp's: classify goes by class names, not imports."""


class WSManFaultError(Exception):
    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


CASES = [
    ("https://hv1.corp.example:5986", ConnectionRefusedError(111, "Connection refused"),
     ["hv1.corp.example:5986 refused the connection", "no HTTPS listener", "Enable-PSRemoting",
      "winrm quickconfig -transport:https", "http://hv1.corp.example:5985"]),
    ("http://hv1.corp.example:5985", ConnectionRefusedError(111, "Connection refused"),
     ["WinRM is not listening there", "run Enable-PSRemoting on the host"]),
    ("192.168.1.20", AuthenticationError("401"),
     ["wrong credentials", "NTLM", "Set-Item WSMan:\\localhost\\Client\\TrustedHosts -Value 192.168.1.20 -Concatenate"]),
    ("HVBOX", AuthenticationError("401"), ["TrustedHosts -Value HVBOX"]),
    ("hv1.corp.example", ssl.SSLCertVerificationError("certificate verify failed: self-signed certificate"),
     ["certificate not trusted", "--nested-cert-validation"]),
    ("hv1.corp.example", WSManFaultError("Access is denied.", 5),
     ["may not use PowerShell remoting", "LocalAccountTokenFilterPolicy"]),
]


@pytest.mark.parametrize(("spec", "exc", "needles"), CASES)
def test_the_line_names_the_fix(spec: str, exc: BaseException, needles: list[str]) -> None:
    target = parse_host(spec)
    line = str(classify(exc, target, "labadmin", "negotiate", 5.0))
    assert "\n" not in line and line.startswith(f"{target.label}: ")
    for needle in needles:
        assert needle in line, line
    assert "--nested-host=local" not in line  # not this machine


def test_a_domain_host_gets_no_trustedhosts_advice() -> None:
    line = str(classify(AuthenticationError("401"), parse_host("hv1.corp.example"), "labadmin", "negotiate", 5.0))
    assert "TrustedHosts" not in line and "wrong credentials for user labadmin" in line


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", socket.gethostname()])
def test_this_machine_is_pointed_at_the_local_target(host: str) -> None:
    assert is_this_machine(host)
    line = str(classify(ConnectionRefusedError(111, "refused"), parse_host(f"http://{host}:5985"), "me", "ntlm", 5.0))
    assert line.endswith(f"; {LOCAL_HINT}") and "Enable-PSRemoting" in line


def test_the_emulator_on_loopback_gets_no_local_hint() -> None:
    target = parse_host("sim").at("127.0.0.1", 5986)
    assert LOCAL_HINT not in str(classify(AuthenticationError("401"), target, "nestedhv", "ntlm", 5.0))


def test_other_machines_are_not_this_one() -> None:
    assert not is_this_machine("hv1.corp.example") and not is_this_machine("192.0.2.7")
