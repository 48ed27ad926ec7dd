"""What a WinRM/PSRP client can observe in one exchange, as plain JSON-able data.

The same functions distil the recordings of real Windows hosts (``distil.py``, offline) and
the emulator's answers to the same requests (``test_conformance.py``), so both sides are
compared fact by fact. Identifiers and host-specific values (ids, owner, client address,
process id, times) are reduced to their presence; everything a client branches on (names,
order, types, texts, codes) is kept.
"""
from __future__ import annotations

import base64
import re
import struct
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

from psrpcore.types import PSRPMessageType

S = "{http://www.w3.org/2003/05/soap-envelope}"
RSP = "{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}"
HOST_SPECIFIC_SHELL = {"ShellId", "Owner", "ClientIP", "ProcessId", "MemoryUsed", "ShellRunTime", "ShellInactivity",
                       "ResourceUri"}
_TIME_TAGS = {"DT"}


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(el: ET.Element | None) -> str | None:
    return None if el is None else (el.text or "")


# --- PSRP messages ---------------------------------------------------------------------------------
class Defragmenter:
    """Reassembles PSRP messages from the base64 streams of one conversation (per direction)."""

    def __init__(self) -> None:
        self._parts: dict[int, bytes] = {}

    def feed(self, b64: str) -> list[tuple[str, uuid.UUID, str]]:
        data = base64.b64decode(b64)
        out = []
        while data:
            object_id, _fragment_id, flags, length = struct.unpack(">QQBI", data[:21])
            chunk, data = data[21:21 + length], data[21 + length:]
            if flags & 1:
                self._parts[object_id] = b""
            self._parts[object_id] = self._parts.get(object_id, b"") + chunk
            if flags & 2:
                message = self._parts.pop(object_id)
                message_type = struct.unpack("<I", message[4:8])[0]
                pipeline = uuid.UUID(bytes_le=message[24:40])
                try:
                    name = PSRPMessageType(message_type).name
                except ValueError:
                    name = hex(message_type)
                body = message[40:].decode("utf-8-sig", "replace")
                out.append((name, pipeline, body))
        return out


def clixml(element: ET.Element) -> Any:
    """The shape of one CLIXML value: primitives as [tag, text]; objects as a dict."""
    if element.tag == "Obj":
        shape: dict[str, Any] = {"order": [c.tag for c in element]}
        tn = element.find("TN")
        if tn is not None:
            shape["TN"] = [t.text for t in tn.findall("T")]
        elif element.find("TNRef") is not None:
            shape["TN"] = "ref"
        if element.find("ToString") is not None:
            shape["ToString"] = element.findtext("ToString")
        for section in ("Props", "MS"):
            found = element.find(section)
            if found is not None:
                shape[section] = [[c.get("N"), _member(c)] for c in found]
        for container in ("LST", "IE", "DCT"):
            found = element.find(container)
            if found is not None:
                shape[container] = [_member(c) for c in found] if container != "DCT" else [
                    [_member(en.find("*[@N='Key']")), _member(en.find("*[@N='Value']"))] for en in found]
        value = [c for c in element if c.tag not in ("TN", "TNRef", "ToString", "Props", "MS", "LST", "IE", "DCT")]
        if value:
            shape["value"] = _member(value[0])
        return shape
    return _member(element)


def _member(element: ET.Element | None) -> Any:
    if element is None:
        return None
    if element.tag == "Obj":
        return clixml(element)
    if element.tag == "Ref":
        return ["Ref"]
    if element.tag in _TIME_TAGS:
        return [element.tag]
    return [element.tag, element.text or ""]


def message_facts(name: str, body: str) -> dict[str, Any]:
    facts: dict[str, Any] = {"type": name}
    if body.strip():
        facts["data"] = clixml(ET.fromstring(body))
    return facts


# --- envelopes ---------------------------------------------------------------------------------
def request_facts(envelope: str, inbound: Defragmenter) -> dict[str, Any]:
    root = ET.fromstring(envelope)
    header = root.find(f"{S}Header")
    body = root.find(f"{S}Body")
    assert header is not None and body is not None
    values = {local(e.tag): (e.text or "").strip() for e in header}
    facts: dict[str, Any] = {
        "action": values.get("Action", "").rsplit("/", 1)[-1],
        "resource_uri": values.get("ResourceURI", ""),
        "to_host": urlsplit(values.get("To", "")).hostname,
    }
    messages = []
    for el in body.iter():
        if local(el.tag) in ("creationXml", "Arguments", "Stream", "connectXml") and (el.text or "").strip():
            try:
                messages += [message_facts(n, b) for n, _p, b in inbound.feed(el.text.strip())]
            except (struct.error, ValueError, ET.ParseError):
                facts["raw_stream"] = True  # a cmd shell's bytes, no PSRP
    if messages:
        facts["psrp"] = messages
    for el in (body.find(f".//{RSP}CommandLine"), body.find(f".//{RSP}Stream")):
        if el is not None and el.get("CommandId"):
            facts["command_id"] = el.get("CommandId", "").upper()
    desired = body.find(f".//{RSP}DesiredStream")
    if desired is not None:
        facts["receive_target"] = (desired.get("CommandId") or "pool").upper()
    return facts


def _shell(el: ET.Element) -> dict[str, Any]:
    fields = [(local(c.tag), c.text or "") for c in el]
    return {"fields": [n for n, _ in fields],
            "values": {n: v for n, v in fields if n not in HOST_SPECIFIC_SHELL}}


def response_facts(envelope: str, outbound: Defragmenter, request: dict[str, Any]) -> dict[str, Any]:
    root = ET.fromstring(envelope)
    header = root.find(f"{S}Header")
    body = root.find(f"{S}Body")
    assert header is not None and body is not None
    facts: dict[str, Any] = {"header": [local(e.tag) for e in header if local(e.tag) != "ActivityId"],
                             "activity_id": header.find("{*}ActivityId") is not None}
    fault = body.find(f"{S}Fault")
    if fault is not None:
        wsman = fault.find(".//{*}WSManFault")
        message = wsman.find("{*}Message") if wsman is not None else None
        provider = message.find("{*}ProviderFault") if message is not None else None
        detail_text = provider.findtext(".//{*}Message") if provider is not None and provider.find(
            ".//{*}Message") is not None else (provider.text if provider is not None else _text(message))
        facts["fault"] = {
            "code": fault.findtext(f"{S}Code/{S}Value"),
            "subcode": fault.findtext(f"{S}Code/{S}Subcode/{S}Value"),
            "reason": fault.findtext(f"{S}Reason/{S}Text"),
            "fault_detail": fault.findtext(".//{*}FaultDetail"),
            "wsman_code": wsman.get("Code") if wsman is not None else None,
            "machine_is_to_host": wsman is not None and wsman.get("Machine") == request.get("to_host"),
            "provider": provider.get("provider") if provider is not None else None,
            "message": detail_text,
        }
        return facts
    facts["body"] = [local(c.tag) for c in body]
    shell = body.find(f"{RSP}Shell")
    if shell is not None:
        facts["shell"] = _shell(shell)
    config = body.find("{http://schemas.microsoft.com/wbem/wsman/1/config}Config")
    if config is not None:
        facts["config"] = [[local(e.tag), None if len(e) else (e.text or "")] for e in config.iter()][1:]
    receive = body.find(f"{RSP}ReceiveResponse")
    if receive is not None:
        messages = []
        for stream in receive.findall(f"{RSP}Stream"):
            target = "command" if stream.get("CommandId") else "pool"
            try:
                decoded = outbound.feed((stream.text or "").strip())
                messages += [{"target": target, **message_facts(name, data)} for name, _pipeline, data in decoded]
            except (struct.error, ValueError, ET.ParseError):
                facts["raw_stream"] = True  # a cmd shell's bytes, no PSRP
        facts["psrp"] = messages
        state = receive.find(f"{RSP}CommandState")
        facts["command_state"] = None if state is None else {
            "state": (state.get("State") or "").rsplit("/", 1)[-1], "exit_code": state.findtext(f"{RSP}ExitCode")}
    command = body.find(f"{RSP}CommandResponse")
    if command is not None:
        facts["command_id_echoed"] = bool(command.findtext(f"{RSP}CommandId"))
    return facts


def scrub(value: Any) -> Any:
    """Drop values that differ between two runs of the same host (GUIDs, times, process ids)."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 2 and value[0] == "G":
            return ["G"]
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}", "<guid>", value)
    return value
