"""Bad input and unusable hosts: one line, exit != 0, within 10 s, no traceback, no password."""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_nestedhv.exitcodes import NestedExit
from pytest_nestedhv.sim.server import SimServer
from pytest_nestedhv.sim.server.echo_engine import EchoEngine

HOST_PW = "Host-Pw-9876!"
GUEST_PW = "Guest-Pw-5432!"
TEST_FILE = """
def test_uses_host(nested_host):
    assert nested_host.session.is_open
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"NESTED_HOST_USER": "labadmin", "NESTED_HOST_PASSWORD": HOST_PW,
                        "NESTED_GUEST_USER": "Administrator", "NESTED_GUEST_PASSWORD": GUEST_PW}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NESTED_HOST", raising=False)


@pytest.fixture(scope="module")
def echo_server() -> Iterator[SimServer]:
    with SimServer(EchoEngine(), users={"labadmin": HOST_PW}, auth="ntlm") as server:
        yield server


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_failing(pytester: pytest.Pytester, *args: str) -> tuple[str, int]:
    pytester.makepyfile(TEST_FILE)
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=60)
    elapsed = time.monotonic() - started
    text = result.stdout.str() + result.stderr.str()
    assert result.ret != 0, text
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    assert HOST_PW not in text and GUEST_PW not in text
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines), int(result.ret)


def only_line(text: str, needle: str) -> str:
    hits = [line for line in text.splitlines() if needle in line]
    assert len(hits) == 1, text
    return hits[0]


def test_closed_port(pytester: pytest.Pytester, env: None) -> None:
    port = closed_port()
    text, _ = run_failing(pytester, f"--nested-host=http://127.0.0.1:{port}", "--nested-base-image=C:\\b.vhdx")
    line = only_line(text, "refused the connection")
    assert f"127.0.0.1:{port}" in line and "no tests ran" not in text


def test_unknown_host_name(pytester: pytest.Pytester, env: None) -> None:
    text, _ = run_failing(pytester, "--nested-host=nohost.invalid", "--nested-base-image=C:\\b.vhdx")
    assert "cannot resolve the host name 'nohost.invalid'" in only_line(text, "nohost.invalid")


def test_tls_failure_hints_at_cert_validation(pytester: pytest.Pytester, env: None, echo_server: SimServer) -> None:
    text, _ = run_failing(pytester, f"--nested-host=https://127.0.0.1:{echo_server.port}",
                          "--nested-base-image=C:\\b.vhdx", "--nested-auth=ntlm")
    assert "--nested-cert-validation" in only_line(text, "TLS handshake")


def test_wrong_credentials(pytester: pytest.Pytester, env: None, echo_server: SimServer,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NESTED_HOST_PASSWORD", "Wrong-Pw-0000")
    text, _ = run_failing(pytester, f"--nested-host=https://127.0.0.1:{echo_server.port}",
                          f"--nested-cert-validation={echo_server.ca_path}", "--nested-auth=ntlm",
                          "--nested-base-image=C:\\b.vhdx")
    line = only_line(text, "wrong credentials")
    assert "labadmin" in line and "NESTED_HOST_PASSWORD" in line and "Wrong-Pw-0000" not in text


@pytest.mark.parametrize(("args", "unset", "needle"), [
    (["--nested-host=host A"], None, "--nested-host 'host A'"),
    (["--nested-host=hostA", "--nested-base-image=x"], "NESTED_HOST_PASSWORD", "NESTED_HOST_PASSWORD is not set"),
    (["--nested-host=http://hostA:5985", "--nested-auth=basic", "--nested-base-image=x"], None,
     "--nested-allow-unencrypted"),
    (["--nested-host=sim", "--nested-remediate"], None, "--nested-remediate needs --nested-vm"),
    (["--nested-host=sim:no-such-scenario"], None, "unknown scenario 'no-such-scenario'"),
    (["--nested-host=sim", "--nested-cert-validation=/no/ca.pem"], None, "--nested-cert-validation"),
])
def test_usage_errors(pytester: pytest.Pytester, env: None, monkeypatch: pytest.MonkeyPatch,
                      args: list[str], unset: str | None, needle: str) -> None:
    if unset:
        monkeypatch.delenv(unset)
    text, ret = run_failing(pytester, *args)
    assert ret == pytest.ExitCode.USAGE_ERROR
    assert only_line(text, needle).startswith("ERROR: ")


def test_bad_keep_is_refused_by_option_choices(pytester: pytest.Pytester, env: None) -> None:
    text, ret = run_failing(pytester, "--nested-host=sim", "--nested-keep=sometimes")
    assert ret == pytest.ExitCode.USAGE_ERROR and "--nested-keep" in text


def test_without_nested_host_the_plugin_is_invisible(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "nestedhv: run" not in result.stdout.str()  # no header line, nothing else


def test_host_fixture_errors_without_nested_host(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # a nightly job whose NESTED_HOST went missing must not be green (it skipped and exited 0)
    monkeypatch.delenv("NESTED_HOST", raising=False)
    pytester.makepyfile(TEST_FILE + "\ndef test_plain():\n    pass\n\ndef test_too(nested_host):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=2)
    assert result.ret == NestedExit.BAD_INPUT
    text = result.stdout.str()
    assert len([line for line in text.splitlines() if line.startswith("no --nested-host given")]) == 2, text
    assert "Traceback" not in text


def test_exit_codes_are_distinct() -> None:
    codes = {int(code) for code in NestedExit}
    assert len(codes) == len(NestedExit)
    same = {"OK": "OK", "TESTS_FAILED": "TESTS_FAILED", "INTERRUPTED": "INTERRUPTED",
            "INTERNAL_ERROR": "INTERNAL_ERROR", "BAD_INPUT": "USAGE_ERROR", "NO_TESTS": "NO_TESTS_COLLECTED"}
    for ours, pytests in same.items():
        assert NestedExit[ours] == pytest.ExitCode[pytests]
    assert min(NestedExit.HOST_UNREACHABLE, NestedExit.HOST_LOST) > max(pytest.ExitCode)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in NestedExit:
        assert f"| {int(code)} |" in section, f"README does not document exit code {int(code)}"


def test_unreachable_host_exit_code(pytester: pytest.Pytester, env: None) -> None:
    _, ret = run_failing(pytester, f"--nested-host=http://127.0.0.1:{closed_port()}", "--nested-base-image=C:\\b.vhdx")
    assert ret == NestedExit.HOST_UNREACHABLE


def test_malformed_ipv6_url_is_one_line(pytester: pytest.Pytester, env: None) -> None:
    text, ret = run_failing(pytester, "--nested-host=http://[::1:99999")
    assert ret == pytest.ExitCode.USAGE_ERROR
    assert only_line(text, "--nested-host").startswith("ERROR: --nested-host 'http://[::1:99999': not a valid address")


def test_every_missing_option_in_one_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NESTED_HOST", "NESTED_HOST_USER", "NESTED_HOST_PASSWORD", "NESTED_GUEST_USER",
                 "NESTED_GUEST_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    text, ret = run_failing(pytester, "--nested-host=hostA")
    line = only_line(text, "ERROR: ")
    for name in ("--nested-user", "NESTED_HOST_PASSWORD", "--nested-base-image", "--nested-guest-user",
                 "NESTED_GUEST_PASSWORD"):
        assert f"{name} is not set" in line


def test_auth_without_its_libraries_names_the_extra(pytester: pytest.Pytester, env: None) -> None:
    try:
        import requests_credssp  # noqa: F401
    except ImportError:
        pass
    else:  # the extra is installed here: the message under test cannot happen
        pytest.fail("requests-credssp is installed: test the message with another auth")
    text, _ = run_failing(pytester, f"--nested-host=https://127.0.0.1:{closed_port()}", "--nested-auth=credssp",
                          "--nested-base-image=C:\\x.vhdx")
    assert 'needs its libraries: pip install "pytest-nestedhv[credssp]"' in only_line(text, "--nested-auth credssp")


def test_k_selects_by_requirement_id_keyword(pytester: pytest.Pytester) -> None:
    # a user's own test with a requirement marker and no host parametrization: the id is a keyword
    pytester.makepyfile("import pytest\n\n@pytest.mark.requirement('host.bcd')\ndef test_boot_entry():\n    pass\n\n"
                        "def test_other():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "host.bcd")
    result.assert_outcomes(passed=1, deselected=1)
