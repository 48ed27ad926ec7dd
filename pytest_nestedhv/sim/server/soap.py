"""WSMan SOAP envelopes: parse a request, build responses and fault envelopes."""
from __future__ import annotations

import dataclasses
import random
import re
import uuid
import xml.etree.ElementTree as ET

from . import wsman_fault
from .wsman_fault import WSManFault

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


@dataclasses.dataclass(frozen=True)
class SoapRequest:
    action: str
    message_id: str
    resource_uri: str
    selectors: dict[str, str]
    options: dict[str, str]
    operation_timeout: float  # seconds
    max_envelope_size: int
    body: ET.Element


def message_id_of(envelope: bytes) -> str | None:
    """Best effort MessageID of a request that failed to parse, so its fault can relate to it."""
    match = re.search(rb"MessageID[^>]*>\s*([^<\s]+)\s*<", envelope)
    return match.group(1).decode("ascii", "replace") if match else None


def duration(text: str | None, default: float) -> float:
    """OperationTimeout in seconds; absent means the default, anything but a positive xs:duration is
    refused as Windows refuses it (recorded: PT-1S)."""
    if text is None:
        return default
    value = text.strip()
    match = _DURATION.match(value)
    if not match or not any(match.groups()):
        raise wsman_fault.invalid_timeout(value)
    days, hours, minutes, seconds = match.groups()
    total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    if total <= 0:
        raise wsman_fault.invalid_timeout(value)
    return total


def parse_request(envelope: bytes, default_timeout: float = 60.0) -> SoapRequest:
    try:
        root = ET.fromstring(envelope)
    except ET.ParseError:
        raise wsman_fault.invalid_xml() from None
    if root.tag != q("s", "Envelope"):
        raise wsman_fault.invalid_xml()
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None:
        raise wsman_fault.missing_header("Header")
    if body is None:
        raise wsman_fault.invalid_soap_body()
    action = (header.findtext("a:Action", None, NS) or "").strip()
    message_id = (header.findtext("a:MessageID", None, NS) or "").strip()
    if not action:
        raise wsman_fault.missing_header("Action")
    if not message_id:
        raise wsman_fault.missing_header("MessageID")
    selectors = {
        s.attrib.get("Name", ""): (s.text or "").strip() for s in header.findall("w:SelectorSet/w:Selector", NS)
    }
    options = {o.attrib.get("Name", ""): (o.text or "").strip() for o in header.findall("w:OptionSet/w:Option", NS)}
    try:
        max_env = int((header.findtext("w:MaxEnvelopeSize", None, NS) or "153600").strip())
    except ValueError:
        max_env = 153600
    return SoapRequest(
        action=action,
        message_id=message_id,
        resource_uri=(header.findtext("w:ResourceURI", None, NS) or "").strip(),
        selectors=selectors,
        options=options,
        operation_timeout=duration(header.findtext("w:OperationTimeout", None, NS), default_timeout),
        max_envelope_size=max_env,
        body=body,
    )


def _uuid_text() -> str:
    # uuid4() reads os.urandom, which costs ~0.2 ms per call in sandboxes; a message id needs no crypto
    return str(uuid.UUID(int=random.getrandbits(128), version=4)).upper()


def _header(action: str, relates_to: str | None, activity: bool) -> ET.Element:
    # Windows' order: Action, MessageID, ActivityId (answers, not faults), To, RelatesTo
    header = ET.Element(q("s", "Header"))
    ET.SubElement(header, q("a", "Action")).text = action
    ET.SubElement(header, q("a", "MessageID")).text = f"uuid:{_uuid_text()}"
    if activity:
        ET.SubElement(header, q("p", "ActivityId")).text = _uuid_text()
    ET.SubElement(header, q("a", "To")).text = ANONYMOUS
    if relates_to:
        ET.SubElement(header, q("a", "RelatesTo")).text = relates_to
    return header


def response(action: str, relates_to: str, body_children: list[ET.Element]) -> bytes:
    envelope = ET.Element(q("s", "Envelope"), {q("xml", "lang"): "en-US"})
    envelope.append(_header(action, relates_to, activity=True))
    body = ET.SubElement(envelope, q("s", "Body"))
    body.extend(body_children)
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=False)


def fault(error: WSManFault, relates_to: str | None, machine: str) -> bytes:
    envelope = ET.Element(q("s", "Envelope"), {q("xml", "lang"): "en-US"})
    envelope.append(_header(FAULT_ACTION, relates_to, activity=False))
    body = ET.SubElement(envelope, q("s", "Body"))
    fault_el = ET.SubElement(body, q("s", "Fault"))
    code = ET.SubElement(fault_el, q("s", "Code"))
    ET.SubElement(code, q("s", "Value")).text = "s:Sender" if error.sender else "s:Receiver"
    subcode = ET.SubElement(code, q("s", "Subcode"))
    ET.SubElement(subcode, q("s", "Value")).text = error.subcode
    reason = ET.SubElement(fault_el, q("s", "Reason"))
    ET.SubElement(reason, q("s", "Text"), {q("xml", "lang"): "en-US"}).text = error.reason_text
    detail = ET.SubElement(fault_el, q("s", "Detail"))
    if error.detail:
        ET.SubElement(detail, q("w", "FaultDetail")).text = wsman_fault.FAULT_DETAIL + error.detail
    wsman = ET.SubElement(detail, q("f", "WSManFault"), {"Code": str(error.code), "Machine": machine})
    message = ET.SubElement(wsman, q("f", "Message"))
    if error.provider is None:
        message.text = error.message
    else:  # a plugin's fault: the provider's own WSManFault inside a ProviderFault
        name, path = error.provider
        provider = ET.SubElement(message, q("f", "ProviderFault"), {"provider": name, "path": path})
        inner = ET.SubElement(provider, q("f", "WSManFault"), {"Code": str(error.code), "Machine": machine})
        ET.SubElement(inner, q("f", "Message")).text = error.message
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=False)
