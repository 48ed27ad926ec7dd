"""WSManFault: every error the WinRM service reports, with the codes and texts of wsmerror.h.

Texts end as Windows formats them (FormatMessage leaves one trailing space, two after the
timeout text): recorded in pypsrp's tests/tests_pypsrp/responses (see tests/sim/conformance).
"""
from __future__ import annotations

import dataclasses

FAULT_DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"
SHELL_PROVIDER = ("Shell provider", "%systemroot%\\system32\\WsmSvc.dll")


@dataclasses.dataclass
class WSManFault(Exception):
    code: int  # the WSManFault Code attribute (an HRESULT as unsigned int)
    message: str  # f:Message, the detailed text
    subcode: str = "w:InternalError"  # s:Subcode value (prefix w = DMTF wsman namespace)
    sender: bool = True  # s:Sender (client's fault) or s:Receiver
    reason: str | None = None  # s:Reason/s:Text when it differs from the message
    detail: str | None = None  # w:FaultDetail URI suffix, e.g. "UnexpectedSelectors"
    provider: tuple[str, str] | None = None  # (provider, path) when a plugin's ProviderFault wraps the fault

    def __str__(self) -> str:
        return f"0x{self.code:08X}: {self.message.strip()}"

    @property
    def reason_text(self) -> str:
        return self.reason if self.reason is not None else self.message


# wsmerror.h
OPERATION_TIMEDOUT = 0x80338029
UNEXPECTED_SELECTORS = 0x8033805B
INVALID_XML = 0x80338043
INVALID_SOAP_BODY = 0x80338027
ENCODING_LIMIT = 0x80338035
ACTION_NOT_SUPPORTED = 0x80338013
PROVIDER_FAILURE = 0x80338003
MESSAGE_INFORMATION_HEADER_REQUIRED = 0x80338011
INVALID_HEADER = 0x8033800F
RESOURCE_NOT_FOUND = 0x80338000

_INVALID_SELECTORS = ("The WS-Management service cannot process the request because the request contained invalid "
                      "selectors for the resource. ")


def operation_timed_out() -> WSManFault:
    return WSManFault(
        OPERATION_TIMEDOUT,
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ",
        "w:TimedOut",
        sender=False,
    )


def shell_not_found(shell_id: str) -> WSManFault:
    return WSManFault(
        UNEXPECTED_SELECTORS,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found "
        "on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on "
        "the server. Provide the correct ShellId or create a new shell and retry the operation. ",
        "w:InvalidSelectors",
    )


def command_not_found() -> WSManFault:
    """A CommandId the shell does not know (recorded: Receive with an unknown CommandId)."""
    return WSManFault(
        UNEXPECTED_SELECTORS,
        "The Windows Remote Shell received a request to perform an operation on a command identifier that does not "
        "exist. Either the command has completed execution or the client specified an invalid command identifier. ",
        "w:InvalidSelectors",
        reason=_INVALID_SELECTORS,
        detail="UnexpectedSelectors",
    )


def unknown_resource_instance() -> WSManFault:
    """A Get of a shell that does not exist (recorded: Get after Delete), wrapped by the shell provider."""
    return WSManFault(UNEXPECTED_SELECTORS, _INVALID_SELECTORS, "w:InvalidSelectors", detail="UnexpectedSelectors",
                      provider=SHELL_PROVIDER)


def resource_not_in_catalog(resource_uri: str) -> WSManFault:
    """A resource URI no plugin serves; the text is Windows' (Microsoft's documentation of
    Unregister-PSSessionConfiguration shows it). assumption: its code is ERROR_WSMAN_RESOURCE_NOT_FOUND
    with the DestinationUnreachable subcode; no recording shows them."""
    return WSManFault(
        RESOURCE_NOT_FOUND,
        f"The WS-Management service cannot process the request. The resource URI ({resource_uri}) was not found in "
        "the WS-Management catalog. The catalog contains the metadata that describes resources, or logical "
        "endpoints. ",
        "w:DestinationUnreachable",
    )


def invalid_timeout(text: str) -> WSManFault:
    """An OperationTimeout that is no positive xs:duration (recorded: PT-1S)."""
    return WSManFault(
        INVALID_HEADER,
        f"The WS-Management service cannot process the request. The XML contains an invalid timeout field in the "
        f"SOAP header: {text}. ",
        "a:InvalidMessageInformationHeader",
        reason="The WS-Management service cannot process the request. The request contains one or more invalid "
        "SOAP headers. ",
    )


def invalid_xml() -> WSManFault:
    return WSManFault(
        INVALID_XML, "The WS-Management service cannot process the request because the XML is invalid. ", "w:InvalidXml"
    )


def invalid_soap_body() -> WSManFault:
    return WSManFault(
        INVALID_SOAP_BODY,
        "The WS-Management service cannot process the request because the request packet does not have a valid "
        "SOAP body. ",
        "w:InvalidBody",
    )


def missing_header(name: str) -> WSManFault:
    return WSManFault(
        MESSAGE_INFORMATION_HEADER_REQUIRED,
        "The WS-Management service cannot process the request. The request does not have all the expected SOAP "
        f"headers. Missing: {name}. ",
        "a:MessageInformationHeaderRequired",
    )


def encoding_limit() -> WSManFault:
    # assumption: an envelope over MaxEnvelopeSizekb is answered with the EncodingLimit fault
    return WSManFault(
        ENCODING_LIMIT,
        "The WS-Management service cannot process the request because the encoding of the request exceeds an "
        "internal encoding limit. Reconfigure the client to send messages which fit the encoding limits of the "
        "service. ",
        "w:EncodingLimit",
    )


def action_not_supported(action: str) -> WSManFault:
    return WSManFault(
        ACTION_NOT_SUPPORTED,
        f"The WS-Management service does not support the specified action. Action: {action} ",
        "a:ActionNotSupported",
    )


def plugin_failure(detail: str) -> WSManFault:
    # assumption: a PSRP payload the PowerShell plugin cannot decode is reported as a plugin failure
    return WSManFault(
        PROVIDER_FAILURE, f"An error was encountered inside the plugin. {detail}".strip() + " ", "w:InternalError", False
    )
