"""The contract between the engine and cmdlet implementations.

A cmdlet implementation is a function ``impl(call: Call) -> Iterable[Any]``: it yields the
objects it writes to the output stream (see ``values.py``), writes non-terminating errors
with ``call.write_error``, and raises ``PSError(terminating=True)`` to stop the pipeline.
Each ``pytest_nestedhv.sim.cmdlets.<module>`` exposes ``CMDLETS: dict[str, Impl]`` keyed by
the cmdlet's canonical name as spelled in cmdlets.json. The engine binds parameters before
calling: ``params`` holds only what the caller bound, under canonical parameter names,
converted to the parameter's declared type (see binding.py), switches as bool.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import PSError

if TYPE_CHECKING:
    from ..model.world import Node, World


@dataclasses.dataclass
class Streams:
    """Where a running command writes everything but output."""

    error: Callable[[PSError], None]
    warning: Callable[[str], None]
    verbose: Callable[[str], None]


@dataclasses.dataclass
class Context:
    """Where a command runs: ``node`` is the machine (the host, or a guest reached through
    PowerShell Direct); ``world`` owns the clock and the lock every model change holds."""

    world: World
    node: Node
    streams: Streams
    cancel: threading.Event
    computer_name: str | None = None  # set inside Invoke-Command: output gets PSComputerName


@dataclasses.dataclass
class Call:
    name: str
    params: dict[str, Any]
    parameter_set: str
    input: Iterator[Any]
    ctx: Context
    expects_input: bool = False  # true when the command is not first in its pipeline

    def has(self, name: str) -> bool:
        return name in self.params

    def write_error(self, error: PSError) -> None:
        self.ctx.streams.error(error)

    def write_warning(self, message: str) -> None:
        self.ctx.streams.warning(message)


Impl = Callable[[Call], Iterable[Any]]
