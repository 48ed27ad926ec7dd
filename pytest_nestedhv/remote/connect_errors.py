"""Turn a failure to open a session into one line that tells the user what to fix."""
from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ConnectionFailed, one_line

if TYPE_CHECKING:
    from ..target import HostTarget

CERT_HINT = "pass --nested-cert-validation=PATH of the CA bundle that signed the host's certificate (or false to skip the check)"
LOCAL_HINT = "this machine is tested without WinRM with --nested-host=local (from an elevated prompt)"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "0:0:0:0:0:0:0:1"})


def is_this_machine(host: str) -> bool:
    """True if ``host`` names the machine the run is on (loopback, its name or its FQDN)."""
    name = host.lower().rstrip(".")
    return name in _LOOPBACK or name.startswith("127.") or name in _own_names()


@functools.cache
def _own_names() -> frozenset[str]:
    # getfqdn() asks DNS: once per run, not on every failed reconnect of a long wait
    try:
        own = {socket.gethostname().lower(), socket.getfqdn().lower()}
    except OSError:
        return frozenset()
    return frozenset(own | {n.split(".", 1)[0] for n in own})


def runs_on_this_machine(target: HostTarget) -> bool:
    """The target is the machine pytest runs on: ``local``, or WinRM to its own name or loopback."""
    return target.is_local or (target.kind == "winrm" and is_this_machine(target.host))


def _workgroup(host: str) -> bool:
    """An IP address or a single-label name: NTLM, not Kerberos (no domain to ask)."""
    return "." not in host or host.replace(".", "").isdigit() or ":" in host


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes, and what urllib3/requests wrapped inside their args."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nested in (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args):
            if isinstance(nested, BaseException):
                todo.append(nested)


def _any(exc: BaseException, *names: str) -> BaseException | None:
    for item in exception_chain(exc):
        if any(cls.__name__ in names for cls in type(item).__mro__):
            return item
    return None


def classify(exc: BaseException, target: HostTarget, user: str | None, auth: str,
             connect_timeout: float) -> ConnectionFailed:
    """A ConnectionFailed whose message names the host and the fix."""
    where = f"{target.host}:{target.port}"
    label = target.label
    chain = list(exception_chain(exc))

    def fail(message: str) -> ConnectionFailed:
        if target.kind == "winrm" and is_this_machine(target.host):
            message = f"{message}; {LOCAL_HINT}"
        return ConnectionFailed(f"{label}: {message}", target=label)

    if any(isinstance(e, ImportError) for e in chain) and auth in ("kerberos", "credssp"):
        return fail(f"--nested-auth {auth} needs its libraries: pip install \"pytest-nestedhv[{auth}]\"")
    if _any(exc, "AuthenticationError"):
        hint = ""
        if auth in ("negotiate", "ntlm") and target.kind == "winrm" and _workgroup(target.host) \
                and not is_this_machine(target.host):
            hint = ("; a workgroup host takes NTLM with one of its local administrators (user HOST\\NAME); "
                    "Windows' own client also needs it in TrustedHosts: "
                    f"Set-Item WSMan:\\localhost\\Client\\TrustedHosts -Value {target.host} -Concatenate")
        return fail(f"wrong credentials for user {user} on host {target.host} (NESTED_HOST_PASSWORD), auth {auth}{hint}")
    if any(isinstance(e, socket.gaierror) for e in chain) or _any(exc, "NameResolutionError"):
        return fail(f"cannot resolve the host name {target.host!r}: check --nested-host and DNS")
    tls = _any(exc, "SSLError", "SSLCertVerificationError")
    if tls is not None or any(isinstance(e, ssl.SSLError) for e in chain):
        text = " ".join(str(e) for e in chain)
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return fail(f"TLS handshake with {where} failed: the port speaks plain HTTP; use http://{where} or the HTTPS port")
        why = "certificate not trusted" if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text else "TLS error"
        return fail(f"TLS handshake with {where} failed ({why}); {CERT_HINT}")
    if _any(exc, "ConnectTimeout") or any(isinstance(e, (socket.timeout, TimeoutError)) for e in chain) and not _any(exc, "ReadTimeout"):
        return fail(f"cannot reach {where}: no answer within {connect_timeout:g} s (host down, firewall, or wrong address)")
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in " ".join(str(e) for e in chain).lower():
        if target.scheme == "https":
            return fail(f"{where} refused the connection: WinRM has no HTTPS listener there; on the host run "
                        "Enable-PSRemoting, then winrm quickconfig -transport:https (needs a server certificate), "
                        f"or use http://{target.host}:5985 (check the port)")
        return fail(f"{where} refused the connection: WinRM is not listening there; run Enable-PSRemoting on the "
                    "host (check the port)")
    if _any(exc, "ReadTimeout"):
        return fail(f"{target.url} accepted the connection but did not answer in time")
    transport = _any(exc, "WinRMTransportError")
    if transport is not None:
        code = getattr(transport, "code", "?")
        return fail(f"{target.url} answered HTTP {code}: is this a WinRM endpoint? check the port and the path")
    fault = _any(exc, "WSManFaultError")
    if fault is not None:
        reason = one_line(str(getattr(fault, "reason", "") or fault))
        if "Access is denied" in reason or str(getattr(fault, "code", "")) == "5":
            return fail(f"user {user} may not use PowerShell remoting on {target.host} (needs Administrators; a local "
                        "account other than Administrator on a workgroup host also needs LocalAccountTokenFilterPolicy=1 "
                        "under HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System); {reason}")
        return fail(f"WinRM on {target.host} refused to open a PowerShell session: {reason}")
    if _any(exc, "SpnegoError", "NegotiateOptions", "BadMechanismError", "OperationNotAvailableError"):
        return fail(f"authentication ({auth}) as {user} could not start: {one_line(str(exc))}")
    if _any(exc, "ConnectionError", "ConnectionResetError", "RemoteDisconnected", "ProtocolError"):
        return fail(f"the connection to {where} was dropped while opening the session: {one_line(str(exc))[:200]}")
    return fail(f"cannot open a session on {target.url}: {type(exc).__name__}: {one_line(str(exc))[:200]}")
