"""The emulated host as ``powershell.exe -s`` serves it: PSRP over stdin/stdout (MS-PSRP out-of-process).

Each line is one XML packet: ``<Data Stream='Default' PSGuid='...'>base64</Data>`` carries PSRP
fragments for the pool (the all-zero guid) or one pipeline; ``<Command PSGuid='...' />`` creates a
pipeline, ``<Signal .../>`` stops it, ``<Close .../>`` closes it (or, with the zero guid, the
pool and the process). Each is acknowledged with ``<CommandAck .../>``, ``<SignalAck .../>`` and
``<CloseAck .../>``; a pipeline's data with ``<DataAck .../>`` once it runs. The PSRP side is the
same ``PsrpShell`` the WinRM endpoint uses; only the framing differs.
"""
from __future__ import annotations

import base64
import logging
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import BinaryIO

from .engine_api import EngineLike
from .psrp_shell import PsrpShell
from .wsman_fault import WSManFault

log = logging.getLogger(__name__)

EMPTY = uuid.UUID(int=0)
NEWLINE = b"\r\n"  # what PowerShell's WriteLine ends a packet with on Windows


def _packet(tag: str, guid: uuid.UUID | None, data: bytes | None = None, stream: str = "Default") -> bytes:
    guid_text = str(guid or EMPTY)
    if data is None:
        return f"<{tag} PSGuid='{guid_text}' />".encode("ascii") + NEWLINE
    body = base64.b64encode(data).decode("ascii")
    return f"<{tag} Stream='{stream}' PSGuid='{guid_text}'>{body}</{tag}>".encode("ascii") + NEWLINE


class _StdioShell(PsrpShell):
    """A PsrpShell whose output goes straight to the packet writer instead of per-target queues."""

    def __init__(self, engine: EngineLike, write: Callable[[bytes], None]) -> None:
        super().__init__(str(uuid.uuid4()).upper(), "stdio", "", "", engine)
        self._write = write

    def _deliver(self, pipeline_id: uuid.UUID | None, data: bytes) -> None:
        self._write(_packet("Data", pipeline_id, data))


class StdioServer:
    """Reads packets from ``stdin`` until the pool is closed or the input ends."""

    def __init__(self, engine: EngineLike, stdin: BinaryIO, stdout: BinaryIO) -> None:
        self._stdin = stdin
        self._stdout = stdout
        self._write_lock = threading.Lock()
        self._shell = _StdioShell(engine, self._write)
        self._opened = False
        self._running_acked: set[uuid.UUID] = set()

    def _write(self, packet: bytes) -> None:
        with self._write_lock:
            try:
                self._stdout.write(packet)
                self._stdout.flush()
            except (BrokenPipeError, ValueError, OSError):  # the client went away: nothing left to tell
                pass

    def serve(self) -> int:
        try:
            for raw in self._stdin:
                line = raw.strip().lstrip(b"\xef\xbb\xbf")
                if line and not self._handle(line):
                    break
        finally:
            self._shell.close()
        return 0

    def _handle(self, line: bytes) -> bool:
        """One packet; False once the pool is closed."""
        try:
            element = ET.fromstring(line)
            guid = uuid.UUID(element.attrib["PSGuid"])
        except (ET.ParseError, KeyError, ValueError):
            log.warning("ignoring a packet that is not out-of-process XML: %r", line[:80])
            return True
        target = None if guid == EMPTY else guid
        try:
            if element.tag == "Data":
                self._data(target, base64.b64decode(element.text or ""), element.attrib.get("Stream", "Default"))
            elif element.tag == "Command":
                assert target is not None
                self._shell.command(target, b"")
                self._write(_packet("CommandAck", guid))
            elif element.tag == "Signal":
                if target is not None and self._shell.has_command(target):
                    self._shell.signal(target, "powershell/signal/ctrl_c")
                self._write(_packet("SignalAck", guid))
            elif element.tag == "Close":
                if target is None:
                    self._write(_packet("CloseAck", guid))
                    return False
                if self._shell.has_command(target):
                    self._shell.signal(target, "terminate")
                self._running_acked.discard(target)
                self._write(_packet("CloseAck", guid))
            else:
                log.warning("ignoring an unknown packet %s", element.tag)
        except WSManFault as fault:  # the pool cannot go on (garbage fragments...): PowerShell exits too
            log.error("%s", fault)
            return False
        return True

    def _data(self, target: uuid.UUID | None, data: bytes, stream: str) -> None:
        if target is None and not self._opened:
            self._opened = True
            self._shell.open(data)
            return
        self._shell.send(data, target, "pr" if stream == "PromptResponse" else "stdin")
        if target is not None and target not in self._running_acked and self._shell.has_command(target):
            # the pipeline has its definition and runs: the same moment PowerShell acknowledges it
            self._running_acked.add(target)
            self._write(_packet("DataAck", target))


def serve_stdio(engine: EngineLike, stdin: BinaryIO, stdout: BinaryIO) -> int:
    return StdioServer(engine, stdin, stdout).serve()
