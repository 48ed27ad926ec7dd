"""Twins of the fixed scripts the plugin ships: recognised by their exact text.

The emulated host runs no PowerShell language. The plugin's only script text is a handful of
fixed ``.ps1`` files (``pytest_nestedhv/remote/scripts``); each is recognised here by its
content with whitespace folded, and runs its Python twin. Any other script is refused.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from importlib import resources
from typing import TYPE_CHECKING, Any

from .cmdlet import Context
from .errors import PSError
from .request import CommandSpec
from .serialize import Remoted, Remoting

if TYPE_CHECKING:
    from .engine import Engine

Twin = Callable[["Engine", dict[str, Any], Context], Iterable[Any]]


def no_language(script: str) -> PSError:
    """Script text the host cannot run, refused as a Windows endpoint in no-language mode refuses it
    (recorded in pypsrp's tests/tests_pypsrp/responses/test_psrp_with_jea_configuration.yml): the
    emulated host has no PowerShell language, only the package's fixed scripts."""
    return PSError("The syntax is not supported by this runspace. This can occur if the runspace is in no-language "
                   "mode.", "ParserError", "ScriptsNotAllowed", target=script,
                   exception_type="System.Management.Automation.ParseException", activity="", terminating=True)


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.lstrip("\ufeff")).strip()


def _secret_text(value: Any) -> str:
    decrypt = getattr(value, "decrypt", None)
    return str(decrypt()) if callable(decrypt) else str(value)


def _credential(value: Any) -> tuple[str, str]:
    user = getattr(value, "UserName", None)
    password = getattr(value, "Password", None)
    if user is None or password is None:
        raise PSError("Cannot process argument transformation on parameter 'Credential'. A command that prompts the "
                      "user failed because the host program or the command type does not support user interaction.",
                      "InvalidData", "ParameterArgumentTransformationError,Invoke-InGuest.ps1", terminating=True)
    return str(user), _secret_text(password)


def _direct(ctx: Context, node: Any, vm_name: str, credential: Any) -> Any:
    """PowerShell Direct from ``node`` into ``vm_name``: its guest node, or None after writing
    Invoke-Command's non-terminating error (connection failures are not terminating)."""
    user, password = _credential(credential)
    try:
        return ctx.world.direct(node, vm_name, user, password)
    except PSError as error:
        error.terminating = False
        ctx.streams.error(error)
        return None


def _run_inside(engine: Engine, guest: Any, vm_name: str, params: dict[str, Any], ctx: Context) -> list[Any]:
    """``& $c @p`` in the guest; a terminating error there reaches the caller as an error record."""
    arguments = [(str(k), v) for k, v in dict(params.get("Parameters") or {}).items()]
    inner = CommandSpec(str(params["Command"]), False, arguments)
    remoting = Remoting(vm_name, uuid.uuid4())
    try:
        results = engine.execute([inner], None, engine.on_node(guest, ctx, vm_name))
    except PSError as error:
        error.terminating = False
        ctx.streams.error(error)
        return []
    return [Remoted(obj, remoting) for obj in results]


def invoke_in_guest(engine: Engine, params: dict[str, Any], ctx: Context) -> Iterable[Any]:
    """Invoke-Command -VMName $VMName -Credential $Credential -ScriptBlock { & $c @p }."""
    vm_name = str(params["VMName"])
    guest = _direct(ctx, ctx.node, vm_name, params["Credential"])
    return [] if guest is None else _run_inside(engine, guest, vm_name, params, ctx)


def invoke_in_nested_guest(engine: Engine, params: dict[str, Any], ctx: Context) -> Iterable[Any]:
    """Invoke-Command -VMName $VMName { Invoke-Command -VMName $InnerVMName { & $c @p } }: the L1's
    own PowerShell Direct into its L2, with the same texts when the inner hop fails. Objects carry
    the inner hop's remoting notes (assumption: the outer Invoke-Command keeps the PSComputerName
    the inner one set)."""
    l1 = _direct(ctx, ctx.node, str(params["VMName"]), params["Credential"])
    if l1 is None:
        return []
    inner_vm = str(params["InnerVMName"])
    l2 = _direct(ctx, l1, inner_vm, params["InnerCredential"])
    return [] if l2 is None else _run_inside(engine, l2, inner_vm, params, ctx)


# file name in pytest_nestedhv/remote/scripts -> (mandatory parameters, twin)
_TWINS: dict[str, tuple[tuple[str, ...], Twin]] = {
    "Invoke-InGuest.ps1": (("VMName", "Credential", "Command"), invoke_in_guest),
    "Invoke-InNestedGuest.ps1": (("VMName", "Credential", "InnerVMName", "InnerCredential", "Command"),
                                 invoke_in_nested_guest),
}


def known_scripts() -> dict[str, tuple[str, tuple[str, ...], Twin]]:
    """Folded script text -> (file name, mandatory parameters, twin) for the shipped scripts."""
    folder = resources.files("pytest_nestedhv").joinpath("remote/scripts")
    table: dict[str, tuple[str, tuple[str, ...], Twin]] = {}
    for file_name, (mandatory, twin) in _TWINS.items():
        entry = folder.joinpath(file_name)
        if entry.is_file():
            table[_fold(entry.read_text("utf-8"))] = (file_name, mandatory, twin)
    return table


class ScriptRunner:
    def __init__(self, engine: Engine, scripts: dict[str, tuple[str, tuple[str, ...], Twin]]) -> None:
        self._engine = engine
        self._scripts = scripts

    def run(self, spec: CommandSpec, ctx: Context) -> Iterable[Any]:
        known = self._scripts.get(_fold(spec.name))
        if known is None:
            raise no_language(spec.name)
        file_name, mandatory, twin = known
        params = {str(k): v for k, v in spec.parameters if k is not None}
        missing = [m for m in mandatory if m not in params]
        if missing:
            raise PSError(f"Cannot process command because of one or more missing mandatory parameters: "
                          f"{', '.join(missing)}.", "InvalidArgument", f"MissingMandatoryParameter,{file_name}",
                          exception_type="System.Management.Automation.ParameterBindingException",
                          reason="ParameterBindingException", terminating=True)
        return list(twin(self._engine, params, ctx))
