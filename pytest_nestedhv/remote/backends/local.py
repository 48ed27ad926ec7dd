"""``--nested-host local``: this machine, through ``powershell.exe -s`` on stdio (no WinRM, no account).

psrpcore's sans-IO ClientRunspacePool/ClientPowerShell speak PSRP; remote/outofproc.py frames
their fragments as out-of-process packets on the child's stdin/stdout. ``_Pool`` and ``_Pipeline``
give Session the same shape pypsrp's objects have over WinRM, so retries, deadlines, Ctrl-C
(a Signal packet), the transcript and error records work the same on both.
"""
from __future__ import annotations

import logging
import shlex
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ...secrets import GuestCredential, Secret, SecretMask
from ..commands import Switch
from ..errors import ConnectionFailed, HostLost, category_name, one_line
from ..objects import RemoteObject, convert, from_wire
from ..outofproc import Channel, ChildExited, Packet
from ..session import ErrorInfo, Session
from . import Opened

if TYPE_CHECKING:
    from ...config import Settings
    from ...target import HostTarget

log = logging.getLogger("pytest_nestedhv.remote")

FRAGMENT_SIZE = 32 * 1024  # PowerShell's default fragment size; bigger messages go in several
_INT32 = range(-(2**31), 2**31)
SHELL_HINT = "set nested_local_shell (ini) or NESTED_LOCAL_SHELL, e.g. 'pwsh -NoLogo -s'"


def shell_argv(command: str, *, windows: bool | None = None) -> list[str]:
    """The command as argv. On Windows backslashes are path separators, so the split is not POSIX's;
    the quotes around a word ("C:\\Program Files\\PowerShell\\7\\pwsh.exe") are dropped, as cmd.exe does."""
    import os

    if windows is None:
        windows = os.name == "nt"
    if not windows:
        return shlex.split(command)
    return [w[1:-1] if len(w) >= 2 and w[0] == w[-1] == '"' else w for w in shlex.split(command, posix=False)]


def to_psrp(value: Any) -> Any:
    """A plugin value as a psrpcore value (Secrets as SecureString: keys must be exchanged first)."""
    from psrpcore.types import PSCredential, PSDouble, PSInt, PSInt64, PSSecureString

    if isinstance(value, Secret):
        return PSSecureString(value.reveal())
    if isinstance(value, GuestCredential):
        return PSCredential(UserName=value.user, Password=PSSecureString(value.password.reveal()))
    if isinstance(value, Switch):
        return True
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return PSInt(value) if value in _INT32 else PSInt64(value)  # memory sizes in bytes need Int64
    if isinstance(value, float):
        return PSDouble(value)
    if isinstance(value, (list, tuple)):
        return [to_psrp(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_psrp(v) for k, v in value.items()}
    raise TypeError(f"cannot send a {type(value).__name__}")


def _error_info(record: Any) -> ErrorInfo:
    target = getattr(record, "TargetObject", None)
    info = getattr(record, "CategoryInfo", None)
    category = getattr(info, "Category", None)
    return ErrorInfo(str(record) or "error", fqid=str(getattr(record, "FullyQualifiedErrorId", "") or ""),
                     category=category_name(int(category) if category is not None else None),
                     target=None if target is None else str(convert(target)))


class _Pool:
    """One runspace pool in one child process."""

    def __init__(self, channel: Channel, lost: Callable[[ChildExited], ConnectionFailed]) -> None:
        from psrpcore import ClientRunspacePool

        self.channel = channel
        self.psrp = ClientRunspacePool()
        self._lost = lost
        self._acks: set[tuple[str, uuid.UUID | None]] = set()
        self._pipelines: dict[uuid.UUID, _Pipeline] = {}
        self._closing: set[uuid.UUID] = set()  # pipelines closed without waiting for the CloseAck
        self._key_ready = False

    # packets -------------------------------------------------------------------------------
    def flush(self) -> None:
        from psrpcore import StreamType

        while True:
            payload = self.psrp.data_to_send(FRAGMENT_SIZE)
            if payload is None:
                return
            stream = "PromptResponse" if payload.stream_type == StreamType.prompt_response else "Default"
            self._send(Packet("Data", payload.pipeline_id, payload.data, stream))

    def _send(self, packet: Packet) -> None:
        try:
            self.channel.send(packet)
        except ChildExited as exc:
            raise self._lost(exc) from None

    def pump(self, until: Callable[[], bool], timeout: float) -> bool:
        """Handle packets until ``until()`` or ``timeout`` seconds; returns ``until()``."""
        from psrpcore import PSRPPayload, StreamType

        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                packet = self.channel.receive(min(left, 0.5))
            except ChildExited as exc:
                raise self._lost(exc) from None
            if packet is None:
                continue
            if packet.tag == "Data" and packet.data is not None:
                stream = StreamType.prompt_response if packet.stream == "PromptResponse" else StreamType.default
                self.psrp.receive_data(PSRPPayload(packet.data, stream, packet.guid))
                self._events()
            elif packet.tag == "CloseAck" and packet.guid in self._closing:
                self._closing.discard(packet.guid)  # a finished pipeline: nobody waits for it
            elif packet.tag.endswith("Ack"):
                self._acks.add((packet.tag, packet.guid))
        return True

    def wait_ack(self, tag: str, guid: uuid.UUID | None, timeout: float) -> None:
        if not self.pump(lambda: (tag, guid) in self._acks, timeout):
            raise TimeoutError(f"no {tag} within {timeout:g} s")
        self._acks.discard((tag, guid))

    def _events(self) -> None:
        from psrpcore import EncryptedSessionKeyEvent, PublicKeyRequestEvent

        while True:
            event = self.psrp.next_event()
            if event is None:
                return
            if isinstance(event, EncryptedSessionKeyEvent):
                self._key_ready = True
            elif isinstance(event, PublicKeyRequestEvent):  # the server asks first: answer as pypsrp does
                self.psrp.exchange_key()
                self.flush()
            pipeline = self._pipelines.get(getattr(event, "pipeline_id", None) or uuid.UUID(int=0))
            if pipeline is not None:
                pipeline.on_event(event)

    # Session's Pool ----------------------------------------------------------------------
    def open(self, timeout: float) -> None:
        from psrpcore.types import RunspacePoolState

        self.psrp.open()
        self.flush()
        self.pump(lambda: self.psrp.state != RunspacePoolState.Opening, timeout)
        if self.psrp.state != RunspacePoolState.Opened:
            raise TimeoutError(f"the runspace pool did not open within {timeout:g} s (state {self.psrp.state.name})")

    def exchange_keys(self) -> None:
        if self._key_ready:
            return
        self.psrp.exchange_key()
        self.flush()
        if not self.pump(lambda: self._key_ready, 30):
            raise TimeoutError("no session key within 30 s")

    def pipeline(self) -> _Pipeline:
        return _Pipeline(self)

    def register(self, pipeline: _Pipeline) -> None:
        self._pipelines[pipeline.id] = pipeline

    def forget(self, pipeline: _Pipeline) -> None:
        self._pipelines.pop(pipeline.id, None)

    def close(self) -> None:
        try:
            self._send(Packet("Close", None))
            self.wait_ack("CloseAck", None, 5)
        except (ConnectionFailed, TimeoutError) as exc:
            log.debug("closing the local pool: %s", exc)
        finally:
            self.channel.close()

    def discard(self) -> None:
        self.channel.close(timeout=2)


class _Pipeline:
    """psrpcore's ClientPowerShell fed plugin values; output and records gathered from the pool's events."""

    def __init__(self, pool: _Pool) -> None:
        from psrpcore import ClientPowerShell

        self._pool = pool
        self._ps = ClientPowerShell(pool.psrp)
        self.id: uuid.UUID = self._ps.pipeline_id
        self.output: list[RemoteObject] = []
        self.errors: list[ErrorInfo] = []
        self.warnings: list[str] = []
        self.had_errors = False
        self._started = False
        self._done = False

    def add_cmdlet(self, name: str) -> None:
        self._ps.add_command(name)

    def add_script(self, text: str) -> None:
        self._ps.add_script(text)

    def add_parameter(self, name: str, value: Any) -> None:
        self._ps.add_parameter(name, to_psrp(value))

    def add_argument(self, value: Any) -> None:
        self._ps.add_argument(to_psrp(value))

    def add_statement(self) -> None:
        self._ps.add_statement()

    def begin_invoke(self) -> None:
        self._pool.register(self)
        self._pool._send(Packet("Command", self.id))
        self._pool.wait_ack("CommandAck", self.id, 30)
        self._ps.start()
        self._started = True
        self._pool.flush()

    @property
    def running(self) -> bool:
        return self._started and not self._done

    def poll_invoke(self, timeout: int) -> None:
        self._pool.pump(lambda: self._done, timeout)
        if self._done:
            self._close()

    def stop(self) -> None:
        """The transport's Signal: the host stops the pipeline and reports it Stopped."""
        if not self.running:
            return
        self._pool._send(Packet("Signal", self.id))
        self._pool.wait_ack("SignalAck", self.id, 30)
        self._pool.pump(lambda: self._done, 30)
        self._close()

    def _close(self) -> None:
        # the pipeline is over: its CloseAck is taken whenever it comes, the next call need not wait for it
        self._pool.forget(self)
        self._pool._closing.add(self.id)
        self._pool._send(Packet("Close", self.id))

    def on_event(self, event: Any) -> None:
        from psrpcore import ErrorRecordEvent, PipelineOutputEvent, PipelineStateEvent, WarningRecordEvent
        from psrpcore.types import PSInvocationState

        if isinstance(event, PipelineOutputEvent):
            self.output.append(from_wire(event.data))
        elif isinstance(event, ErrorRecordEvent):
            self.had_errors = True
            self.errors.append(_error_info(event.record))
        elif isinstance(event, WarningRecordEvent):
            self.warnings.append(str(getattr(event.record, "Message", "") or event.record))
        elif isinstance(event, PipelineStateEvent):
            if event.state in (PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped):
                self._done = True
            if event.state == PSInvocationState.Failed:
                self.had_errors = True
                if event.reason is not None:
                    self.errors.append(_error_info(event.reason))


class StdioConnector:
    """Starts ``argv`` (PowerShell in server mode) and opens one runspace pool in it."""

    user: str | None = None
    secret: Secret | None = None
    operation_timeout = 5  # a wait for output is local: short slices keep ^C and deadlines prompt
    default_timeout = 600.0
    read_retries = 1  # nothing is transient on a pipe: a child that died is gone
    retry_wait_max = 0.0

    def __init__(self, target: HostTarget, argv: Sequence[str], *, open_timeout: float = 60.0) -> None:
        self.target = target
        self.argv = list(argv)
        self.open_timeout = open_timeout
        self.pids: list[int] = []  # every child started (tests check none is left)

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else "?"

    def open(self) -> _Pool:
        try:
            channel = Channel(self.argv)
        except OSError as exc:
            raise ConnectionFailed(f"{self.target.label}: cannot start {self.program!r}: "
                                   f"{exc.strerror or exc}; {SHELL_HINT}", target=self.target.label) from None
        self.pids.append(channel.pid)
        pool = _Pool(channel, self._died)
        try:
            pool.open(self.open_timeout)
        except BaseException:
            channel.close(timeout=2)
            raise
        return pool

    def _died(self, exc: ChildExited) -> ConnectionFailed:
        return HostLost(f"{self.target.label}: the local PowerShell ({self.program}) {exc}; "
                        "the run stops here", target=self.target.label)

    def classify(self, exc: BaseException) -> ConnectionFailed:
        label = self.target.label
        if isinstance(exc, TimeoutError):
            return ConnectionFailed(f"{label}: {self.program} did not answer as a PowerShell server: {exc} "
                                    f"(it must run in server mode, -s); {SHELL_HINT}", target=label)
        return ConnectionFailed(f"{label}: cannot open a session in {self.program}: {type(exc).__name__}: "
                                f"{one_line(str(exc))[:200]}", target=label)

    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        return False

    @staticmethod
    def dropped(exc: BaseException) -> bool:
        return False

    @staticmethod
    def pool_gone(exc: BaseException) -> bool:
        return False

    @staticmethod
    def host_gone(exc: BaseException) -> bool:
        # this machine cannot reboot under a run; a child that died is HostLost, raised by the pool
        return False


class LocalBackend:
    """This machine: no host account; guest credentials, images and switch from the Settings as for WinRM."""

    def prepare(self, target: HostTarget, mask: SecretMask) -> None:
        return None

    def open(self, target: HostTarget, settings: Settings, mask: SecretMask, prepared: Any) -> Opened:
        connector = StdioConnector(target, shell_argv(settings.local_shell))
        session = Session(target, connector, mask=mask)
        session.open()
        s = settings
        return Opened(target, session, s.guest_credential(), s.base_image, s.inner_image)
