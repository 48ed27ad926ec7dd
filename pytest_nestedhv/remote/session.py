"""One PowerShell remoting session (one pypsrp runspace pool) to one host.

Every call is a structured pipeline; every call has a deadline; transient transport errors
on reads are retried (bounded, with backoff); a pool that broke is reopened. pypsrp is
imported when a session opens, never when the plugin loads.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import tenacity

from .commands import Cmd, Pipeline, is_read_only
from .connect_errors import classify, exception_chain
from .errors import ConnectionFailed, HostUnreachable, RemoteError, RemoteTimeout, category_name, one_line
from .objects import RemoteObject, convert, from_wire
from .secrets import GuestCredential, Secret, SecretMask
from .transcript import GUEST_PREFIX, HOST, Transcript, TranscriptEntry, render_pipeline

if TYPE_CHECKING:
    from ..config import HostTarget

log = logging.getLogger("pytest_nestedhv.remote")

TRAMPOLINE = "Invoke-InGuest.ps1"
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


class _Retry(Exception):
    """An attempt failed in a way that is safe to repeat; carries the cause."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def is_transient(exc: BaseException) -> bool:
    """Connection dropped / reset / timed out: worth one more try on a read."""
    names = {cls.__name__ for e in exception_chain(exc) for cls in type(e).__mro__}
    if "SSLError" in names or "AuthenticationError" in names:
        return False
    if "WinRMTransportError" in names:
        return any(getattr(e, "code", None) in _TRANSIENT_HTTP for e in exception_chain(exc))
    return bool(names & {"ConnectionError", "Timeout", "ChunkedEncodingError", "ProtocolError",
                         "ConnectionResetError", "RemoteDisconnected", "IncompleteRead"})


def is_host_gone(exc: BaseException) -> bool:
    """What a host that crashed or is rebooting looks like: the connection reset, refused, dropped or
    timed out. Not: a TLS or credential problem, an unknown name, or an error record (the host answered)."""
    names = {cls.__name__ for e in exception_chain(exc) for cls in type(e).__mro__}
    if names & {"SSLError", "AuthenticationError", "NameResolutionError", "gaierror", "WSManFaultError"}:
        return False
    return is_transient(exc) or bool(names & {"ConnectionRefusedError", "NewConnectionError", "ConnectTimeout",
                                              "ReadTimeout", "TimeoutError"})


def _dropped(exc: BaseException) -> bool:
    """An established connection was closed or reset under us (not: refused, unknown host)."""
    names = {cls.__name__ for e in exception_chain(exc) for cls in type(e).__mro__}
    if names & {"NewConnectionError", "NameResolutionError", "ConnectTimeout", "SSLError", "gaierror"}:
        return False
    return bool(names & {"RemoteDisconnected", "ConnectionResetError", "ConnectionAbortedError", "BrokenPipeError",
                         "ChunkedEncodingError", "IncompleteRead"})


def _pool_gone(exc: BaseException) -> bool:
    for e in exception_chain(exc):
        if type(e).__name__ == "WSManFaultError" and getattr(e, "code", None) in _POOL_GONE_CODES:
            return True
        if type(e).__name__ == "InvalidRunspacePoolStateError":
            return True
    return False


class Session:
    """A pypsrp runspace pool to ``target``; open it before use, close it at the end."""

    def __init__(
        self,
        target: HostTarget,
        options: ConnectOptions,
        *,
        mask: SecretMask | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        self.target = target
        self.options = options
        self.mask = mask or SecretMask()
        self.mask.add(options.password)
        self.transcript = transcript or Transcript()
        self.last_errors: list[RemoteError] = []
        self.calls = 0  # invocations sent (for benchmarks)
        self._pool: Any = None
        self._wsman: Any = None
        self._keys = False
        self._trampoline: str | None = None
        self._was_open = False  # once open, failing to reach the host again means it went away

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"<Session {self.target.label} {self.target.url} as {self.options.user} ({state})>"

    def __enter__(self) -> Session:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    # lifecycle -----------------------------------------------------------------------------
    def open(self) -> None:
        """Open the runspace pool; any failure is a one-line ConnectionFailed."""
        if self._pool is not None:
            return
        try:
            self._pool = self._open_with_retries()
        except ConnectionFailed:
            raise
        except Exception as exc:  # pypsrp, requests, spnego... all mean "cannot use this host"
            failure = classify(exc, self.target, self.options.user, self.options.auth, self.options.connect_timeout)
            log.debug("opening %s failed: %s", self.target.label, self.mask.mask(repr(exc)))
            gone = self._was_open and is_host_gone(exc)
            raise (HostUnreachable if gone else ConnectionFailed)(self.mask.mask(str(failure)),
                                                                  target=self.target.label) from None

    def _open_with_retries(self) -> Any:
        # only a connection dropped mid-way is retried: refused, unknown name, TLS or bad
        # credentials fail at once, so a wrong setting is reported within seconds
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception(_dropped),
            stop=tenacity.stop_after_attempt(6),
            wait=tenacity.wait_exponential(multiplier=0.1, max=1.0),
            reraise=True,
        ):
            with attempt:
                return self._open_pool()
        raise AssertionError("unreachable")

    def _open_pool(self) -> Any:
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
        pool = RunspacePool(wsman)
        try:
            pool.open()
        except BaseException:
            wsman.close()
            raise
        # open done: from now on calls may take as long as their own deadline allows
        wsman.operation_timeout = o.operation_timeout
        wsman.transport.read_timeout = o.read_timeout
        self._wsman = wsman
        self._keys = False
        self._was_open = True
        log.info("session open: %s (%s)", self.target.label, self.target.describe())
        return pool

    def close(self) -> None:
        pool, wsman = self._pool, self._wsman
        self._pool = self._wsman = None
        if pool is None:
            return
        try:
            pool.close()
        except Exception as exc:  # closing a broken pool must not hide the real result
            log.debug("closing the pool of %s: %s", self.target.label, one_line(str(exc)))
        finally:
            if wsman is not None:
                wsman.close()

    def reopen(self) -> None:
        log.info("reopening the session to %s", self.target.label)
        self._discard()
        self.open()

    def _discard(self) -> None:
        """Forget a broken pool without talking to it (it may not answer)."""
        wsman = self._wsman
        self._pool = self._wsman = None
        if wsman is not None:
            wsman.close()

    def _ensure_pool(self) -> Any:
        if self._pool is None:
            self.open()
        return self._pool

    def _ensure_keys(self, pool: Any) -> None:
        if not self._keys:
            pool.exchange_keys()
            self._keys = True

    # calls ---------------------------------------------------------------------------------
    def run(self, *cmds: Cmd, timeout: float | None = None, check: bool = True) -> list[RemoteObject]:
        """Run one pipeline (``cmds`` piped into each other) on the host."""
        if not cmds:
            raise ValueError("run() needs at least one Cmd")
        return self.run_statements([tuple(cmds)], timeout=timeout, check=check)

    def run_statements(self, pipelines: Sequence[Pipeline | Cmd], *, timeout: float | None = None,
                       check: bool = True) -> list[RemoteObject]:
        """Several statements in one invocation; their output comes back as one list."""
        statements = [p if isinstance(p, tuple) else (p,) for p in pipelines]
        if not statements or any(not p for p in statements):
            raise ValueError("run_statements() needs non-empty pipelines")

        def build(ps: Any) -> None:
            from .wire import add_pipeline

            for i, pipeline in enumerate(statements):
                if i:
                    ps.add_statement()
                add_pipeline(ps, pipeline)

        keys = any(_needs_keys(cmd) for p in statements for cmd in p)
        return self._call(statements, HOST, build, keys=keys, read_only=all(is_read_only(p) for p in statements),
                          timeout=timeout, check=check)

    def in_guest(self, vm_name: str, cred: GuestCredential, cmd: Cmd, timeout: float | None = None,
                 check: bool = True) -> list[RemoteObject]:
        """Run one cmdlet inside a VM through PowerShell Direct (the fixed trampoline script)."""
        self.mask.add(cred.password)
        script = self._trampoline_text()

        def build(ps: Any) -> None:
            from .wire import to_wire

            ps.add_script(script)
            ps.add_parameter("VMName", vm_name)
            ps.add_parameter("Credential", to_wire(cred))
            ps.add_parameter("Command", cmd.name)
            ps.add_parameter("Parameters", {key: to_wire(value) for key, value in cmd.params})

        return self._call([(cmd,)], GUEST_PREFIX + vm_name, build, keys=True, read_only=cmd.is_read_only,
                          timeout=timeout, check=check)

    def _trampoline_text(self) -> str:
        if self._trampoline is None:
            self._trampoline = resources.files(__package__).joinpath("scripts", TRAMPOLINE).read_text("utf-8")
        return self._trampoline

    # the invocation machinery --------------------------------------------------------------
    def _call(self, statements: list[Pipeline], where: str, build: Callable[[Any], None], *, keys: bool,
              read_only: bool, timeout: float | None, check: bool) -> list[RemoteObject]:
        started = datetime.datetime.now(datetime.timezone.utc)
        t0 = time.monotonic()
        budget = self.options.default_timeout if timeout is None else timeout
        deadline = t0 + budget
        text = "; ".join(render_pipeline(p) for p in statements)
        if where != HOST:
            text = f"[{where}] {text}"
        self.calls += 1
        log.debug("%s: %s", self.target.label, text)
        error: str | None = None
        try:
            output, errors = self._attempts(build, keys=keys, read_only=read_only, deadline=deadline,
                                            budget=budget, text=text)
            self.last_errors = errors
            if errors:
                error = str(errors[0])  # recorded even when the caller does not raise
            if errors and check:
                first = errors[0]
                raise RemoteError(first.message, fqid=first.fqid, category=first.category, target=first.target,
                                  command=first.command, errors=tuple(errors))
            return output
        except (RemoteError, ConnectionFailed) as exc:
            error = str(exc)
            raise
        finally:
            duration = time.monotonic() - t0
            for pipeline in statements:
                self.transcript.record(TranscriptEntry(
                    started=started, duration_s=duration, target=where, pipeline=pipeline,
                    outcome="error" if error else "ok", error=error, step=self.transcript.current_step))
            log.debug("%s: %s -> %s in %.2f s", self.target.label, text, "error" if error else "ok", duration)

    def _attempts(self, build: Callable[[Any], None], *, keys: bool, read_only: bool, deadline: float,
                  budget: float, text: str) -> tuple[list[RemoteObject], list[RemoteError]]:
        def remaining_stop(state: tenacity.RetryCallState) -> bool:
            return time.monotonic() >= deadline

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retry),
            stop=tenacity.stop_after_attempt(self.options.read_retries) | remaining_stop,
            wait=tenacity.wait_exponential(multiplier=0.2, max=self.options.retry_wait_max),
            before_sleep=lambda s: log.warning("%s: retrying after %s", self.target.label,
                                               self.mask.mask(one_line(str(s.outcome.exception())))[:200]),
            reraise=True,
        )
        try:
            return retrying(self._attempt, build, keys=keys, read_only=read_only, deadline=deadline,
                            budget=budget, text=text)
        except _Retry as exc:
            raise self._lost(exc.cause) from None

    def _lost(self, exc: BaseException) -> ConnectionFailed:
        return HostUnreachable(
            self.mask.mask(f"{self.target.label}: lost the connection to {self.target.host}:{self.target.port}: "
                           f"{one_line(str(exc))[:200]}"), target=self.target.label)

    def _attempt(self, build: Callable[[Any], None], *, keys: bool, read_only: bool, deadline: float,
                 budget: float, text: str) -> tuple[list[RemoteObject], list[RemoteError]]:
        from pypsrp.complex_objects import PSInvocationState
        from pypsrp.powershell import PowerShell

        started = False  # True once the server has the pipeline: then only reads may be repeated
        sent = False  # True once the pipeline may have reached the server
        try:
            pool = self._ensure_pool()
            if keys:
                # not retried on this pool: pypsrp cannot restart a key exchange that broke half way
                # (it would skip it and fail later with "cipher is not initialised"); a new pool can
                self._ensure_keys(pool)
            ps = PowerShell(pool)
            build(ps)
            sent = True
            # why resend is safe: the Command carries the same CommandId (the pipeline id), so a
            # server that did get the first one refuses the duplicate instead of running it twice
            self._with_retries(ps.begin_invoke)
            started = True
            while ps.state == PSInvocationState.RUNNING:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._stop(ps)
                    raise RemoteTimeout(f"did not finish within {budget:g} s", fqid="NestedHv.Timeout",
                                        category="OperationTimeout", command=text)
                operation_timeout = max(1, min(self.options.operation_timeout, math.ceil(left)))
                self._with_retries(lambda: ps.poll_invoke(timeout=operation_timeout))
        except (ConnectionFailed, RemoteError):
            raise
        except Exception as exc:
            if _pool_gone(exc) or is_transient(exc):
                self._discard()  # a pool that lost a call is not trusted again
                if read_only or not sent or (_pool_gone(exc) and not started):
                    raise _Retry(exc) from exc  # run it again from the start on a new pool
                raise self._lost(exc) from None
            raise
        return [from_wire(o) for o in ps.output], self._errors(ps, text)

    def _with_retries(self, fn: Callable[[], Any]) -> Any:
        """Call ``fn`` again after a transient transport error (bounded, with backoff)."""
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_transient),
            stop=tenacity.stop_after_attempt(self.options.read_retries),
            wait=tenacity.wait_exponential(multiplier=0.1, max=self.options.retry_wait_max),
            before_sleep=lambda s: log.info("%s: transient transport error, trying again: %s", self.target.label,
                                            one_line(str(s.outcome.exception()))[:200]),
            reraise=True,
        ):
            with attempt:
                return fn()
        raise AssertionError("unreachable")  # tenacity either returns or re-raises

    def _stop(self, ps: Any) -> None:
        try:
            ps.stop()
        except Exception as exc:  # the pipeline may have ended meanwhile, or the pool died
            log.debug("stopping a timed-out pipeline on %s: %s", self.target.label, one_line(str(exc)))
            self._discard()

    def _errors(self, ps: Any, text: str) -> list[RemoteError]:
        errors = [self._remote_error(record, text) for record in ps.streams.error]
        if ps.had_errors and not errors:
            errors.append(RemoteError("the pipeline failed without an error record", command=text))
        for warning in getattr(ps.streams, "warning", []):
            message = getattr(warning, "message", None) or str(warning)  # a WarningRecord's str() is None
            log.warning("%s: %s", self.target.label, self.mask.mask(one_line(str(message))))
        return errors

    def _remote_error(self, record: Any, text: str) -> RemoteError:
        message = str(record) or str(getattr(record, "message", "") or "error")
        target = getattr(record, "target_object", None)
        target_text = None if target is None else str(convert(target))
        return RemoteError(
            self.mask.mask(message),
            fqid=str(getattr(record, "fq_error", "") or ""),
            category=category_name(getattr(record, "category", None)),
            target=self.mask.mask(target_text) if target_text is not None else None,
            command=text,
        )


def _needs_keys(cmd: Cmd) -> bool:
    from .wire import needs_keys

    return any(needs_keys(value) for _, value in cmd.params)
