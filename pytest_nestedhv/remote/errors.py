"""Errors of the remote layer. Every message is one line, meant to be read by a person."""
from __future__ import annotations

from typing import Any

# System.Management.Automation.ErrorCategory, by value
ERROR_CATEGORIES: tuple[str, ...] = (
    "NotSpecified", "OpenError", "CloseError", "DeviceError", "DeadlockDetected", "InvalidArgument",
    "InvalidData", "InvalidOperation", "InvalidResult", "InvalidType", "MetadataError", "NotImplemented",
    "NotInstalled", "ObjectNotFound", "OperationStopped", "OperationTimeout", "SyntaxError", "ParserError",
    "PermissionDenied", "ResourceBusy", "ResourceExists", "ResourceUnavailable", "ReadError", "WriteError",
    "FromStdErr", "SecurityError", "ProtocolError", "ConnectionError", "AuthenticationError",
    "LimitsExceeded", "QuotaExceeded", "NotEnabled",
)


def category_name(value: Any) -> str:
    if isinstance(value, int) and 0 <= value < len(ERROR_CATEGORIES):
        return ERROR_CATEGORIES[value]
    return str(value) if value is not None else "NotSpecified"


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class RemoteError(Exception):
    """A PowerShell error record from the remote side (or a failed pipeline)."""

    def __init__(
        self,
        message: str,
        *,
        fqid: str = "",
        category: str = "NotSpecified",
        target: str | None = None,
        command: str = "",
        errors: tuple[RemoteError, ...] = (),
    ) -> None:
        self.message = one_line(message)
        self.fqid = fqid
        self.category = category
        self.target = target
        self.command = one_line(command)
        self.errors = errors  # every record when there were several; self is the first
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.command}: " if self.command else ""
        fqid = f" [{self.fqid}]" if self.fqid else ""
        more = f" (+{len(self.errors) - 1} more errors)" if len(self.errors) > 1 else ""
        return f"{where}{self.message}{fqid}{more}"

    def __reduce__(self) -> Any:
        return (_rebuild_remote_error, (type(self), self.message, self.fqid, self.category, self.target, self.command))


def _rebuild_remote_error(cls: type[RemoteError], message: str, fqid: str, category: str,
                          target: str | None, command: str) -> RemoteError:
    return cls(message, fqid=fqid, category=category, target=target, command=command)


# The public name users catch: a command that failed on the host or in a guest. ``message`` is
# PowerShell's own text, ``fqid`` the FullyQualifiedErrorId, ``category`` the ErrorCategory name.
RemoteCommandError = RemoteError


class RemoteTimeout(RemoteError):
    """A remote call outlived its timeout; the pipeline was stopped."""


class ConnectionFailed(Exception):
    """The host cannot be used: unreachable, refused, TLS, credentials... One line for the user."""

    def __init__(self, message: str, *, target: str = "") -> None:
        self.message = one_line(message)
        self.target = target
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class HostLost(ConnectionFailed):
    """The host went away mid-run (the local PowerShell process died): the run ends after the current test."""


class HostUnreachable(ConnectionFailed):
    """A host that was answering stopped: connections reset or refused, or no answer in time.
    It may be rebooting (a crash, a restart); remote/reconnect.py waits for it."""


class HostGone(ConnectionFailed):
    """A host that stopped answering did not come back within the reboot timeout."""
