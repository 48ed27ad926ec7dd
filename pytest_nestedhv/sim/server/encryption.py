"""WinRM message encryption over HTTP (MS-WSMV 2.2.9.1): multipart/encrypted bodies sealed
with the connection's NTLM/SPNEGO context."""
from __future__ import annotations

import re
import struct
from typing import Any

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = "Encrypted Boundary"
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="{BOUNDARY}"'


class EncryptionError(Exception):
    """The encrypted body could not be parsed or unsealed."""


def is_encrypted(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/encrypted")


def unwrap(context: Any, body: bytes) -> bytes:
    """Return the plaintext SOAP envelope of an encrypted request body."""
    parts = [p for p in re.split(rb"--\s*" + re.escape(BOUNDARY.encode()) + rb"(?:--)?\r\n", body) if p.strip()]
    if len(parts) < 2 or len(parts) % 2:
        raise EncryptionError("malformed multipart/encrypted body")
    plain = b""
    for header, payload in zip(parts[0::2], parts[1::2]):
        length_match = re.search(rb"Length=(\d+)", header)
        if not length_match:
            raise EncryptionError("missing OriginalContent length")
        payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        if len(payload) < 4:
            raise EncryptionError("truncated encrypted payload")
        header_length = struct.unpack("<i", payload[:4])[0]
        if header_length < 0 or 4 + header_length > len(payload):
            raise EncryptionError("bad signature length")
        try:
            data = context.unwrap_winrm(payload[4 : 4 + header_length], payload[4 + header_length :])
        except Exception as exc:  # pyspnego raises its own error types for a bad seal or signature
            raise EncryptionError(f"cannot unseal the message: {type(exc).__name__}") from exc
        if len(data) != int(length_match.group(1)):
            raise EncryptionError("decrypted length does not match OriginalContent length")
        plain += data
    return plain


def wrap(context: Any, message: bytes) -> bytes:
    """Seal a response envelope the way the WinRM service does."""
    header, sealed, padding = context.wrap_winrm(message)
    return (
        f"--{BOUNDARY}\r\n"
        f"\tContent-Type: {PROTOCOL}\r\n"
        f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(message) + padding}\r\n"
        f"--{BOUNDARY}\r\n"
        "\tContent-Type: application/octet-stream\r\n"
    ).encode() + struct.pack("<i", len(header)) + header + sealed + f"--{BOUNDARY}--\r\n".encode()
