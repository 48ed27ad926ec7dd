"""PSError -> psrpcore ErrorRecord: the one conversion used for written (non-terminating)
errors and for the record that fails a pipeline."""
from __future__ import annotations

from typing import Any

from psrpcore.types import ErrorCategory, ErrorCategoryInfo, ErrorRecord, NETException, PSObject

from ..powershell.errors import PSError
from ..powershell.serialize import clixml_text

# .NET base chains of the exception types cmdlets use; anything else derives from System.Exception.
_BASES: dict[str, list[str]] = {
    "System.Management.Automation.RuntimeException": ["System.SystemException"],
    "System.Management.Automation.CommandNotFoundException": [
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "System.Management.Automation.ParameterBindingException": [
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "System.Management.Automation.ParentContainsErrorRecordException": ["System.SystemException"],
    "System.Management.Automation.ItemNotFoundException": [
        "System.Management.Automation.SessionStateException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "System.Management.Automation.PipelineStoppedException": [
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "System.ArgumentException": ["System.SystemException"],
    "System.InvalidOperationException": ["System.SystemException"],
    "System.TimeoutException": ["System.SystemException"],
    "Microsoft.HyperV.PowerShell.VirtualizationException": [],
    "Microsoft.HyperV.PowerShell.VirtualizationOperationFailedException": [
        "Microsoft.HyperV.PowerShell.VirtualizationException"
    ],
}


def _type_chain(exception_type: str) -> list[str]:
    chain = [exception_type, *_BASES.get(exception_type, [])]
    return [t for t in chain if t not in ("System.Exception", "System.Object")] + ["System.Exception", "System.Object"]


def _category(name: str) -> ErrorCategory:
    try:
        return ErrorCategory[name]
    except KeyError:
        return ErrorCategory.NotSpecified


def _target(value: Any) -> Any:
    # the record's TargetObject must serialize; cmdlet values other than primitives go as their string form
    if value is None or isinstance(value, (str, int, float, bool, PSObject)):
        return value
    return str(value)


def to_error_record(error: PSError, command: str | None) -> ErrorRecord:
    """Build the ErrorRecord PowerShell would send for ``error`` raised by ``command``."""
    exception = NETException(Message=error.message, HResult=-2146233087)
    exception.PSObject.type_names = _type_chain(error.exception_type)
    target = _target(error.target)
    record = ErrorRecord(
        Exception=exception,
        CategoryInfo=ErrorCategoryInfo(
            Category=_category(error.category),
            Activity=error.activity if error.activity is not None else (command or ""),
            Reason=error.reason or error.exception_type.rsplit(".", 1)[-1],
            TargetName="" if target is None else str(target),
            TargetType="" if target is None else _target_type(error.target),
        ),
        TargetObject=target,
        FullyQualifiedErrorId=error.fqid,
    )
    record.PSObject.to_string = clixml_text(error.message)  # psrpcore writes ToString unescaped
    return record


def _target_type(value: Any) -> str:
    names = getattr(value, "type_names", None)
    if isinstance(names, list) and names:
        return str(names[0]).rsplit(".", 1)[-1]
    return {str: "String", int: "Int32", bool: "Boolean", float: "Double"}.get(type(value), type(value).__name__)


def internal_error(exc: BaseException, command: str | None) -> PSError:
    """An unexpected failure inside the emulator, reported as PowerShell would report a .NET exception."""
    return PSError(
        message=f"{type(exc).__name__}: {exc}",
        category="NotSpecified",
        fqid="System.Exception" + (f",{command}" if command else ""),
        exception_type="System.Exception",
        reason="Exception",
        terminating=True,
    )
