"""One PowerShell remoting session (one runspace pool) to one host, whatever carries it.

Every call is a structured pipeline; every call has a deadline; transient transport errors
on reads are retried (bounded, with backoff); a pool that broke is reopened. The transport
(pypsrp over WinRM, psrpcore over a child's stdio) sits behind ``Connector``: a pool and
pipelines shaped like pypsrp's, and the transport's own judgement of its exceptions.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

import tenacity

from .commands import Cmd, is_read_only
from .commands import Pipeline as Pipeline_  # a tuple of Cmd (one statement)
from ..secrets import GuestCredential, Secret, SecretMask
from .errors import ConnectionFailed, HostLost, HostUnreachable, RemoteError, RemoteTimeout, one_line
from .objects import RemoteObject
from .transcript import GUEST_PREFIX, HOST, NESTED_SEP, Transcript, TranscriptEntry, render_pipeline

if TYPE_CHECKING:
    from ..target import HostTarget

log = logging.getLogger("pytest_nestedhv.remote")

TRAMPOLINE = "Invoke-InGuest.ps1"
NESTED_TRAMPOLINE = "Invoke-InNestedGuest.ps1"  # a double hop: the host into an L1, the L1 into its L2


@dataclasses.dataclass(frozen=True)
class ErrorInfo:
    """One error record as the transport read it (Session masks and wraps it)."""

    message: str
    fqid: str = ""
    category: str = "NotSpecified"
    target: str | None = None


class Pipeline(Protocol):
    """One invocation, built with plugin values (Secret, GuestCredential, Switch...)."""

    running: bool
    had_errors: bool
    output: list[RemoteObject]
    errors: list[ErrorInfo]
    warnings: list[str]

    def add_cmdlet(self, name: str) -> None: ...
    def add_script(self, text: str) -> None: ...
    def add_parameter(self, name: str, value: Any) -> None: ...
    def add_argument(self, value: Any) -> None: ...
    def add_statement(self) -> None: ...
    def begin_invoke(self) -> None: ...
    def poll_invoke(self, timeout: int) -> None: ...
    def stop(self) -> None: ...


class Pool(Protocol):
    def exchange_keys(self) -> None: ...
    def pipeline(self) -> Pipeline: ...
    def close(self) -> None: ...
    def discard(self) -> None: ...  # forget it without talking to it (it may not answer)


class Connector(Protocol):
    """Opens pools to one host and judges the transport's exceptions."""

    user: str | None  # for messages; None where no account is involved
    secret: Secret | None  # masked in every text the session writes
    operation_timeout: int  # the longest single wait for output
    default_timeout: float  # a call without its own timeout
    read_retries: int
    retry_wait_max: float

    def open(self) -> Pool: ...
    def classify(self, exc: BaseException) -> ConnectionFailed: ...
    def is_transient(self, exc: BaseException) -> bool: ...
    def dropped(self, exc: BaseException) -> bool: ...
    def pool_gone(self, exc: BaseException) -> bool: ...
    def host_gone(self, exc: BaseException) -> bool: ...  # the host crashed or is rebooting, not a bad setting


class _Retry(Exception):
    """An attempt failed in a way that is safe to repeat; carries the cause."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Session:
    """A runspace pool to ``target`` through ``connector``; open it before use, close it at the end."""

    def __init__(
        self,
        target: HostTarget,
        connector: Connector,
        *,
        mask: SecretMask | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        self.target = target
        self.connector = connector
        self.mask = mask or SecretMask()
        self.mask.add(connector.secret)
        self.transcript = transcript or Transcript()
        self.last_errors: list[RemoteError] = []
        self.calls = 0  # invocations sent (for benchmarks)
        self._pool: Pool | None = None
        self._keys = False
        self._scripts: dict[str, str] = {}  # the fixed .ps1 files, read once
        self._was_open = False  # once open, failing to reach the host again means it went away

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        who = f" as {self.connector.user}" if self.connector.user else ""
        return f"<Session {self.target.label} {self.target.describe()}{who} ({state})>"

    def clone(self) -> Session:
        """A second session to the same host (its own runspace pool, opened on first use) that
        records into the same transcript: for work that runs in another thread."""
        return Session(self.target, self.connector, mask=self.mask, transcript=self.transcript)

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
        except ConnectionFailed as exc:
            raise ConnectionFailed(self.mask.mask(str(exc)), target=self.target.label) from None
        except Exception as exc:  # pypsrp, requests, spnego, a child process... all mean "cannot use this host"
            failure = self.connector.classify(exc)
            log.debug("opening %s failed: %s", self.target.label, self.mask.mask(repr(exc)))
            gone = self._was_open and self.connector.host_gone(exc)
            raise (HostUnreachable if gone else ConnectionFailed)(self.mask.mask(str(failure)),
                                                                  target=self.target.label) from None
        self._keys = False
        self._was_open = True
        log.info("session open: %s (%s)", self.target.label, self.target.describe())

    def _open_with_retries(self) -> Pool:
        # only a connection dropped mid-way is retried: refused, unknown name, TLS or bad
        # credentials fail at once, so a wrong setting is reported within seconds
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception(self.connector.dropped),
            stop=tenacity.stop_after_attempt(6),
            wait=tenacity.wait_exponential(multiplier=0.1, max=1.0),
            reraise=True,
        ):
            with attempt:
                return self.connector.open()
        raise AssertionError("unreachable")

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            pool.close()
        except Exception as exc:  # closing a broken pool must not hide the real result
            log.debug("closing the pool of %s: %s", self.target.label, one_line(str(exc)))
            pool.discard()

    def reopen(self) -> None:
        log.info("reopening the session to %s", self.target.label)
        self._discard()
        self.open()

    def _discard(self) -> None:
        """Forget a broken pool without talking to it (it may not answer)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.discard()

    def _ensure_pool(self) -> Pool:
        if self._pool is None:
            self.open()
        assert self._pool is not None
        return self._pool

    def _ensure_keys(self, pool: Pool) -> None:
        if not self._keys:
            pool.exchange_keys()
            self._keys = True

    # calls ---------------------------------------------------------------------------------
    def run(self, *cmds: Cmd, timeout: float | None = None, check: bool = True) -> list[RemoteObject]:
        """Run one pipeline (``cmds`` piped into each other) on the host."""
        if not cmds:
            raise ValueError("run() needs at least one Cmd")
        return self.run_statements([tuple(cmds)], timeout=timeout, check=check)

    def run_statements(self, pipelines: Sequence[Pipeline_ | Cmd], *, timeout: float | None = None,
                       check: bool = True) -> list[RemoteObject]:
        """Several statements in one invocation; their output comes back as one list."""
        statements = [p if isinstance(p, tuple) else (p,) for p in pipelines]
        if not statements or any(not p for p in statements):
            raise ValueError("run_statements() needs non-empty pipelines")

        def build(ps: Pipeline) -> None:
            for i, pipeline in enumerate(statements):
                if i:
                    ps.add_statement()
                for cmd in pipeline:
                    ps.add_cmdlet(cmd.name)
                    for key, value in cmd.params:
                        if key == "":  # a positional argument (native commands such as bcdedit /enum)
                            ps.add_argument(value)
                        else:
                            ps.add_parameter(key, value)

        keys = any(_needs_keys(value) for p in statements for cmd in p for _, value in cmd.params)
        return self._call(statements, HOST, build, keys=keys, read_only=all(is_read_only(p) for p in statements),
                          timeout=timeout, check=check)

    def in_guest(self, vm_name: str, cred: GuestCredential, cmd: Cmd, timeout: float | None = None,
                 check: bool = True) -> list[RemoteObject]:
        """Run one cmdlet inside a VM through PowerShell Direct (the fixed trampoline script)."""
        self.mask.add(cred.password)

        def build(ps: Pipeline) -> None:
            ps.add_script(self._script(TRAMPOLINE))
            ps.add_parameter("VMName", vm_name)
            ps.add_parameter("Credential", cred)
            ps.add_parameter("Command", cmd.name)
            ps.add_parameter("Parameters", dict(cmd.params))

        return self._call([(cmd,)], GUEST_PREFIX + vm_name, build, keys=True, read_only=cmd.is_read_only,
                          timeout=timeout, check=check)

    def in_nested_guest(self, vm_name: str, cred: GuestCredential, inner_vm: str, inner_cred: GuestCredential,
                        cmd: Cmd, timeout: float | None = None, check: bool = True) -> list[RemoteObject]:
        """Run one cmdlet inside ``inner_vm``, a VM inside the VM ``vm_name``: PowerShell Direct
        from the host into the L1, and from the L1 into its L2."""
        self.mask.add(cred.password)
        self.mask.add(inner_cred.password)

        def build(ps: Pipeline) -> None:
            ps.add_script(self._script(NESTED_TRAMPOLINE))
            ps.add_parameter("VMName", vm_name)
            ps.add_parameter("Credential", cred)
            ps.add_parameter("InnerVMName", inner_vm)
            ps.add_parameter("InnerCredential", inner_cred)
            ps.add_parameter("Command", cmd.name)
            ps.add_parameter("Parameters", dict(cmd.params))

        return self._call([(cmd,)], f"{GUEST_PREFIX}{vm_name}{NESTED_SEP}{inner_vm}", build, keys=True,
                          read_only=cmd.is_read_only, timeout=timeout, check=check)

    def _script(self, file_name: str) -> str:
        if file_name not in self._scripts:
            self._scripts[file_name] = resources.files(__package__).joinpath("scripts", file_name).read_text("utf-8")
        return self._scripts[file_name]

    # the invocation machinery --------------------------------------------------------------
    def _call(self, statements: list[Pipeline_], where: str, build: Callable[[Pipeline], None], *, keys: bool,
              read_only: bool, timeout: float | None, check: bool) -> list[RemoteObject]:
        started = datetime.datetime.now(datetime.timezone.utc)
        t0 = time.monotonic()
        budget = self.connector.default_timeout if timeout is None else timeout
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
        except KeyboardInterrupt:
            error = "interrupted"
            raise
        finally:
            duration = time.monotonic() - t0
            for pipeline in statements:
                self.transcript.record(TranscriptEntry(
                    started=started, duration_s=duration, target=where, pipeline=pipeline,
                    outcome="error" if error else "ok", error=error, step=self.transcript.current_step))
            log.debug("%s: %s -> %s in %.2f s", self.target.label, text, "error" if error else "ok", duration)

    def _attempts(self, build: Callable[[Pipeline], None], *, keys: bool, read_only: bool, deadline: float,
                  budget: float, text: str) -> tuple[list[RemoteObject], list[RemoteError]]:
        def remaining_stop(state: tenacity.RetryCallState) -> bool:
            return time.monotonic() >= deadline

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retry),
            stop=tenacity.stop_after_attempt(self.connector.read_retries) | remaining_stop,
            wait=tenacity.wait_exponential(multiplier=0.2, max=self.connector.retry_wait_max),
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
        where = "" if self.target.is_local else f" to {self.target.host}:{self.target.port}"
        return HostUnreachable(
            self.mask.mask(f"{self.target.label}: lost the connection{where}: {one_line(str(exc))[:200]}"),
            target=self.target.label)

    def _attempt(self, build: Callable[[Pipeline], None], *, keys: bool, read_only: bool, deadline: float,
                 budget: float, text: str) -> tuple[list[RemoteObject], list[RemoteError]]:
        c = self.connector
        sent = False  # True once the pipeline may have reached the server
        started = False  # True once the server has the pipeline: then only reads may be repeated
        ps: Pipeline | None = None
        try:
            pool = self._ensure_pool()
            if keys:
                # not retried in place: pypsrp refuses a second exchange on a pool whose first one
                # broke off, so a failed exchange costs the pool and the call starts again
                self._ensure_keys(pool)
            ps = pool.pipeline()
            build(ps)
            sent = True
            # why resend is safe: the Command carries the same CommandId (the pipeline id), so a
            # server that did get the first one refuses the duplicate instead of running it twice
            self._with_retries(ps.begin_invoke)
            started = True
            while ps.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._stop(ps)
                    raise RemoteTimeout(f"did not finish within {budget:g} s", fqid="NestedHv.Timeout",
                                        category="OperationTimeout", command=text)
                operation_timeout = max(1, min(c.operation_timeout, math.ceil(left)))
                self._with_retries(lambda: ps.poll_invoke(timeout=operation_timeout))  # type: ignore[union-attr]
        except KeyboardInterrupt:
            if started and ps is not None:
                self._stop(ps)  # Ctrl-C stops the host's pipeline too, as it would at a prompt
            raise
        except HostLost as err:
            self._discard()  # a later call (the cleanup) starts afresh
            err.message = self.mask.mask(err.message)  # it quotes the child's stderr
            raise
        except (ConnectionFailed, RemoteError, _Retry):
            raise
        except Exception as exc:
            if c.pool_gone(exc) or c.is_transient(exc):
                self._discard()  # a pool that lost a call is not trusted again
                if read_only or not sent or (c.pool_gone(exc) and not started):
                    raise _Retry(exc) from exc  # run it again from the start on a new pool
                raise self._lost(exc) from None
            raise
        return list(ps.output), self._errors(ps, text)

    def _with_retries(self, fn: Callable[[], Any]) -> Any:
        """Call ``fn`` again after a transient transport error (bounded, with backoff)."""
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception(self.connector.is_transient),
            stop=tenacity.stop_after_attempt(self.connector.read_retries),
            wait=tenacity.wait_exponential(multiplier=0.1, max=self.connector.retry_wait_max),
            before_sleep=lambda s: log.info("%s: transient transport error, trying again: %s", self.target.label,
                                            one_line(str(s.outcome.exception()))[:200]),
            reraise=True,
        ):
            with attempt:
                return fn()
        raise AssertionError("unreachable")  # tenacity either returns or re-raises

    def _stop(self, ps: Pipeline) -> None:
        try:
            ps.stop()
        except Exception as exc:  # the pipeline may have ended meanwhile, or the pool died
            log.debug("stopping a pipeline on %s: %s", self.target.label, one_line(str(exc)))
            self._discard()

    def _errors(self, ps: Pipeline, text: str) -> list[RemoteError]:
        errors = [RemoteError(self.mask.mask(e.message), fqid=e.fqid, category=e.category,
                              target=self.mask.mask(e.target) if e.target is not None else None, command=text)
                  for e in ps.errors]
        if ps.had_errors and not errors:
            errors.append(RemoteError("the pipeline failed without an error record", command=text))
        for warning in ps.warnings:
            log.warning("%s: %s", self.target.label, self.mask.mask(one_line(warning)))
        return errors


def _needs_keys(value: Any) -> bool:
    """True if sending ``value`` needs the session key (a SecureString inside)."""
    if isinstance(value, (Secret, GuestCredential)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_needs_keys(v) for v in value)
    if isinstance(value, dict):
        return any(_needs_keys(v) for v in value.values())
    return False
