"""What the protocol server hands the engine, and how the engine answers.

The server turns a psrpcore ``ServerPipeline`` into a ``PipelineRequest`` (parameter values
stay psrpcore objects: PSString, PSInt, PSSecureString (already decrypted by psrpcore when
keys were exchanged), PSList, PSCustomObject ...), runs ``Engine.run(request, sink, cancel)``
on a worker thread, and forwards what the sink receives to the pipeline. ``Engine.run``
returns normally when the pipeline completed (even with non-terminating errors written)
and raises ``PSError`` (terminating) when it failed.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from .errors import PSError


@dataclasses.dataclass(frozen=True)
class CommandSpec:
    name: str  # cmdlet name, or the whole script text when is_script
    is_script: bool
    parameters: list[tuple[str | None, Any]]  # (None, value) is a positional argument


@dataclasses.dataclass(frozen=True)
class PipelineRequest:
    statements: list[list[CommandSpec]]  # add_statement() separates statements
    input: list[Any]  # pipeline input sent by the client, if any


class PipelineSink(Protocol):
    """Receives a running pipeline's streams; objects are psrpcore-serializable."""

    def output(self, obj: Any) -> None: ...

    def error(self, record: PSError) -> None: ...

    def warning(self, message: str) -> None: ...

    def verbose(self, message: str) -> None: ...
