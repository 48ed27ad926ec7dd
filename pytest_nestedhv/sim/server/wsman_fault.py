"""WSManFault: every error the WinRM service reports, with the codes and texts of wsmerror.h."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class WSManFault(Exception):
    code: int  # the WSManFault Code attribute (an HRESULT as unsigned int)
    message: str
    subcode: str = "w:InternalError"  # s:Subcode value (prefix w = DMTF wsman namespace)
    sender: bool = True  # s:Sender (client's fault) or s:Receiver

    def __str__(self) -> str:
        return f"0x{self.code:08X}: {self.message}"


# wsmerror.h
OPERATION_TIMEDOUT = 0x80338029
UNEXPECTED_SELECTORS = 0x8033805B
INVALID_XML = 0x80338043
INVALID_SOAP_BODY = 0x80338027
ENCODING_LIMIT = 0x80338035
ACTION_NOT_SUPPORTED = 0x80338013
INVALID_SELECTORS = 0x8033803D
PROVIDER_FAILURE = 0x80338003
MESSAGE_INFORMATION_HEADER_REQUIRED = 0x80338011


def operation_timed_out() -> WSManFault:
    return WSManFault(
        OPERATION_TIMEDOUT,
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        "w:TimedOut",
        sender=False,
    )


def shell_not_found(shell_id: str) -> WSManFault:
    return WSManFault(
        UNEXPECTED_SELECTORS,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found "
        "on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on "
        "the server. Provide the correct ShellId or create a new shell and retry the operation.",
        "w:InvalidSelectors",
    )


def command_not_found(shell_id: str, command_id: str) -> WSManFault:
    # assumption: WinRM reports an unknown CommandId with the selector fault code; the text is modelled on
    # the shell-not-found text.
    return WSManFault(
        UNEXPECTED_SELECTORS,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the command with "
        f"CommandId {command_id} was not found on the server. Possible causes are: the specified CommandId is "
        "incorrect or the command no longer exists on the server.",
        "w:InvalidSelectors",
    )


def invalid_xml() -> WSManFault:
    return WSManFault(
        INVALID_XML, "The WS-Management service cannot process the request because the XML is invalid.", "w:InvalidXml"
    )


def invalid_soap_body() -> WSManFault:
    return WSManFault(
        INVALID_SOAP_BODY,
        "The WS-Management service cannot process the request because the request packet does not have a valid "
        "SOAP body.",
        "w:InvalidBody",
    )


def missing_header(name: str) -> WSManFault:
    return WSManFault(
        MESSAGE_INFORMATION_HEADER_REQUIRED,
        "The WS-Management service cannot process the request. The request does not have all the expected SOAP "
        f"headers. Missing: {name}.",
        "a:MessageInformationHeaderRequired",
    )


def encoding_limit() -> WSManFault:
    # assumption: an envelope over MaxEnvelopeSizekb is answered with the EncodingLimit fault
    return WSManFault(
        ENCODING_LIMIT,
        "The WS-Management service cannot process the request because the encoding of the request exceeds an "
        "internal encoding limit. Reconfigure the client to send messages which fit the encoding limits of the "
        "service.",
        "w:EncodingLimit",
    )


def action_not_supported(action: str) -> WSManFault:
    return WSManFault(
        ACTION_NOT_SUPPORTED,
        f"The WS-Management service does not support the specified action. Action: {action}",
        "a:ActionNotSupported",
    )


def plugin_failure(detail: str) -> WSManFault:
    # assumption: a PSRP payload the PowerShell plugin cannot decode is reported as a plugin failure
    return WSManFault(
        PROVIDER_FAILURE, f"An error was encountered inside the plugin. {detail}".strip(), "w:InternalError", False
    )
