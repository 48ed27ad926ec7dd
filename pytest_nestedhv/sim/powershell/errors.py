"""PowerShell error records raised and written by the engine and cmdlets."""
from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class PSError(Exception):
    """An ErrorRecord. Raise it to fail the current command; ``terminating`` decides
    whether the pipeline fails (True) or the record goes to the error stream and the
    pipeline continues (False, the default for cmdlets' per-object errors).

    ``category`` is an ErrorCategory name ("InvalidArgument", "ObjectNotFound",
    "InvalidOperation", "InvalidData", "NotSpecified", "ResourceUnavailable", ...).
    ``fqid`` is the FullyQualifiedErrorId, e.g.
    "NamedParameterNotFound,Microsoft.HyperV.PowerShell.Commands.GetVM".
    ``exception_type`` is the .NET exception type name of the record's Exception.
    """

    message: str
    category: str = "NotSpecified"
    fqid: str = "System.Exception"
    target: Any = None
    exception_type: str = "System.Management.Automation.RuntimeException"
    reason: str | None = None  # CategoryInfo.Reason; defaults to the exception's short type name
    activity: str | None = None  # CategoryInfo.Activity; defaults to the command name
    terminating: bool = False
    # (position, pipeline length, expecting input) of the command that raised or wrote it
    invocation: tuple[int, int, bool] | None = None

    def __str__(self) -> str:
        return self.message


def command_not_found(name: str) -> PSError:
    """A name that is no cmdlet here. Windows raises it before any command runs, so its
    CategoryInfo has no activity: "ObjectNotFound: (name:String) [], CommandNotFoundException"."""
    return PSError(f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
                   "program. Check the spelling of the name, or if a path was included, verify that the path is "
                   "correct and try again.", category="ObjectNotFound", fqid="CommandNotFoundException", target=name,
                   exception_type="System.Management.Automation.CommandNotFoundException", activity="",
                   terminating=True)


def no_permission(command: str, class_name: str, computer_name: str) -> PSError:
    """A Hyper-V cmdlet run by a user who is neither an elevated administrator nor in "Hyper-V
    Administrators": the VMMS authorization check refuses it before it does anything."""
    return PSError("You do not have the required permission to complete this task. Contact the administrator of "
                   f"the authorization policy for the computer '{computer_name}'.", category="PermissionDenied",
                   fqid=f"Unspecified,{class_name}", exception_type="Microsoft.HyperV.PowerShell.VirtualizationException",
                   activity=command, terminating=True)
class Halted(Exception):
    """The machine running the command went down (a host crash or restart): the command never
    completes and nothing answers the client."""
