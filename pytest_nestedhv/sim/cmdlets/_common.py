"""What the Hyper-V cmdlets share: finding VMs the way the real module does, and its errors."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ..model.state import VM, has_wildcard, wildcard_match
from ..powershell.cmdlet import Call
from ..powershell.errors import PSError, command_not_found
from ..powershell.values import PSOut

T = TypeVar("T")

HV_COMMANDS = "Microsoft.HyperV.PowerShell.Commands."
VIRT_EXC = "Microsoft.HyperV.PowerShell.VirtualizationException"


def as_list(value: Any) -> list[Any]:
    """A parameter value as a list: PowerShell passes one value where an array is declared too."""
    return value if isinstance(value, list) else [value]


def command_class(call: Call) -> str:
    """Get-VM -> GetVM, the class-name part of a Hyper-V FullyQualifiedErrorId."""
    return call.name.replace("-", "")


def now(call: Call) -> dt.datetime:
    return call.ctx.world.refresh()


def changed(call: Call) -> None:
    call.ctx.world.notify_change()


def not_found(call: Call, name: str) -> PSError:
    return PSError(f'Hyper-V was unable to find a virtual machine with name "{name}".', category="InvalidArgument",
                   fqid=f"InvalidParameter,{HV_COMMANDS}{command_class(call)}", target=name,
                   exception_type="Microsoft.HyperV.PowerShell.VirtualizationInvalidArgumentException",
                   reason="VirtualizationInvalidArgumentException")


def invalid_state(call: Call, vm: VM) -> PSError:
    # docs/requirements.md#textinvalid-state (unconfirmed): the text for changing a VM in the wrong state.
    return PSError("The operation cannot be performed while the virtual machine is in its current state.",
                   category="InvalidOperation", fqid=f"InvalidState,{HV_COMMANDS}{command_class(call)}",
                   target=vm.name, exception_type=VIRT_EXC, reason="VirtualizationException")


def require_hyperv(call: Call) -> None:
    """The Hyper-V module exists only with its management tools, and answers only with vmms running."""
    node = call.ctx.node
    if not (node.has_feature("Hyper-V-PowerShell") or node.has_pending_feature("Hyper-V-PowerShell")):
        raise command_not_found(call.name)
    if not node.has_feature("Hyper-V"):
        raise PSError(f"Hyper-V encountered an error trying to access an object on computer "
                      f"'{node.os.computer_name}' because the object was not found. The object might have been "
                      "deleted. Verify that the Virtual Machine Management service on the computer is running.",
                      category="ObjectNotFound", fqid=f"ObjectNotFound,{HV_COMMANDS}{command_class(call)}",
                      exception_type="Microsoft.HyperV.PowerShell.VirtualizationObjectNotFoundException",
                      reason="VirtualizationObjectNotFoundException", terminating=True)


def model_of(obj: Any) -> Any:
    return getattr(obj, "model", None)


def resolve_vm_object(call: Call, obj: Any) -> VM | None:
    """A VM given as a model object, a VirtualMachine PSOut (also one copied by Select-Object), or a name."""
    node = call.ctx.node
    model = model_of(obj)
    if isinstance(obj, VM):
        model = obj
    if isinstance(model, VM):
        return model if any(vm is model for vm in node.vms) else node.vm_by_id(model.id)
    if isinstance(obj, PSOut):
        for key in ("VMId", "Id"):
            try:
                value = obj.get(key)
            except KeyError:
                continue
            found = node.vm_by_id(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
            if found is not None:
                return found
        try:
            obj = obj.get("Name")
        except KeyError:
            return None
    if isinstance(obj, str):
        matches = node.find_vms(obj)
        return matches[0] if matches else None
    return None


def _display_name(obj: Any) -> str:
    """The name a not-found error shows for a VM given as an object (one removed meanwhile) or a string."""
    if isinstance(obj, VM):
        return obj.name
    if isinstance(obj, PSOut):
        try:
            return str(obj.get("Name"))
        except KeyError:
            return str(obj.to_string)
    return str(obj)


def target_vms(call: Call, name_param: str = "Name", object_param: str = "VM") -> Iterator[VM]:
    """The VMs a command acts on: by name (wildcards; non-terminating not-found error for plain
    names), by VM objects, or from pipeline input. Duplicates are dropped, order kept."""
    seen: set[uuid.UUID] = set()

    def emit(vms: Iterable[VM]) -> Iterator[VM]:
        for vm in vms:
            if vm.id not in seen:
                seen.add(vm.id)
                yield vm

    def from_objects(objs: Iterable[Any]) -> Iterator[VM]:
        for obj in objs:
            vm = resolve_vm_object(call, obj)
            if vm is None:
                call.write_error(not_found(call, _display_name(obj)))
            else:
                yield from emit([vm])

    node = call.ctx.node
    if call.has(object_param):
        yield from from_objects(as_list(call.params[object_param]))
        return
    names = call.params.get(name_param)
    if names is None and call.expects_input:
        yield from from_objects(call.input)
        return
    if names is None:
        yield from emit(list(node.vms))
        return
    for name in as_list(names):
        matches = node.find_vms(name)
        if not matches and not has_wildcard(name):
            call.write_error(not_found(call, name))
        yield from emit(matches)


def select_named(call: Call, patterns: Iterable[Any], items: Iterable[T], name_of: Callable[[T], Any],
                 not_found: Callable[[Any], PSError]) -> list[T]:
    """What a Get-* cmdlet returns for -Name patterns, pattern by pattern: a plain name that matches
    nothing writes ``not_found(name)`` (non-terminating); a wildcard that matches nothing is silent."""
    items = list(items)
    selected: list[T] = []
    for pattern in patterns:
        matched = [i for i in items if wildcard_match(str(pattern), str(name_of(i)))]
        if not matched and not has_wildcard(str(pattern)):
            call.write_error(not_found(pattern))
        selected += matched
    return selected
