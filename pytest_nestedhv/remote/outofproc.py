"""MS-PSRP's out-of-process transport: XML packets, one per line, on a child process's stdio.

``<Data Stream='Default' PSGuid='...'>base64</Data>`` carries PSRP fragments for the runspace
pool (the all-zero guid) or one pipeline; ``<Command PSGuid='...' />`` announces a pipeline,
``<Signal .../>`` stops it, ``<Close .../>`` closes it or (zero guid) the pool; the server answers
with ``DataAck``, ``CommandAck``, ``SignalAck``, ``CloseAck``. This module frames packets and owns
the child process; what the fragments mean is psrpcore's business (remote/backends/local.py).
"""
from __future__ import annotations

import base64
import collections
import dataclasses
import logging
import os
import queue
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence

log = logging.getLogger("pytest_nestedhv.remote")

EMPTY = uuid.UUID(int=0)
STDERR_LINES = 5  # the child's last stderr lines, for the message when it dies


@dataclasses.dataclass(frozen=True)
class Packet:
    tag: str  # Data, DataAck, Command, CommandAck, Signal, SignalAck, Close, CloseAck
    guid: uuid.UUID | None  # None for the pool (the all-zero guid)
    data: bytes | None = None
    stream: str = "Default"


def encode(packet: Packet) -> bytes:
    guid = str(packet.guid or EMPTY)
    if packet.data is None:
        return f"<{packet.tag} PSGuid='{guid}' />\n".encode("ascii")
    body = base64.b64encode(packet.data).decode("ascii")
    return f"<{packet.tag} Stream='{packet.stream}' PSGuid='{guid}'>{body}</{packet.tag}>\n".encode("ascii")


def decode(line: bytes) -> Packet | None:
    """One packet from one line (CRLF or LF, a UTF-8 BOM tolerated); None when it is not one."""
    text = line.strip().lstrip(b"\xef\xbb\xbf")
    if not text:
        return None
    try:
        element = ET.fromstring(text)
        guid = uuid.UUID(element.attrib["PSGuid"])
        data = base64.b64decode(element.text or "", validate=True) if element.tag == "Data" else None
    except (ET.ParseError, KeyError, ValueError):
        return None
    return Packet(element.tag, None if guid == EMPTY else guid, data, element.attrib.get("Stream", "Default"))


class ChildExited(Exception):
    """The PowerShell process ended (or closed its output) while we still talked to it."""

    def __init__(self, returncode: int | None, stderr: str) -> None:
        self.returncode = returncode
        self.stderr = stderr
        code = "" if returncode is None else f" with code {returncode}"
        super().__init__(f"exited{code}" + (f": {stderr}" if stderr else ""))


class Channel:
    """A child process speaking the out-of-process transport on its stdin/stdout."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        # why a new process group/session: a ^C at the console must reach only us; the child's
        # pipeline is stopped with a Signal packet, as PowerShell's own client does
        flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if os.name == "nt" else 0
        self.process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, creationflags=flags,
                                        start_new_session=os.name != "nt")
        self._packets: queue.Queue[Packet | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._write_lock = threading.Lock()
        self._eof = False
        self.sent = collections.Counter[str]()  # packets by tag (tests and benchmarks read them)
        self.received = collections.Counter[str]()
        threading.Thread(target=self._read_stdout, name="nestedhv-stdio-out", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="nestedhv-stdio-err", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                packet = decode(line)
                if packet is None:
                    log.debug("stdio: not a packet: %r", line[:120])
                    continue
                self.received[packet.tag] += 1
                self._packets.put(packet)
        except (OSError, ValueError):  # the pipe was closed under us
            pass
        finally:
            self._packets.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        try:
            for raw in self.process.stderr:
                text = raw.decode("utf-8", "replace").strip()
                if text:
                    self._stderr.append(text)
        except (OSError, ValueError):
            pass

    def died(self) -> ChildExited:
        try:
            code = self.process.wait(2)
        except subprocess.TimeoutExpired:
            code = None
        time.sleep(0.05)  # let the stderr reader catch the last line
        return ChildExited(code, " | ".join(self._stderr)[-300:])

    def send(self, packet: Packet) -> None:
        assert self.process.stdin is not None
        with self._write_lock:
            try:
                self.process.stdin.write(encode(packet))
                self.process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                raise self.died() from None
        self.sent[packet.tag] += 1

    def receive(self, timeout: float) -> Packet | None:
        """The next packet; None when none came within ``timeout``; ChildExited when the output ended."""
        if self._eof:
            raise self.died()
        try:
            packet = self._packets.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        if packet is None:
            self._eof = True
            raise self.died()
        return packet

    def close(self, timeout: float = 5.0) -> None:
        """Close its input and wait for it; end it when it does not leave by itself."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        for stream in (self.process.stdout, self.process.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
