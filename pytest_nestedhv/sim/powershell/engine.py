"""Runs PSRP pipelines against the model: command lookup, binding, streams, error actions.

Only structured commands run, plus the package's fixed scripts (recognised by content, see
``scripts.py``); any other script text is refused with an explicit error, because the emulated
host has no PowerShell language. Output is collected per command (no streaming between
commands), which is indistinguishable for the client.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable

from . import metadata
from .binding import bind
from .builtins import BUILTINS
from .cmdlet import Call, Context, Impl, Streams
from .errors import PSError, command_not_found, no_permission
from .reference import Reference, load_reference
from .request import CommandSpec, PipelineRequest, PipelineSink
from .scripts import ScriptRunner, known_scripts
from .serialize import Remoted, Serializer
from .values import PSOut

if TYPE_CHECKING:
    from ..model.world import Node, World

Application = Callable[[list[str], Context], Iterable[str]]


def _input_types(objects: list[Any] | None) -> tuple[str, ...] | None:
    if not objects:
        return None
    first = objects[0]
    if isinstance(first, PSOut):
        return tuple(first.type_names)
    return ("System.String",) if isinstance(first, str) else ("System.Object",)


class Engine:
    def __init__(self, world: World, *, cmdlets: Mapping[str, Impl] | None = None,
                 applications: Mapping[str, Application] | None = None, elevated: bool = True) -> None:
        self.world = world
        self.elevated = elevated  # False: the host's prompt runs without administrator rights
        self.reference: Reference = load_reference()
        self.serializer = Serializer(self.reference)
        if cmdlets is None:
            from .. import cmdlets as shipped  # imported late: the cmdlets depend on the model

            cmdlets = shipped.all_cmdlets()
            applications = shipped.all_applications() if applications is None else applications
        self._impls = {name.lower(): impl for name, impl in {**BUILTINS, **cmdlets}.items()}
        self._apps = {name.lower(): app for name, app in (applications or {}).items()}
        self._scripts = ScriptRunner(self, known_scripts())
        self._place = threading.local()  # set by execute() around each command (pipelines run on threads)

    # -- entry point used by the protocol server ---------------------------------------------------
    def host_down(self) -> bool:
        """The emulated host is crashed or restarting: the server must not answer (see model/outage.py)."""
        return bool(getattr(self.world, "host_down", False))  # a world without outages never goes down

    def run(self, request: PipelineRequest, sink: PipelineSink, cancel: threading.Event) -> None:
        if self.host_down():
            from ..model.outage import HostDown

            raise HostDown("the host is down")
        ctx = Context(world=self.world, node=self.world.host, streams=Streams(sink.error, sink.warning, sink.verbose),
                      cancel=cancel)
        pending = list(request.input) if request.input else None
        for statement in request.statements:
            for obj in self.execute(statement, pending, ctx):
                sink.output(self.to_wire(obj))
            pending = None

    def command_metadata(self, names: list[str], command_type: int, namespaces: list[str]) -> list[Any]:
        """GET_COMMAND_METADATA: the emulated host's cmdlets matching the client's patterns."""
        return metadata.command_metadata(self.reference, names, command_type, namespaces)

    def os_build(self) -> tuple[int, int]:
        """(build, update revision) of the host, for the PSVersionTable the endpoint announces."""
        return self.world.host.os.build, self.world.host.os.ubr

    def to_wire(self, obj: Any) -> Any:
        if isinstance(obj, Remoted):
            return self.serializer.output(obj.value, obj.remoting)
        return self.serializer.output(obj)

    # -- pipelines -----------------------------------------------------------------------------------
    def execute(self, commands: list[CommandSpec], input_objects: list[Any] | None, ctx: Context) -> list[Any]:
        objects = input_objects
        for position, spec in enumerate(commands):
            if ctx.cancel.is_set():
                break
            outer = getattr(self._place, "value", None)
            self._place.value = (position + 1, len(commands))
            try:
                objects = list(self.invoke(spec, objects, ctx, expects_input=position > 0 or objects is not None))
            finally:
                self._place.value = outer
        return objects or []

    def invoke(self, spec: CommandSpec, input_objects: list[Any] | None, ctx: Context,
               expects_input: bool) -> Iterable[Any]:
        # (position, pipeline length) of this command, for its records' InvocationInfo
        place: tuple[int, int] = getattr(self._place, "value", None) or (1, 1)
        if spec.is_script:
            return self._scripts.run(spec, ctx)
        name = spec.name.strip()
        app = self._apps.get(name.lower().removesuffix(".exe"))
        if app is not None:
            return list(app([str(v) for _, v in spec.parameters], ctx))
        signature = self.reference.signature(name)
        if signature is None:
            raise command_not_found(name)
        if not self.elevated and signature.module == "Hyper-V" and ctx.node is self.world.host:
            raise no_permission(signature.name, signature.class_name, self.world.host.os.computer_name)
        impl = self._impls.get(signature.name.lower())
        if impl is None:
            # assumption: a documented cmdlet the emulator lacks says so rather than pretending.
            raise PSError(f"The emulated host does not implement '{signature.name}'.", "NotImplemented",
                          f"NotImplemented,{signature.class_name}", target=signature.name, terminating=True)
        bound = bind(signature, spec.parameters, _input_types(input_objects) if expects_input else None,
                     self.reference)
        params = dict(bound.params)
        action = params.pop("ErrorAction", "Continue")
        for common in ("Verbose", "Debug", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable",
                       "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable"):
            params.pop(common, None)
        if params.get("WhatIf"):
            return []
        call = Call(
            name=signature.name,
            params=params,
            parameter_set=bound.parameter_set,
            input=iter(input_objects or []),
            ctx=Context(ctx.world, ctx.node, self._streams(ctx.streams, action, signature.name,
                                                           (*place, expects_input)), ctx.cancel, ctx.computer_name),
            expects_input=expects_input,
        )
        try:
            return list(impl(call))
        except PSError as error:
            if error.terminating or action == "Stop":
                error.terminating = True
                if error.activity is None:  # "" is an activity too: CommandNotFound has none
                    error.activity = signature.name
                    error.invocation = error.invocation or (*place, expects_input)
                raise
            call.ctx.streams.error(error)
            return []

    @staticmethod
    def _streams(streams: Streams, action: str, command: str, invocation: tuple[int, int, bool]) -> Streams:
        """-ErrorAction: Stop turns the first error into a terminating one; SilentlyContinue/Ignore drop it.
        A record's activity is the command that wrote it, wherever that command sits in the pipeline."""

        def error(record: PSError) -> None:
            if record.activity is None:
                record.activity = command
                record.invocation = record.invocation or invocation
            if action == "Stop":
                record.terminating = True
                raise record
            if action not in ("SilentlyContinue", "Ignore"):
                streams.error(record)

        return Streams(error, streams.warning, streams.verbose)

    def on_node(self, node: Node, ctx: Context, computer_name: str) -> Context:
        """A context for running a command inside a guest (PowerShell Direct)."""
        return Context(ctx.world, node, ctx.streams, ctx.cancel, computer_name)
