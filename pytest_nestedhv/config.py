"""One typed Settings object from CLI > environment > ini > default.

Every bad input is a ``pytest.UsageError`` whose message is one line naming the option and
what to do. Passwords come only from environment variables and live in ``Secret``.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from .secrets import GuestCredential, Secret
from .target import LOCAL_LABEL, HostTarget

AUTHS = ("negotiate", "ntlm", "kerberos", "credssp", "basic")
KEEP_CHOICES = ("never", "failed", "always")
DEFAULT_PORTS = {"https": 5986, "http": 5985}
HOST_FORMS = "use NAME, NAME:PORT, https://NAME:PORT, http://NAME:PORT, local, sim or sim:SCENARIO"
# how a local target starts PowerShell: the out-of-process server mode (-s) on stdin/stdout
DEFAULT_LOCAL_SHELL = "powershell.exe -NoLogo -NoProfile -NonInteractive -s"

ENV_HOST = "NESTED_HOST"
ENV_USER = "NESTED_HOST_USER"
ENV_PASSWORD = "NESTED_HOST_PASSWORD"
ENV_GUEST_USER = "NESTED_GUEST_USER"
ENV_GUEST_PASSWORD = "NESTED_GUEST_PASSWORD"
ENV_HISTORY = "NESTED_HISTORY"
ENV_SLOWDOWN_FACTOR = "NESTED_SLOWDOWN_FACTOR"
DEFAULT_SLOWDOWN_FACTOR = 1.5
ENV_LOCAL_SHELL = "NESTED_LOCAL_SHELL"
ENV_REBOOT_TIMEOUT = "NESTED_HOST_REBOOT_TIMEOUT"
DEFAULT_REBOOT_TIMEOUT_S = 1800.0  # 30 minutes: a host writing a full memory dump takes long to come back

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_USERINFO = re.compile(r"(^|//)[^/@]*@")  # user[:password]@ in a host spec
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_SCENARIO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Keep = Literal["never", "failed", "always"]


@dataclasses.dataclass(frozen=True)
class Settings:
    targets: tuple[HostTarget, ...] = ()
    user: str | None = None
    password: Secret | None = dataclasses.field(default=None, repr=False)
    auth: str = "negotiate"
    cert_validation: bool | str = True  # str: a CA bundle path
    allow_unencrypted: bool = False
    base_image: str | None = None
    guest_user: str | None = None
    guest_password: Secret | None = dataclasses.field(default=None, repr=False)
    inner_image: str | None = None
    switch: str | None = None  # the host's virtual switch for the L1; None: picked from Get-VMSwitch
    vm: str | None = None
    remediate: bool = False
    keep: Keep = "never"
    report_dir: Path = Path("reports")
    run_id: str = ""
    history: Path | None = None  # the history database; None: REPORT_DIR/history.sqlite
    slowdown_factor: float = DEFAULT_SLOWDOWN_FACTOR  # a step this many times slower than before is flagged
    local_shell: str = DEFAULT_LOCAL_SHELL  # the command a local target starts
    host_reboot_timeout_s: float = DEFAULT_REBOOT_TIMEOUT_S  # waiting for a host that stopped answering
    progress_interval_s: float = 30.0  # real seconds between progress lines of a long lab step

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    @property
    def provisioning(self) -> bool:
        """True when the run builds its own L1 (no --nested-vm)."""
        return self.vm is None

    def guest_credential(self) -> GuestCredential | None:
        if self.guest_user and self.guest_password is not None:
            return GuestCredential(self.guest_user, self.guest_password)
        return None

    def secrets(self) -> list[Secret]:
        return [s for s in (self.password, self.guest_password) if s is not None]

    def target(self, label: str) -> HostTarget:
        for target in self.targets:
            if target.label == label:
                return target
        raise KeyError(label)


def new_run_id() -> str:
    """A short random hex id that names everything this run creates."""
    return os.urandom(3).hex()  # what secrets.token_hex does, without importing secrets/hmac at start-up


# host specs --------------------------------------------------------------------------------
def _bad_host(spec: str, why: str) -> pytest.UsageError:
    return pytest.UsageError(f"--nested-host {_without_userinfo(spec)!r}: {why}; {HOST_FORMS}")


def _without_userinfo(spec: str) -> str:
    """The spec as it may be shown: ``user:password@`` before the host becomes ``***@`` (a host
    spec with credentials in it is refused, and the refusal must not print them)."""
    return _USERINFO.sub(r"\1***@", spec)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host)) and not host.replace(".", "").isdigit()


def parse_host(spec: str) -> HostTarget:
    """``hostA``, ``hostA:5986``, ``https://hostA:5986``, ``http://hostA:5985``, ``sim``,
    ``sim:NAME``, ``sim:PATH.toml``. A bare name means HTTPS on 5986."""
    text = spec.strip()
    if not text:
        raise _bad_host(spec, "empty")
    if text.lower() == LOCAL_LABEL:
        return HostTarget(LOCAL_LABEL, "stdio", "localhost", 0, kind="local", spec=text)
    if text == "sim":
        return HostTarget("sim", "https", "127.0.0.1", 0, kind="sim", spec=text)
    if text.startswith("sim:"):
        return _parse_sim(spec, text[4:])
    scheme = "https"
    if "://" in text:
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise _bad_host(spec, f"scheme {scheme!r} is not http or https")
    else:
        rest = text
    try:
        parts = urllib.parse.urlsplit(f"//{rest}")
    except ValueError as err:  # e.g. "Invalid IPv6 URL" for an unclosed [
        raise _bad_host(spec, f"not a valid address ({err}); write an IPv6 address as [ADDRESS]") from None
    if parts.username or parts.password:
        raise _bad_host(spec, "credentials do not belong in the host (use --nested-user and NESTED_HOST_PASSWORD)")
    if parts.query or parts.fragment or parts.path not in ("", "/", "/wsman"):
        raise _bad_host(spec, "only the path /wsman is allowed")
    host = parts.hostname or ""
    at = rest.lower().find(host)
    if host and at >= 0:
        host = rest[at:at + len(host)]  # urlsplit lowercases; the label keeps the user's spelling
    try:
        port = parts.port
    except ValueError:
        raise _bad_host(spec, "the port is not a number from 1 to 65535") from None
    if not host or not _valid_host(host):
        raise _bad_host(spec, "not a host name or IP address")
    if port is not None and not 1 <= port <= 65535:
        raise _bad_host(spec, "the port is not a number from 1 to 65535")
    port = port or DEFAULT_PORTS[scheme]
    return HostTarget(host, scheme, host, port, spec=text)


def _parse_sim(spec: str, scenario: str) -> HostTarget:
    if not scenario:
        raise _bad_host(spec, "no scenario after 'sim:'")
    if scenario.lower().endswith(".toml"):
        stem = Path(scenario).stem
        label = "sim-" + re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")
        return HostTarget(label, "https", "127.0.0.1", 0, kind="sim", scenario=scenario, spec=spec.strip())
    if not _SCENARIO_NAME.match(scenario):
        raise _bad_host(spec, f"{scenario!r} is not a scenario name or a .toml file")
    return HostTarget(f"sim-{scenario}", "https", "127.0.0.1", 0, kind="sim", scenario=scenario, spec=spec.strip())


def parse_hosts(specs: Sequence[str]) -> tuple[HostTarget, ...]:
    targets: list[HostTarget] = []
    for spec in specs:
        target = parse_host(spec)
        for seen in targets:
            if (seen.host, seen.port, seen.scenario, seen.kind) == (target.host, target.port, target.scenario, target.kind):
                raise pytest.UsageError(f"--nested-host {spec!r} is given twice; name each host once")
        if any(seen.label == target.label for seen in targets):
            # same name on another port: the port tells them apart in test ids
            target = dataclasses.replace(target, label=f"{target.label}-{target.port}")
        targets.append(target)
    return tuple(targets)


# resolution --------------------------------------------------------------------------------
def _first(*values: Any) -> Any:
    """The first value that was actually given (CLI, then env, then ini)."""
    for value in values:
        if value is None or value == "" or value == [] or value == ():
            continue
        return value
    return None


def _parse_bool_or_path(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    path = Path(text).expanduser()
    if not path.is_file():
        raise pytest.UsageError(
            f"--nested-cert-validation {text!r}: not true, false or an existing CA bundle file; "
            "give the path of the CA certificate (PEM) that signed the host's WinRM certificate"
        )
    return str(path.resolve())


def _parse_reboot_timeout(value: Any) -> float:
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise pytest.UsageError(f"--nested-host-reboot-timeout {text!r}: give the seconds to wait for a host that "
                                f"stopped answering to come back (a number > 0; default {DEFAULT_REBOOT_TIMEOUT_S:.0f})")
    return seconds


def _hosts_from(cli: Any, env: str | None, ini: Any) -> list[str]:
    if cli:
        return [str(h) for h in cli]
    if env and env.strip():
        return [h for h in (p.strip() for p in env.split(",")) if h]
    return [str(h) for h in (ini or []) if str(h).strip()]


def resolve_settings(
    cli: Mapping[str, Any],
    env: Mapping[str, str],
    ini: Mapping[str, Any],
    *,
    run_id: str | None = None,
) -> Settings:
    """Build Settings. ``cli`` and ``ini`` are keyed by the option name without dashes
    (``nested_host``, ``nested_auth``...); missing or empty means not given."""
    targets = parse_hosts(_hosts_from(cli.get("nested_host"), env.get(ENV_HOST), ini.get("nested_hosts")))

    auth = str(_first(cli.get("nested_auth"), ini.get("nested_auth"), "negotiate")).strip().lower()
    if auth not in AUTHS:
        raise pytest.UsageError(f"--nested-auth {auth!r}: use one of {', '.join(AUTHS)}")
    keep = str(_first(cli.get("nested_keep"), ini.get("nested_keep"), "never")).strip().lower()
    if keep not in KEEP_CHOICES:
        raise pytest.UsageError(f"--nested-keep {keep!r}: use never, failed or always")
    cert = _parse_bool_or_path(_first(cli.get("nested_cert_validation"), ini.get("nested_cert_validation"), True))
    allow_unencrypted = bool(cli.get("nested_allow_unencrypted"))
    report_dir = str(_first(cli.get("nested_report_dir"), ini.get("nested_report_dir"), "reports")).strip()
    if not report_dir:
        raise pytest.UsageError("--nested-report-dir is empty: give a directory for the reports")
    history = str(_first(cli.get("nested_history"), env.get(ENV_HISTORY), ini.get("nested_history")) or "").strip()
    slowdown_factor = _slowdown_factor(
        _first(cli.get("nested_slowdown_factor"), env.get(ENV_SLOWDOWN_FACTOR), ini.get("nested_slowdown_factor")))
    reboot_timeout = _parse_reboot_timeout(_first(cli.get("nested_host_reboot_timeout"), env.get(ENV_REBOOT_TIMEOUT),
                                                   ini.get("nested_host_reboot_timeout"), DEFAULT_REBOOT_TIMEOUT_S))
    progress_text = str(_first(ini.get("nested_progress_interval"), "30")).strip()
    try:
        progress_interval = float(progress_text)
    except ValueError:
        progress_interval = -1.0
    if not progress_interval > 0:
        raise pytest.UsageError(f"nested_progress_interval {progress_text!r}: give the seconds between progress "
                                "lines as a number above 0 (default 30)")
    vm = _first(cli.get("nested_vm"))
    remediate = bool(cli.get("nested_remediate"))
    if remediate and not vm:
        raise pytest.UsageError(
            "--nested-remediate needs --nested-vm NAME: it only changes an existing VM you name"
        )
    if vm is not None and not str(vm).strip():
        raise pytest.UsageError("--nested-vm is empty: give the name of an existing VM on the host")

    user = _first(cli.get("nested_user"), env.get(ENV_USER))
    password_text = env.get(ENV_PASSWORD) or None
    guest_user = _first(cli.get("nested_guest_user"), env.get(ENV_GUEST_USER))
    guest_password_text = env.get(ENV_GUEST_PASSWORD) or None
    base_image = _first(cli.get("nested_base_image"), ini.get("nested_base_image"))
    inner_image = _first(cli.get("nested_inner_image"), ini.get("nested_inner_image"))
    switch = _first(cli.get("nested_switch"), ini.get("nested_switch"))

    remote = [t for t in targets if t.kind == "winrm"]  # reached with the host's credentials
    real = [t for t in targets if not t.is_sim]  # a real Windows: needs an image and a guest account
    # every missing input in one message: a run per missing option is a slow way to learn them
    missing: list[str] = []
    if remote:
        names = ", ".join(t.label for t in remote)
        if auth == "basic":
            for t in remote:
                if t.scheme == "http" and not allow_unencrypted:
                    raise pytest.UsageError(
                        f"--nested-auth basic over {t.url} would send the password unencrypted: use https, "
                        "another --nested-auth, or add --nested-allow-unencrypted"
                    )
        if not user:
            missing.append(f"--nested-user is not set: give the account on {names} (or set {ENV_USER})")
        if not password_text:
            missing.append(f"{ENV_PASSWORD} is not set: put the password of {user or 'that account'} on {names} "
                           "in that environment variable (it is never taken from the command line)")
    if real:
        names = ", ".join(t.label for t in real)
        if vm is None and not base_image:
            missing.append(f"--nested-base-image is not set: give the path of a VHDX on {names} for the L1 "
                           "guest OS (or use --nested-vm NAME to validate an existing VM)")
        if vm is None and not guest_user:
            missing.append(f"--nested-guest-user is not set: give the L1 guest's administrator account "
                           f"(or set {ENV_GUEST_USER})")
        if (guest_user or vm is None) and not guest_password_text:
            missing.append(f"{ENV_GUEST_PASSWORD} is not set: put the password of the guest account"
                           f"{' ' + str(guest_user) if guest_user else ''} in that environment variable")
    if missing:
        raise pytest.UsageError("; ".join(missing))
    local_shell = str(_first(env.get(ENV_LOCAL_SHELL), ini.get("nested_local_shell"), DEFAULT_LOCAL_SHELL)).strip()
    if any(t.is_local for t in targets):
        _check_local_shell(local_shell)

    return Settings(
        targets=targets,
        user=str(user) if user else None,
        password=Secret(password_text) if password_text else None,
        auth=auth,
        cert_validation=cert,
        allow_unencrypted=allow_unencrypted,
        base_image=str(base_image) if base_image else None,
        guest_user=str(guest_user) if guest_user else None,
        guest_password=Secret(guest_password_text) if guest_password_text else None,
        inner_image=str(inner_image) if inner_image else None,
        switch=str(switch) if switch else None,
        vm=str(vm).strip() if vm else None,
        remediate=remediate,
        keep=keep,  # type: ignore[arg-type]  # checked against KEEP_CHOICES above
        report_dir=Path(report_dir),
        run_id=run_id or new_run_id(),
        history=Path(history).expanduser() if history else None,
        slowdown_factor=slowdown_factor,
        local_shell=local_shell,
        host_reboot_timeout_s=reboot_timeout,
        progress_interval_s=progress_interval,
    )


def _slowdown_factor(value: Any) -> float:
    if value is None:
        return DEFAULT_SLOWDOWN_FACTOR
    try:
        factor = float(str(value).strip())
    except ValueError:
        factor = 0.0
    if not factor > 1.0 or factor == float("inf"):
        raise pytest.UsageError(
            f"--nested-slowdown-factor {value!r}: give a number greater than 1, e.g. 1.5 "
            "(a step slower than that many times its usual duration is flagged)")
    return factor


def _check_local_shell(command: str) -> None:
    import shlex

    try:
        argv = shlex.split(command, posix=os.name != "nt")
    except ValueError as exc:
        raise pytest.UsageError(f"nested_local_shell / {ENV_LOCAL_SHELL} {command!r}: {exc}; "
                                "give a command such as 'pwsh -NoLogo -s'") from None
    if not argv:
        raise pytest.UsageError(f"nested_local_shell / {ENV_LOCAL_SHELL} is empty; give a command such as "
                                "'pwsh -NoLogo -s'")


_BARE_ARG = re.compile(r"[A-Za-z0-9_@%+=:,./\\-]+")


def _arg(option: str, value: object) -> str:
    text = str(value)
    if _BARE_ARG.fullmatch(text):
        return f"{option}={text}"
    return f"{option}='{text}'" if "'" not in text else f'{option}="{text}"'


def reproduce_command(settings: Settings, target: HostTarget) -> tuple[str, tuple[str, ...]]:
    """The command that runs the suite again against ``target`` with every --nested-* option
    this run used (resolved from CLI, environment and ini), and the names of the environment
    variables it needs: secrets are never written, only where they come from."""
    remote = target.kind == "winrm"  # reached with the host's credentials
    real = not target.is_sim  # a real Windows: its own images and guest account
    args = ["pytest", "--pyargs", "pytest_nestedhv.suites", _arg("--nested-host", target.spec or target.label)]
    valued: list[tuple[str, object | None]] = [
        ("--nested-user", settings.user if remote else None),
        ("--nested-auth", settings.auth if remote and settings.auth != "negotiate" else None),
        ("--nested-cert-validation", None if settings.cert_validation is True or not remote
         else str(settings.cert_validation).lower() if isinstance(settings.cert_validation, bool)
         else settings.cert_validation),
        ("--nested-base-image", settings.base_image), ("--nested-guest-user", settings.guest_user if real else None),
        ("--nested-inner-image", settings.inner_image), ("--nested-switch", settings.switch),
        ("--nested-vm", settings.vm), ("--nested-keep", settings.keep if settings.keep != "never" else None),
        ("--nested-history", settings.history),
        ("--nested-slowdown-factor", settings.slowdown_factor
         if settings.slowdown_factor != DEFAULT_SLOWDOWN_FACTOR else None),
        ("--nested-host-reboot-timeout", f"{settings.host_reboot_timeout_s:g}"
         if settings.host_reboot_timeout_s != DEFAULT_REBOOT_TIMEOUT_S else None),
    ]
    args += [_arg(option, value) for option, value in valued if value]
    if settings.allow_unencrypted and remote:
        args.append("--nested-allow-unencrypted")
    if settings.remediate:
        args.append("--nested-remediate")
    env = [name for name, secret, needed in ((ENV_PASSWORD, settings.password, remote),
                                             (ENV_GUEST_PASSWORD, settings.guest_password, real))
           if needed and secret is not None]
    if target.is_local and settings.local_shell != DEFAULT_LOCAL_SHELL:
        env.append(ENV_LOCAL_SHELL)  # the shell this run started, e.g. pwsh
    return " ".join(args), tuple(env)


CLI_OPTIONS = (
    "nested_host", "nested_user", "nested_auth", "nested_cert_validation", "nested_allow_unencrypted",
    "nested_base_image", "nested_guest_user", "nested_inner_image", "nested_switch", "nested_vm",
    "nested_remediate", "nested_keep", "nested_report_dir", "nested_history", "nested_slowdown_factor",
    "nested_host_reboot_timeout",
)
INI_KEYS = (
    "nested_hosts", "nested_auth", "nested_cert_validation", "nested_base_image", "nested_inner_image",
    "nested_switch", "nested_keep", "nested_report_dir", "nested_history", "nested_slowdown_factor",
    "nested_local_shell", "nested_progress_interval", "nested_host_reboot_timeout",
)


def settings_from_config(config: pytest.Config, *, run_id: str | None = None,
                         environ: Mapping[str, str] | None = None) -> Settings:
    cli = {name: config.getoption(name, default=None) for name in CLI_OPTIONS}
    ini = {name: config.getini(name) for name in INI_KEYS}
    return resolve_settings(cli, os.environ if environ is None else environ, ini, run_id=run_id)
