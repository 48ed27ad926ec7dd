"""One PSRP pipeline: collects its definition and input, runs the engine on a worker thread,
and forwards what the engine writes to the psrpcore pipeline."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from psrpcore import PowerShell as PSRPPowerShell
from psrpcore import ServerPipeline
from psrpcore.types import (
    PSInt,
    PSInvocationState,
    PSNoteProperty,
    PSObject,
    PSRPMessageType,
    RemoteStreamOptions,
)

from ..powershell.errors import Halted, PSError
from ..powershell.request import CommandSpec, PipelineRequest
from .engine_api import EngineLike
from .error_records import error_record, informational_record, internal_error

log = logging.getLogger(__name__)

TERMINAL = (PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped)


def build_request(metadata: PSRPPowerShell, pipeline_input: list[Any]) -> PipelineRequest:
    statements: list[list[CommandSpec]] = [[]]
    for command in metadata.commands:
        statements[-1].append(
            CommandSpec(name=command.command_text, is_script=bool(command.is_script), parameters=list(command.parameters))
        )
        if command.end_of_statement:
            statements.append([])
    return PipelineRequest(statements=[s for s in statements if s], input=list(pipeline_input))


class PipelineRun:
    """Lifecycle of one command (pipeline) of a shell. All methods except the worker run with
    the shell's lock held; the worker takes it through ``locked`` for every write."""

    def __init__(self, pipeline: ServerPipeline, locked: Callable[[Callable[[], None]], None]) -> None:
        self.pipeline = pipeline
        self.command_id = pipeline.pipeline_id
        self.cancel = threading.Event()
        self._locked = locked
        self._metadata: PSRPPowerShell | None = None
        self._input: list[Any] = []
        self._input_done = False
        self._started = False
        self._current: str | None = None  # command name, for error records

    @property
    def finished(self) -> bool:
        return self.pipeline.state in TERMINAL

    def set_metadata(self, metadata: PSRPPowerShell) -> None:
        self._metadata = metadata
        self._input_done = self._input_done or bool(metadata.no_input)

    def add_input(self, value: Any) -> None:
        self._input.append(value)

    def end_input(self) -> None:
        self._input_done = True

    def start_if_ready(self, engine: EngineLike) -> None:
        if self._started or self._metadata is None or not self._input_done:
            return
        self._started = True
        request = build_request(self._metadata, self._input)
        first = next((s[0].name for s in request.statements if s and not s[0].is_script), None)
        self._current = first
        # assumption: like PowerShell's server, no Running state message is sent (the client sets Running
        # itself); pipeline.start() would serialize and queue one, ~0.4 ms per invoke
        self.pipeline.state = PSInvocationState.Running
        worker = threading.Thread(
            target=self._work, args=(engine, request), name=f"sim-pipeline-{self.command_id}", daemon=True
        )
        worker.start()

    def stop(self) -> None:
        """Signal ctrl_c: cancel the engine and report the pipeline Stopped."""
        self.cancel.set()
        if self.pipeline.state in (PSInvocationState.Running, PSInvocationState.Stopping):
            self.pipeline.stop()

    def _wants(self, option: RemoteStreamOptions) -> bool:
        # RemoteStreamOptions of the CreatePipeline message; pypsrp asks for all (AddInvocationInfo = 15)
        options = getattr(self._metadata, "remote_stream_options", 0) if self._metadata is not None else 0
        return bool(int(options) & int(option))

    def fail(self, error: PSError) -> None:
        """Queue a Failed pipeline state carrying the ErrorRecord (psrpcore has no public call for it)."""
        if self.finished:
            return
        record = error_record(error, self._current, written=False,
                              invocation_info=self._wants(RemoteStreamOptions.AddInvocationInfoToErrorRecord))
        state = PSObject()  # psrpcore's PipelineState would recast the record as its own ErrorRecord
        state.PSObject.type_names = []  # a message object has no type names (recorded)
        state.PSObject.extended_properties.append(PSNoteProperty("PipelineState", PSInt(int(PSInvocationState.Failed))))
        state.PSObject.extended_properties.append(PSNoteProperty("ExceptionAsErrorRecord", record))
        self.pipeline.prepare_message(state, message_type=PSRPMessageType.PipelineState)
        self.pipeline.state = PSInvocationState.Failed

    # --- worker thread -------------------------------------------------------------------------
    def _work(self, engine: EngineLike, request: PipelineRequest) -> None:
        sink = _Sink(self)
        try:
            engine.run(request, sink, self.cancel)
        except PSError as error:
            self._locked(lambda: self.fail(error))
        except Halted:
            log.debug("pipeline %s: the host went down under it", self.command_id)  # nobody will hear an answer
        except Exception as exc:  # any engine bug becomes an error record, never a dead pipeline
            log.exception("engine failed on pipeline %s", self.command_id)
            self._locked(lambda: self.fail(internal_error(exc, self._current)))
        else:
            self._locked(self._complete)

    def _complete(self) -> None:
        if self.pipeline.state == PSInvocationState.Running:
            self.pipeline.complete()

    def write(self, action: Callable[[ServerPipeline], None]) -> None:
        def guarded() -> None:
            # after a stop the engine may still write; PowerShell drops that output too
            if self.pipeline.state == PSInvocationState.Running:
                action(self.pipeline)

        self._locked(guarded)

    def error_record(self, error: PSError) -> Any:
        return error_record(error, self._current, written=True,
                            invocation_info=self._wants(RemoteStreamOptions.AddInvocationInfoToErrorRecord))

    def informational(self, kind: str, message: str) -> Any:
        option = getattr(RemoteStreamOptions, f"AddInvocationInfoTo{kind}Record")
        return informational_record(kind, message, self._current, invocation_info=self._wants(option))


class _Sink:
    """``PipelineSink`` for one run."""

    def __init__(self, run: PipelineRun) -> None:
        self._run = run

    def output(self, obj: Any) -> None:
        self._run.write(lambda p: p.write_output(obj))

    def error(self, record: PSError) -> None:
        rec = self._run.error_record(record)
        self._run.write(lambda p: p.prepare_message(rec, message_type=PSRPMessageType.ErrorRecord))

    def warning(self, message: str) -> None:
        rec = self._run.informational("Warning", message)
        self._run.write(lambda p: p.prepare_message(rec, message_type=PSRPMessageType.WarningRecord))

    def verbose(self, message: str) -> None:
        rec = self._run.informational("Verbose", message)
        self._run.write(lambda p: p.prepare_message(rec, message_type=PSRPMessageType.VerboseRecord))
