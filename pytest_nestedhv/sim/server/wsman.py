"""WSMan actions for PowerShell remoting shells: Create, Command, Send, Receive, Signal, Delete, Get."""
from __future__ import annotations

import base64
import binascii
import dataclasses
import threading
import uuid
import xml.etree.ElementTree as ET

from . import soap, wsman_fault
from .engine_api import EngineLike
from .psrp_shell import PsrpShell
from .server_config import config_element
from .soap import NS, SoapRequest, q

POWERSHELL_URI = "http://schemas.microsoft.com/powershell/"
CONFIG_URI = "http://schemas.microsoft.com/wbem/wsman/1/config"
STREAM_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
DEFAULT_IDLE_SECONDS = 7200.0  # winrm/config/Winrs IdleTimeout, 7200000 ms
MAX_IDLE = "PT2147483.647S"


@dataclasses.dataclass(frozen=True)
class Caller:
    user: str
    client_ip: str
    endpoint: str  # the URL the client used, for ResourceCreated/Address


def _b64(text: str | None) -> bytes:
    try:
        return base64.b64decode((text or "").strip(), validate=True)
    except binascii.Error:
        raise wsman_fault.plugin_failure("The PowerShell remoting data is not valid base64.") from None


def _uuid(text: str | None, what: str) -> uuid.UUID:
    try:
        return uuid.UUID((text or "").strip())
    except ValueError:
        raise wsman_fault.invalid_xml() from None


class ShellService:
    """All shells of one server, keyed by ShellId (upper-case GUID)."""

    def __init__(self, engine: EngineLike, max_receive_bytes: int = 150 * 1024, auth: str = "negotiate") -> None:
        self._engine = engine
        self._auth = auth
        self._lock = threading.Lock()
        self._shells: dict[str, PsrpShell] = {}
        self._stopping = False
        self._max_receive = max_receive_bytes

    def shell_count(self) -> int:
        with self._lock:
            return len(self._shells)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            shell.abort_waits()

    def handle(self, request: SoapRequest, caller: Caller) -> bytes:
        action = request.action
        handlers = {
            soap.TRANSFER + "Create": self._create,
            soap.TRANSFER + "Delete": self._delete,
            soap.TRANSFER + "Get": self._get,
            soap.SHELL + "Command": self._command,
            soap.SHELL + "Send": self._send,
            soap.SHELL + "Receive": self._receive,
            soap.SHELL + "Signal": self._signal,
        }
        handler = handlers.get(action)
        if handler is None:
            raise wsman_fault.action_not_supported(action)
        children = handler(request, caller)
        return soap.response(action + "Response", request.message_id, children)

    # --- lookup ---------------------------------------------------------------------------
    def _shell(self, request: SoapRequest) -> PsrpShell:
        shell_id = request.selectors.get("ShellId", "")
        with self._lock:
            shell = self._shells.get(shell_id.upper())
        if shell is None:
            if request.action == soap.TRANSFER + "Get":
                raise wsman_fault.unknown_resource_instance()
            raise wsman_fault.shell_not_found(shell_id)
        return shell

    # --- actions --------------------------------------------------------------------------
    def _create(self, request: SoapRequest, caller: Caller) -> list[ET.Element]:
        if not request.resource_uri.startswith(POWERSHELL_URI):
            # only PowerShell endpoints are registered on the emulated host: a cmd shell's resource URI is
            # answered as WinRM answers a resource URI no plugin serves
            raise wsman_fault.resource_not_in_catalog(request.resource_uri)
        shell_el = request.body.find("rsp:Shell", NS)
        if shell_el is None:
            raise wsman_fault.invalid_soap_body()
        creation = shell_el.find("{http://schemas.microsoft.com/powershell}creationXml")
        if creation is None:
            raise wsman_fault.invalid_soap_body()
        shell_id = (shell_el.attrib.get("ShellId") or str(uuid.uuid4())).upper()
        shell = PsrpShell(shell_id, request.resource_uri, caller.user, caller.client_ip, self._engine)
        idle = shell_el.findtext("rsp:IdleTimeOut", None, NS)
        shell.idle_seconds = soap.duration(idle, DEFAULT_IDLE_SECONDS) if idle else DEFAULT_IDLE_SECONDS
        shell.profile_loaded = request.options.get("WINRS_NOPROFILE", "").upper() != "TRUE"
        shell.open(_b64(creation.text))
        with self._lock:
            if self._stopping:
                raise wsman_fault.operation_timed_out()
            self._shells[shell_id] = shell

        created = ET.Element(q("x", "ResourceCreated"))
        ET.SubElement(created, q("a", "Address")).text = caller.endpoint
        refs = ET.SubElement(created, q("a", "ReferenceParameters"))
        ET.SubElement(refs, q("w", "ResourceURI")).text = request.resource_uri
        selectors = ET.SubElement(refs, q("w", "SelectorSet"))
        ET.SubElement(selectors, q("w", "Selector"), {"Name": "ShellId"}).text = shell_id
        return [created, self._shell_element(shell, request)]

    def _shell_element(self, shell: PsrpShell, request: SoapRequest, usage: bool = False) -> ET.Element:
        """The rsp:Shell fields in Windows' order (recorded Create and Get answers); a Get adds the
        shell's memory and child processes."""
        el = ET.Element(q("rsp", "Shell"))
        run_time, inactivity = shell.times()
        fields = [
            ("ShellId", shell.shell_id),
            ("ResourceUri", shell.resource_uri),
            ("Owner", shell.owner),
            ("ClientIP", shell.client_ip),
            ("ProcessId", str(shell.process_id)),
            ("IdleTimeOut", f"PT{shell.idle_seconds:.3f}S"),
            ("InputStreams", "stdin pr"),
            ("OutputStreams", "stdout"),
            ("MaxIdleTimeOut", MAX_IDLE),
            ("Locale", "en-US"),
            ("DataLocale", "en-US"),
            ("CompressionMode", "NoCompression"),  # pypsrp asks for none; Windows echoes it
            ("ProfileLoaded", "Yes" if shell.profile_loaded else "No"),
            ("Encoding", "UTF8"),
            ("BufferMode", "Block"),
            ("State", "Connected"),
            ("ShellRunTime", _wsman_duration(run_time)),
            ("ShellInactivity", _wsman_duration(inactivity)),
        ]
        if usage:  # the emulator has no wsmprovhost.exe: a typical recorded value
            fields += [("MemoryUsed", "58MB"), ("ChildProcesses", "0")]
        for name, value in fields:
            ET.SubElement(el, q("rsp", name)).text = value
        return el

    def _delete(self, request: SoapRequest, caller: Caller) -> list[ET.Element]:
        shell = self._shell(request)
        with self._lock:
            self._shells.pop(shell.shell_id, None)
        shell.close()
        return []

    def _get(self, request: SoapRequest, caller: Caller) -> list[ET.Element]:
        if request.resource_uri.rstrip("/").lower() == CONFIG_URI:
            return [config_element(self._auth)]
        return [self._shell_element(self._shell(request), request, usage=True)]

    def _command(self, request: SoapRequest, caller: Caller) -> list[ET.Element]:
        shell = self._shell(request)
        line = request.body.find("rsp:CommandLine", NS)
        if line is None:
            raise wsman_fault.invalid_soap_body()
        command_id = _uuid(line.attrib.get("CommandId") or str(uuid.uuid4()), "CommandId")
        arguments = line.findtext("rsp:Arguments", None, NS)
        shell.command(command_id, _b64(arguments))
        response = ET.Element(q("rsp", "CommandResponse"))
        ET.SubElement(response, q("rsp", "CommandId")).text = str(command_id).upper()
        return [response]

    def _send(self, request: SoapRequest, caller: Caller) -> list[ET.Element]:
        shell = self._shell(request)
        streams = request.body.findall("rsp:Send/rsp:Stream", NS)
        if not streams:
            raise wsman_fault.invalid_soap_body()
        for stream in streams:
            command_text = stream.attrib.get("CommandId")
            command_id = _uuid(command_text, "CommandId") if command_text else None
            shell.send(_b64(stream.text), command_id, stream.attrib.get("Name", "stdin"))
        return [ET.Element(q("rsp", "SendResponse"))]

    def _receive(self, request: SoapRequest, caller: Caller) -> list[ET.Element]:
        shell = self._shell(request)
        desired = request.body.find("rsp:Receive/rsp:DesiredStream", NS)
        if desired is None:
            raise wsman_fault.invalid_soap_body()
        command_text = desired.attrib.get("CommandId")
        command_id = _uuid(command_text, "CommandId") if command_text else None
        # base64 inflates by 4/3; keep room for the envelope around the streams
        budget = max(1024, min(self._max_receive, (request.max_envelope_size - 4096) * 3 // 4))
        payloads, done = shell.receive(command_id, request.operation_timeout, budget)
        response = ET.Element(q("rsp", "ReceiveResponse"))
        for payload in payloads:
            attrs = {"Name": "stdout"}
            if command_id is not None:
                attrs["CommandId"] = str(command_id).upper()
            ET.SubElement(response, q("rsp", "Stream"), attrs).text = base64.b64encode(payload).decode("ascii")
        if command_id is not None and done:
            # Windows sends CommandState only with the last answer (recorded intermediate Receives have none)
            state = ET.SubElement(
                response, q("rsp", "CommandState"), {"CommandId": str(command_id).upper(), "State": STREAM_DONE}
            )
            ET.SubElement(state, q("rsp", "ExitCode")).text = "0"
        return [response]

    def _signal(self, request: SoapRequest, caller: Caller) -> list[ET.Element]:
        shell = self._shell(request)
        signal = request.body.find("rsp:Signal", NS)
        if signal is None:
            raise wsman_fault.invalid_soap_body()
        command_id = _uuid(signal.attrib.get("CommandId"), "CommandId")
        shell.signal(command_id, (signal.findtext("rsp:Code", None, NS) or "").strip())
        return [ET.Element(q("rsp", "SignalResponse"))]


def _wsman_duration(seconds: float) -> str:
    """ShellRunTime/ShellInactivity as Windows writes them: P0DT0H1M2S."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"P{days}DT{hours}H{minutes}M{secs}S"
