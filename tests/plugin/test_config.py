"""Settings: precedence CLI > env > ini > default, host forms, and every bad-input message."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_nestedhv.config import HostTarget, parse_host, parse_hosts, resolve_settings
from pytest_nestedhv.remote.secrets import Secret

ENV = {"NESTED_HOST_USER": "envuser", "NESTED_HOST_PASSWORD": "Host-Pw-1234",
       "NESTED_GUEST_USER": "Administrator", "NESTED_GUEST_PASSWORD": "Guest-Pw-5678"}


def resolve(cli: dict[str, Any] | None = None, env: dict[str, str] | None = None,
            ini: dict[str, Any] | None = None) -> Any:
    cli = {"nested_base_image": "C:\\img.vhdx", **(cli or {})}
    return resolve_settings(cli, ENV if env is None else env, ini or {}, run_id="abc123")


@pytest.mark.parametrize(("spec", "scheme", "host", "port", "label"), [
    ("hostA", "https", "hostA", 5986, "hostA"),
    ("hostA:5999", "https", "hostA", 5999, "hostA"),
    ("https://hostA:5986", "https", "hostA", 5986, "hostA"),
    ("http://hostA:5985", "http", "hostA", 5985, "hostA"),
    ("http://hostA", "http", "hostA", 5985, "hostA"),
    ("HTTPS://hv1.corp.example/wsman", "https", "hv1.corp.example", 5986, "hv1.corp.example"),
    ("10.0.0.5", "https", "10.0.0.5", 5986, "10.0.0.5"),
    ("https://[fe80::1]:5986", "https", "fe80::1", 5986, "fe80::1"),
])
def test_host_forms(spec: str, scheme: str, host: str, port: int, label: str) -> None:
    target = parse_host(spec)
    assert (target.scheme, target.host, target.port, target.label, target.is_sim) == (scheme, host, port, label, False)


@pytest.mark.parametrize(("spec", "label", "scenario"), [
    ("sim", "sim", None),
    ("sim:amd-win10", "sim-amd-win10", "amd-win10"),
    ("sim:/tmp/my host.toml", "sim-my-host", "/tmp/my host.toml"),
])
def test_sim_forms(spec: str, label: str, scenario: str | None) -> None:
    target = parse_host(spec)
    assert target.is_sim and target.label == label and target.scenario == scenario
    assert target.at("127.0.0.1", 1234).url == "https://127.0.0.1:1234/wsman"


@pytest.mark.parametrize(("spec", "why"), [
    ("", "empty"),
    ("ftp://hostA", "scheme 'ftp'"),
    ("hostA:99999", "port"),
    ("hostA:abc", "port"),
    ("host A", "not a host name"),
    ("https://hostA/other", "/wsman"),
    ("sim:", "no scenario"),
    ("sim:bad name!", "not a scenario name"),
    ("999.1.1.1", "not a host name"),
])
def test_malformed_hosts(spec: str, why: str) -> None:
    with pytest.raises(pytest.UsageError) as info:
        parse_host(spec)
    message = str(info.value)
    assert message.startswith(f"--nested-host {spec!r}") and why in message and "\n" not in message
    assert "sim:SCENARIO" in message  # says what to do


@pytest.mark.parametrize("spec", ["https://admin:Hunter2Pass@hostA", "admin:Hunter2Pass@hostA:5986",
                                  "https://admin:Hunter2Pass@[::1"])
def test_a_host_spec_with_credentials_is_refused_without_printing_them(spec: str) -> None:
    with pytest.raises(pytest.UsageError) as info:
        parse_host(spec)
    message = str(info.value)
    assert "Hunter2Pass" not in message and "admin" not in message
    assert message.startswith(f"--nested-host {spec.replace('admin:Hunter2Pass@', '***@')!r}: ")
    assert "credentials do not belong" in message or "not a valid address" in message
    assert "\n" not in message and "sim:SCENARIO" in message


def test_duplicate_host_refused_and_same_name_other_port_gets_port_label() -> None:
    with pytest.raises(pytest.UsageError, match="given twice"):
        parse_hosts(["hostA", "https://hostA:5986"])
    assert [t.label for t in parse_hosts(["hostA", "hostA:6000"])] == ["hostA", "hostA-6000"]


def test_precedence_cli_env_ini_default() -> None:
    ini = {"nested_hosts": ["iniHost"], "nested_auth": "kerberos", "nested_keep": "always",
           "nested_report_dir": "ini-reports", "nested_cert_validation": "false"}
    s = resolve(env={**ENV, "NESTED_HOST": "envA, envB"}, ini=ini)
    assert [t.label for t in s.targets] == ["envA", "envB"]  # env beats ini
    assert (s.auth, s.keep, str(s.report_dir), s.cert_validation) == ("kerberos", "always", "ini-reports", False)
    s = resolve(cli={"nested_host": ["cliHost"], "nested_auth": "ntlm", "nested_keep": "failed",
                     "nested_report_dir": "out", "nested_cert_validation": "true", "nested_user": "cliuser"},
                env={**ENV, "NESTED_HOST": "envA"}, ini=ini)
    assert [t.label for t in s.targets] == ["cliHost"]
    assert (s.auth, s.keep, str(s.report_dir), s.cert_validation, s.user) == ("ntlm", "failed", "out", True, "cliuser")
    s = resolve(cli={"nested_host": ["h"]})
    assert (s.auth, s.keep, str(s.report_dir), s.cert_validation, s.user) == ("negotiate", "never", "reports", True, "envuser")
    assert s.run_id == "abc123"


def test_ini_hosts_used_without_cli_or_env() -> None:
    s = resolve(ini={"nested_hosts": ["a", "sim"]})
    assert [t.label for t in s.targets] == ["a", "sim"]


def test_no_host_means_disabled_and_needs_nothing() -> None:
    s = resolve_settings({}, {}, {})
    assert not s.enabled and s.targets == () and len(s.run_id) == 6
    int(s.run_id, 16)


def test_passwords_are_secrets_and_never_in_repr() -> None:
    s = resolve(cli={"nested_host": ["hostA"]})
    assert isinstance(s.password, Secret) and s.password.reveal() == "Host-Pw-1234"
    assert s.guest_credential() is not None and s.guest_credential().password.reveal() == "Guest-Pw-5678"
    text = repr(s) + str(s) + repr(s.guest_credential())
    assert "Host-Pw-1234" not in text and "Guest-Pw-5678" not in text


def test_sim_needs_no_credentials() -> None:
    s = resolve_settings({"nested_host": ["sim"]}, {}, {})
    assert s.targets[0].is_sim and s.password is None


def test_cert_validation_path(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert resolve(cli={"nested_host": ["h"], "nested_cert_validation": str(ca)}).cert_validation == str(ca.resolve())


@pytest.mark.parametrize(("cli", "env", "expected"), [
    ({"nested_host": ["h"]}, {k: v for k, v in ENV.items() if k != "NESTED_HOST_PASSWORD"},
     "NESTED_HOST_PASSWORD is not set"),
    ({"nested_host": ["h"]}, {k: v for k, v in ENV.items() if k != "NESTED_HOST_USER"}, "--nested-user is not set"),
    ({"nested_host": ["h"]}, {k: v for k, v in ENV.items() if k != "NESTED_GUEST_PASSWORD"},
     "NESTED_GUEST_PASSWORD is not set"),
    ({"nested_host": ["h"]}, {k: v for k, v in ENV.items() if k != "NESTED_GUEST_USER"},
     "--nested-guest-user is not set"),
    ({"nested_host": ["http://h:5985"], "nested_auth": "basic"}, ENV, "--nested-allow-unencrypted"),
    ({"nested_host": ["h"], "nested_remediate": True}, ENV, "--nested-remediate needs --nested-vm"),
    ({"nested_host": ["h"], "nested_keep": "sometimes"}, ENV, "--nested-keep 'sometimes'"),
    ({"nested_host": ["h"], "nested_auth": "digest"}, ENV, "--nested-auth 'digest'"),
    ({"nested_host": ["h"], "nested_cert_validation": "/no/such/ca.pem"}, ENV, "--nested-cert-validation"),
    ({"nested_host": ["h"], "nested_base_image": None}, ENV, "--nested-base-image is not set"),
])
def test_bad_input_messages(cli: dict[str, Any], env: dict[str, str], expected: str) -> None:
    with pytest.raises(pytest.UsageError) as info:
        resolve(cli=cli, env=env)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert "Host-Pw-1234" not in message and "Guest-Pw-5678" not in message


def test_basic_over_http_allowed_with_flag_and_over_https() -> None:
    s = resolve(cli={"nested_host": ["http://h:5985"], "nested_auth": "basic", "nested_allow_unencrypted": True})
    assert s.auth == "basic" and s.allow_unencrypted
    assert resolve(cli={"nested_host": ["https://h"], "nested_auth": "basic"}).auth == "basic"


def test_existing_vm_mode_needs_no_base_image_or_guest() -> None:
    env = {"NESTED_HOST_USER": "u", "NESTED_HOST_PASSWORD": "pw-12345"}
    s = resolve_settings({"nested_host": ["h"], "nested_vm": "vm1", "nested_remediate": True}, env, {})
    assert s.vm == "vm1" and s.remediate and not s.provisioning and s.guest_credential() is None


def test_target_lookup() -> None:
    s = resolve(cli={"nested_host": ["a", "sim"]})
    assert isinstance(s.target("sim"), HostTarget)
    with pytest.raises(KeyError):
        s.target("nope")


def test_every_missing_input_is_named_in_one_message() -> None:
    with pytest.raises(pytest.UsageError) as info:
        resolve_settings({"nested_host": ["hostA"]}, {}, {})
    message = str(info.value)
    for name in ("--nested-user", "NESTED_HOST_PASSWORD", "--nested-base-image", "--nested-guest-user",
                 "NESTED_GUEST_PASSWORD"):
        assert f"{name} is not set" in message, message
    assert "\n" not in message


@pytest.mark.parametrize("spec", ["http://[::1:99999", "[::1", "https://[fe80::1/wsman"])
def test_malformed_address_is_a_usage_error(spec: str) -> None:
    with pytest.raises(pytest.UsageError) as info:
        parse_host(spec)
    assert str(info.value).startswith(f"--nested-host {spec!r}: not a valid address")


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_bad_progress_interval_is_one_line(value: str) -> None:
    with pytest.raises(pytest.UsageError) as info:
        resolve(cli={"nested_host": ["sim"]}, ini={"nested_progress_interval": value})
    assert str(info.value).startswith(f"nested_progress_interval {value!r}: give the seconds")


def test_progress_interval_from_ini() -> None:
    assert resolve(cli={"nested_host": ["sim"]}, ini={"nested_progress_interval": "0.5"}).progress_interval_s == 0.5
    assert resolve(cli={"nested_host": ["sim"]}).progress_interval_s == 30.0


# --nested-host=local --------------------------------------------------------------------------
GUEST_ONLY = {"NESTED_GUEST_USER": "Administrator", "NESTED_GUEST_PASSWORD": "Guest-Pw-5678"}


@pytest.mark.parametrize("spec", ["local", "LOCAL", " local "])
def test_local_form(spec: str) -> None:
    target = parse_host(spec)
    assert (target.kind, target.label, target.is_local, target.is_sim) == ("local", "local", True, False)
    assert target.describe() == "this machine (PowerShell over stdio)"


def test_local_needs_no_host_account_but_an_image_and_the_guest_account() -> None:
    s = resolve(cli={"nested_host": ["local"]}, env=GUEST_ONLY)
    assert s.user is None and s.password is None and s.guest_credential() is not None
    assert s.local_shell == "powershell.exe -NoLogo -NoProfile -NonInteractive -s"
    with pytest.raises(pytest.UsageError, match="NESTED_GUEST_PASSWORD is not set"):
        resolve(cli={"nested_host": ["local"]}, env={"NESTED_GUEST_USER": "Administrator"})
    with pytest.raises(pytest.UsageError, match="--nested-base-image is not set: give the path of a VHDX on local"):
        resolve_settings({"nested_host": ["local"]}, GUEST_ONLY, {}, run_id="abc123")


def test_local_shell_env_over_ini_and_bad_quoting_is_one_line() -> None:
    ini = {"nested_local_shell": "pwsh -NoLogo -s"}
    assert resolve(cli={"nested_host": ["local"]}, env=GUEST_ONLY, ini=ini).local_shell == "pwsh -NoLogo -s"
    env = {**GUEST_ONLY, "NESTED_LOCAL_SHELL": "pwsh -NoProfile -s"}
    assert resolve(cli={"nested_host": ["local"]}, env=env, ini=ini).local_shell == "pwsh -NoProfile -s"
    with pytest.raises(pytest.UsageError) as info:
        resolve(cli={"nested_host": ["local"]}, env={**GUEST_ONLY, "NESTED_LOCAL_SHELL": "pwsh \"-s"})
    assert "\n" not in str(info.value) and "NESTED_LOCAL_SHELL" in str(info.value) and "pwsh -NoLogo -s" in str(info.value)
    # not checked when no local target uses it
    assert resolve(cli={"nested_host": ["sim"]}, env={**ENV, "NESTED_LOCAL_SHELL": "pwsh \"-s"}).targets


def test_local_given_twice_is_refused_and_mixes_with_others() -> None:
    with pytest.raises(pytest.UsageError, match="given twice"):
        parse_hosts(["local", "Local"])
    assert [t.kind for t in parse_hosts(["local", "sim", "hostA"])] == ["local", "sim", "winrm"]
