"""A WinRS shell that hosts one PSRP runspace pool (psrpcore's server side).

psrpcore emits the data of the pool and of all its pipelines in one stream; it is sorted
here into one queue per target (None = the pool, else the command id) so each WSMan
Receive gets only its own messages. One condition (and its lock) guards everything.

Known differences from Windows, on record in tests/sim/conformance: the pool's first Receive
carries SessionCapability, APPLICATION_PRIVATE_DATA and the Opened state together (Windows
sends the state with the next Receive; a client reads the same messages in the same order);
a Receive after a command's last answer gets an empty Done again.
"""
from __future__ import annotations

import collections
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from psrpcore import (
    CreatePipelineEvent,
    EndOfPipelineInputEvent,
    GetAvailableRunspacesEvent,
    GetCommandMetadataEvent,
    PipelineInputEvent,
    PSRPPayload,
    ResetRunspaceStateEvent,
    ServerPipeline,
    ServerRunspacePool,
    SetMaxRunspacesEvent,
    SetMinRunspacesEvent,
    StreamType,
)
from psrpcore.types import PSInt, PSInvocationState, PSNoteProperty, PSObject, PSRPMessageType

from . import wsman_fault
from .clixml_order import MEMBER_ORDER, windows_order
from .engine_api import EngineLike
from .pipeline_run import PipelineRun
from .private_data import application_private_data
from .wsman_fault import WSManFault

FRAGMENT_SIZE = 32 * 1024  # bytes of PSRP data per payload taken from psrpcore
SETTLE_SECONDS = 0.005  # let a fast pipeline's output and final state share one Receive


def _fix_ci(event: Any) -> None:
    # pypsrp sends the call id as "CI" in set-min/max-runspaces messages; psrpcore reads "ci"
    ps_object = getattr(event, "_ps_object", None)
    if ps_object is not None and not hasattr(ps_object, "ci") and hasattr(ps_object, "CI"):
        ps_object.ci = ps_object.CI


_PROCESS_IDS = itertools.count(2852, 4)  # a wsmprovhost.exe process id per shell


def _message_pipeline_id(data: bytes) -> uuid.UUID | None:
    """The pipeline id in the PSRP message header of the first fragment of ``data``."""
    if len(data) < 21 + 40 or not data[16] & 1:  # fragment header, then the message header
        return None
    return uuid.UUID(bytes_le=bytes(data[21 + 24:21 + 40]))


class _Pool(ServerRunspacePool):
    def prepare_message(self, message: Any, message_type: Any = None, pipeline_id: Any = None,
                        stream_type: StreamType = StreamType.default) -> None:
        super().prepare_message(message, message_type, pipeline_id, stream_type)
        queued = self._send_buffer[-1]
        # psrpcore writes <ToString> last and an enum's value first; Windows writes TN, ToString, value
        members = MEMBER_ORDER.get(queued.message_type.name)
        queued._data[40:] = windows_order(bytes(queued._data[40:]), members)

    def _process_SetMaxRunspaces(self, event: SetMaxRunspacesEvent) -> None:
        _fix_ci(event)
        super()._process_SetMaxRunspaces(event)

    def _process_SetMinRunspaces(self, event: SetMinRunspacesEvent) -> None:
        _fix_ci(event)
        super()._process_SetMinRunspaces(event)

    def _process_GetAvailableRunspaces(self, event: GetAvailableRunspacesEvent) -> None:
        _fix_ci(event)
        super()._process_GetAvailableRunspaces(event)

    def _process_ResetRunspaceState(self, event: ResetRunspaceStateEvent) -> None:
        _fix_ci(event)
        super()._process_ResetRunspaceState(event)


class PsrpShell:
    def __init__(self, shell_id: str, resource_uri: str, owner: str, client_ip: str, engine: EngineLike) -> None:
        self.shell_id = shell_id
        self.resource_uri = resource_uri
        self.owner = owner
        self.client_ip = client_ip
        self.created = time.monotonic()
        self.last_activity = self.created
        self.idle_seconds = 7200.0  # the IdleTimeOut the client asked for (echoed in the Shell)
        self.profile_loaded = True
        self.process_id = next(_PROCESS_IDS)
        self._engine = engine
        self._cond = threading.Condition()
        self._pool = _Pool(application_private_data(engine))
        self._queues: dict[uuid.UUID | None, collections.deque[bytes]] = collections.defaultdict(collections.deque)
        self._runs: dict[uuid.UUID, PipelineRun] = {}  # by WSMan CommandId
        self._command_ids: dict[uuid.UUID, uuid.UUID] = {}  # PSRP pipeline id -> WSMan CommandId
        self._broken: WSManFault | None = None
        self._closed = False

    def times(self) -> tuple[float, float]:
        """(ShellRunTime, ShellInactivity) in seconds."""
        now = time.monotonic()
        return now - self.created, now - self.last_activity

    # --- WSMan operations (called from HTTP handler threads) ------------------------------------
    def open(self, creation_xml: bytes) -> None:
        with self._cond:
            self._feed(creation_xml, None)

    def send(self, data: bytes, command_id: uuid.UUID | None, stream: str) -> None:
        with self._cond:
            self._check_usable()
            if command_id is not None:
                self._run(command_id)
            stream_type = StreamType.prompt_response if stream == "pr" else StreamType.default
            self._feed(data, command_id, stream_type)

    def command(self, command_id: uuid.UUID, data: bytes) -> None:
        with self._cond:
            self._check_usable()
            # the pipeline must exist before its CreatePipeline message is processed
            if command_id in self._runs:
                raise wsman_fault.plugin_failure(f"A command with CommandId {command_id} already exists.")
            # Windows routes a command by its WSMan CommandId whatever pipeline id the PSRP message
            # carries (recorded: pypsrp 0.1 wrote it in another byte order); psrpcore keys by the latter
            wire_id = _message_pipeline_id(data) or command_id
            self._command_ids[wire_id] = command_id
            pipeline = ServerPipeline(self._pool, wire_id)
            self._runs[command_id] = PipelineRun(pipeline, self._locked)
            self._feed(data, command_id)

    def receive(self, command_id: uuid.UUID | None, timeout: float, budget: int) -> tuple[list[bytes], bool]:
        """Wait for data for the pool or one command; return (payloads, command_done)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if command_id is not None:
                self._run(command_id)
            while not self._queues[command_id] and not self._closed:
                if command_id is not None and self._run(command_id).finished:
                    break
                if self._broken is not None:
                    raise self._broken
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise wsman_fault.operation_timed_out()
                self._cond.wait(remaining)
            if self._closed:
                raise wsman_fault.shell_not_found(self.shell_id)
            run = self._runs.get(command_id) if command_id is not None else None
            if run is not None and not run.finished:
                self._cond.wait_for(lambda: run.finished, SETTLE_SECONDS)
            payloads: list[bytes] = []
            size = 0
            queue = self._queues[command_id]
            while queue and (not payloads or size + len(queue[0]) <= budget):
                size += len(queue[0])
                payloads.append(queue.popleft())
            done = run is not None and run.finished and not queue
            return payloads, done

    def signal(self, command_id: uuid.UUID, code: str) -> None:
        with self._cond:
            run = self._run(command_id)
            lowered = code.lower()
            if lowered.endswith("terminate"):
                run.stop()
                self._pump()
                run.pipeline.close()
                self._runs.pop(command_id, None)
                self._queues.pop(command_id, None)
                self._command_ids.pop(run.pipeline.pipeline_id, None)
            elif lowered.endswith("ctrl_c"):
                run.stop()
                self._pump()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for run in self._runs.values():
                run.cancel.set()
            self._cond.notify_all()

    def abort_waits(self) -> None:
        """Wake every Receive waiting on this shell (server stopping)."""
        self.close()

    def has_command(self, command_id: uuid.UUID) -> bool:
        with self._cond:
            return command_id in self._runs

    # --- internals (lock held) --------------------------------------------------------------
    def _locked(self, action: Callable[[], None]) -> None:
        with self._cond:
            action()
            self._pump()
            self._cond.notify_all()

    def _run(self, command_id: uuid.UUID) -> PipelineRun:
        run = self._runs.get(command_id)
        if run is None:
            raise wsman_fault.command_not_found()
        return run

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise self._broken

    def _feed(self, data: bytes, command_id: uuid.UUID | None, stream_type: StreamType = StreamType.default) -> None:
        self.last_activity = time.monotonic()
        self._pool.receive_data(PSRPPayload(data, stream_type, command_id))
        try:
            while True:
                event = self._pool.next_event()
                if event is None:
                    break
                self._dispatch(event)
        except WSManFault:
            raise
        except Exception as exc:  # garbage fragments or messages: the pool is broken, the server is not
            self._broken = wsman_fault.plugin_failure(
                f"The PowerShell remoting data could not be processed: {type(exc).__name__}."
            )
            self._cond.notify_all()
            raise self._broken from None
        finally:
            self._pump()
            self._cond.notify_all()

    def _dispatch(self, event: Any) -> None:
        # every runspace-pool request is answered; a bad min/max is refused as Windows refuses it
        # (recorded: SetMinRunspaces -1 and SetMaxRunspaces -1 answered false)
        if isinstance(event, SetMaxRunspacesEvent):
            self._pool.runspace_availability_response(event.ci, event.count >= max(self._pool.min_runspaces, 1))
        elif isinstance(event, SetMinRunspacesEvent):
            self._pool.runspace_availability_response(event.ci, 1 <= event.count <= self._pool.max_runspaces)
        elif isinstance(event, ResetRunspaceStateEvent):
            self._pool.runspace_availability_response(event.ci, True)
        elif isinstance(event, GetAvailableRunspacesEvent):
            busy = sum(1 for run in self._runs.values() if not run.finished)
            self._pool.runspace_availability_response(event.ci, max(self._pool.max_runspaces - busy, 0))
        elif isinstance(event, GetCommandMetadataEvent):
            self._answer_metadata(event)
        elif isinstance(event, CreatePipelineEvent):
            run = self._run(self._command_ids.get(event.pipeline_id, event.pipeline_id))
            # psrpcore already parsed the pipeline into .metadata; event.pipeline would parse it again
            run.set_metadata(run.pipeline.metadata)
            run.start_if_ready(self._engine)
        elif isinstance(event, PipelineInputEvent):
            run = self._run(self._command_ids.get(event.pipeline_id, event.pipeline_id))
            run.add_input(event.data)
        elif isinstance(event, EndOfPipelineInputEvent):
            run = self._run(self._command_ids.get(event.pipeline_id, event.pipeline_id))
            run.end_input()
            run.start_if_ready(self._engine)

    def _answer_metadata(self, event: GetCommandMetadataEvent) -> None:
        """GET_COMMAND_METADATA: a count, one object per matching command, then Completed (recorded)."""
        run = self._run(self._command_ids.get(event.pipeline_id, event.pipeline_id))
        request = event.pipeline
        lookup = getattr(self._engine, "command_metadata", None)
        found: list[PSObject] = []
        if lookup is not None:
            found = list(lookup([str(n) for n in request.name or []], int(request.command_type),
                                [str(n) for n in request.namespace or []]))
        count = PSObject()  # psrpcore's CommandMetadataCount writes Count twice
        count.PSObject.type_names = ["Selected.Microsoft.PowerShell.Commands.GenericMeasureInfo",
                                     "System.Management.Automation.PSCustomObject", "System.Object"]
        count.PSObject.extended_properties.append(PSNoteProperty("Count", PSInt(len(found))))
        run.pipeline.state = PSInvocationState.Running
        for obj in [count, *found]:
            run.pipeline.prepare_message(obj, message_type=PSRPMessageType.PipelineOutput)
        run.pipeline.complete()

    def _pump(self) -> None:
        while True:
            payload = self._pool.data_to_send(FRAGMENT_SIZE)
            if payload is None:
                return
            self._deliver(payload.pipeline_id, payload.data)

    def _deliver(self, pipeline_id: uuid.UUID | None, data: bytes) -> None:
        """Hand one payload to the transport (WinRM: queued for that command's next Receive)."""
        target = self._command_ids.get(pipeline_id, pipeline_id) if pipeline_id is not None else None
        self._queues[target].append(data)
