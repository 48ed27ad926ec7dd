"""A stand-in engine for protocol tests and the benchmark: it records every request and
echoes commands back, with a few names that exercise the other streams."""
from __future__ import annotations

import threading
from typing import Any

from psrpcore.types import PSSecureString

from ..powershell.errors import PSError
from ..powershell.request import PipelineRequest, PipelineSink


def _text(value: Any) -> str:
    if isinstance(value, PSSecureString):
        return "<SecureString>"  # never echo a secret
    return str(value)


class EchoEngine:
    """``Echo-Command`` style behaviour:

    - any command: writes "Name" and then "Param=Value" for each parameter (positional: "=Value")
    - ``Write-Error -Message m``: non-terminating error; ``Throw-Error -Message m``: terminating
    - ``Write-Warning`` / ``Write-Verbose -Message m``: those streams
    - ``Start-Sleep -Seconds n``: waits n seconds or until cancelled
    - pipeline input is echoed as "input:Value"
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[PipelineRequest] = []
        self.cancelled = threading.Event()  # set when a run saw its cancel event

    def run(self, request: PipelineRequest, sink: PipelineSink, cancel: threading.Event) -> None:
        with self._lock:
            self.requests.append(request)
        for value in request.input:
            sink.output(f"input:{_text(value)}")
        for statement in request.statements:
            for command in statement:
                params = {str(k).lower(): v for k, v in command.parameters if k is not None}
                message = _text(params.get("message", ""))
                name = command.name.lower()
                if name == "write-error":
                    sink.error(
                        PSError(
                            message,
                            category="NotSpecified",
                            fqid="Microsoft.PowerShell.Commands.WriteErrorException",
                            exception_type="Microsoft.PowerShell.Commands.WriteErrorException",
                        )
                    )
                    continue
                if name == "throw-error":
                    raise PSError(
                        message,
                        category="InvalidOperation",
                        fqid="EchoTerminating,Echo",
                        target="echo-target",
                        exception_type="System.InvalidOperationException",
                        terminating=True,
                    )
                if name == "write-warning":
                    sink.warning(message)
                    continue
                if name == "write-verbose":
                    sink.verbose(message)
                    continue
                if name == "start-sleep":
                    if cancel.wait(float(str(params.get("seconds", 0)))):
                        self.cancelled.set()
                        return
                    continue
                sink.output(command.name)
                for key, value in command.parameters:
                    sink.output(f"{key or ''}={_text(value)}")
