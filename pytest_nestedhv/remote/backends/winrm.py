"""A Windows host over WinRM: pypsrp's RunspacePool and PowerShell behind Session's Pool/Pipeline."""
from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ...secrets import Secret, SecretMask
from ..connect_errors import classify, exception_chain
from ..errors import ConnectionFailed, category_name
from ..objects import RemoteObject, convert, from_wire
from ..session import ErrorInfo, Session
from . import Opened

if TYPE_CHECKING:
    from ...config import Settings
    from ...target import HostTarget

log = logging.getLogger("pytest_nestedhv.remote")

# WSMan fault codes after which the pool is gone on the server and must be reopened
_POOL_GONE_CODES = frozenset({2150858843, 2150858752, 2150859046})  # shell not found, invalid selectors, disconnected
_TRANSIENT_HTTP = frozenset({502, 503, 504})


@dataclasses.dataclass(frozen=True)
class ConnectOptions:
    user: str
    password: Secret = dataclasses.field(repr=False)
    auth: str = "negotiate"
    cert_validation: bool | str = True  # str: CA bundle path
    encryption: str = "auto"  # "never" only for Basic over HTTP with --nested-allow-unencrypted
    connect_timeout: float = 5.0
    open_timeout: float = 8.0  # HTTP read timeout while opening: the whole open fails within ~10 s
    operation_timeout: int = 20  # WSMan OperationTimeout of a Receive
    read_timeout: float = 30.0  # must exceed operation_timeout
    default_timeout: float = 600.0  # a call without its own timeout
    read_retries: int = 5  # attempts for a read after a transient transport error
    retry_wait_max: float = 2.0
    no_proxy: bool = False  # loopback emulator: ignore proxy variables


def is_transient(exc: BaseException) -> bool:
    """Connection dropped / reset / timed out: worth one more try on a read."""
    names = {cls.__name__ for e in exception_chain(exc) for cls in type(e).__mro__}
    if "SSLError" in names or "AuthenticationError" in names:
        return False
    if "WinRMTransportError" in names:
        return any(getattr(e, "code", None) in _TRANSIENT_HTTP for e in exception_chain(exc))
    return bool(names & {"ConnectionError", "Timeout", "ChunkedEncodingError", "ProtocolError",
                         "ConnectionResetError", "RemoteDisconnected", "IncompleteRead"})


def dropped(exc: BaseException) -> bool:
    """An established connection was closed or reset under us (not: refused, unknown host)."""
    names = {cls.__name__ for e in exception_chain(exc) for cls in type(e).__mro__}
    if names & {"NewConnectionError", "NameResolutionError", "ConnectTimeout", "SSLError", "gaierror"}:
        return False
    return bool(names & {"RemoteDisconnected", "ConnectionResetError", "ConnectionAbortedError", "BrokenPipeError",
                         "ChunkedEncodingError", "IncompleteRead"})


def host_gone(exc: BaseException) -> bool:
    """What a host that crashed or is rebooting looks like: the connection reset, refused, dropped or
    timed out. Not: a TLS or credential problem, an unknown name, or an error record (the host answered)."""
    names = {cls.__name__ for e in exception_chain(exc) for cls in type(e).__mro__}
    if names & {"SSLError", "AuthenticationError", "NameResolutionError", "gaierror", "WSManFaultError"}:
        return False
    return is_transient(exc) or bool(names & {"ConnectionRefusedError", "NewConnectionError", "ConnectTimeout",
                                              "ReadTimeout", "TimeoutError"})


def pool_gone(exc: BaseException) -> bool:
    for e in exception_chain(exc):
        if type(e).__name__ == "WSManFaultError" and getattr(e, "code", None) in _POOL_GONE_CODES:
            return True
        if type(e).__name__ == "InvalidRunspacePoolStateError":
            return True
    return False


class WinRMConnector:
    """Opens pypsrp runspace pools to one WinRM endpoint."""

    def __init__(self, target: HostTarget, options: ConnectOptions) -> None:
        self.target = target
        self.options = options
        self.user: str | None = options.user
        self.secret: Secret | None = options.password
        self.operation_timeout = options.operation_timeout
        self.default_timeout = options.default_timeout
        self.read_retries = options.read_retries
        self.retry_wait_max = options.retry_wait_max

    def classify(self, exc: BaseException) -> ConnectionFailed:
        o = self.options
        return classify(exc, self.target, o.user, o.auth, o.connect_timeout)

    is_transient = staticmethod(is_transient)
    dropped = staticmethod(dropped)
    pool_gone = staticmethod(pool_gone)
    host_gone = staticmethod(host_gone)

    def open(self) -> _Pool:
        from pypsrp.powershell import RunspacePool
        from pypsrp.wsman import WSMan

        o = self.options
        wsman = WSMan(
            self.target.host,
            port=self.target.port,
            path="wsman",
            ssl=self.target.scheme == "https",
            auth=o.auth,
            username=o.user,
            password=o.password.reveal(),
            cert_validation=o.cert_validation,
            encryption=o.encryption,
            connection_timeout=o.connect_timeout,  # type: ignore[arg-type]  # requests takes floats
            read_timeout=o.open_timeout,  # type: ignore[arg-type]
            operation_timeout=max(1, min(o.operation_timeout, int(o.open_timeout) - 2)),
            no_proxy=o.no_proxy,
            reconnection_retries=0,
            reconnection_backoff=0.5,
        )
        _settle_environment(wsman)
        pool = RunspacePool(wsman)
        try:
            pool.open()
        except BaseException:
            wsman.close()
            raise
        # open done: from now on calls may take as long as their own deadline allows
        wsman.operation_timeout = o.operation_timeout
        wsman.transport.read_timeout = o.read_timeout
        return _Pool(pool, wsman)


class _Pool:
    def __init__(self, pool: Any, wsman: Any) -> None:
        self._pool = pool
        self._wsman = wsman

    def exchange_keys(self) -> None:
        self._pool.exchange_keys()

    def pipeline(self) -> _Pipeline:
        from pypsrp.powershell import PowerShell

        return _Pipeline(PowerShell(self._pool))

    def close(self) -> None:
        try:
            self._pool.close()
        finally:
            self._wsman.close()

    def discard(self) -> None:
        self._wsman.close()


class _Pipeline:
    """pypsrp's PowerShell, fed plugin values and read as RemoteObject/ErrorInfo."""

    def __init__(self, ps: Any) -> None:
        self._ps = ps

    def add_cmdlet(self, name: str) -> None:
        self._ps.add_cmdlet(name)

    def add_script(self, text: str) -> None:
        self._ps.add_script(text)

    def add_parameter(self, name: str, value: Any) -> None:
        from ..wire import to_wire

        self._ps.add_parameter(name, to_wire(value))

    def add_argument(self, value: Any) -> None:
        from ..wire import to_wire

        self._ps.add_argument(to_wire(value))

    def add_statement(self) -> None:
        self._ps.add_statement()

    def begin_invoke(self) -> None:
        self._ps.begin_invoke()

    @property
    def running(self) -> bool:
        from pypsrp.complex_objects import PSInvocationState

        return bool(self._ps.state == PSInvocationState.RUNNING)

    def poll_invoke(self, timeout: int) -> None:
        self._ps.poll_invoke(timeout=timeout)

    def stop(self) -> None:
        self._ps.stop()

    @property
    def had_errors(self) -> bool:
        return bool(self._ps.had_errors)

    @property
    def output(self) -> list[RemoteObject]:
        return [from_wire(o) for o in self._ps.output]

    @property
    def errors(self) -> list[ErrorInfo]:
        out = []
        for record in self._ps.streams.error:
            message = str(record) or str(getattr(record, "message", "") or "error")
            target = getattr(record, "target_object", None)
            out.append(ErrorInfo(message, fqid=str(getattr(record, "fq_error", "") or ""),
                                 category=category_name(getattr(record, "category", None)),
                                 target=None if target is None else str(convert(target))))
        return out

    @property
    def warnings(self) -> list[str]:
        # a WarningRecord's str() is None
        return [str(getattr(w, "message", None) or w) for w in getattr(self._ps.streams, "warning", [])]


class WinRMBackend:
    """``--nested-host NAME``: a Windows host with PowerShell remoting over WinRM."""

    def prepare(self, target: HostTarget, mask: SecretMask) -> None:
        return None

    def open(self, target: HostTarget, settings: Settings, mask: SecretMask, prepared: Any) -> Opened:
        s = settings
        assert s.user is not None and s.password is not None  # checked by config
        basic_http = s.auth == "basic" and target.scheme == "http"
        options = ConnectOptions(user=s.user, password=s.password, auth=s.auth, cert_validation=s.cert_validation,
                                 encryption="never" if basic_http else "auto")
        session = Session(target, WinRMConnector(target, options), mask=mask)
        session.open()
        return Opened(target, session, s.guest_credential(), s.base_image, s.inner_image)


def _settle_environment(wsman: Any) -> None:
    """Read the proxy and CA settings from the environment once, now, instead of on every request.

    requests re-reads os.environ on each send while trust_env is set; a session used from a
    background thread would then iterate os.environ while pytest's main thread sets and deletes
    PYTEST_CURRENT_TEST (KeyError mid-iteration). pypsrp merged the environment's settings into
    the session it builds, so nothing is lost by building it here and no longer trusting env."""
    transport = wsman.transport
    if getattr(transport, "session", None) is None:
        transport.session = transport._build_session()  # why private: pypsrp builds it lazily otherwise
    transport.session.trust_env = False
