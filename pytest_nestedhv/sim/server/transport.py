"""The HTTP(S) layer: keep-alive connections, authentication, message encryption, faults
as WSManFault envelopes, injected latency and dropped connections."""
from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from . import encryption, soap, wsman_fault
from .auth import ConnectionAuth, Verdict
from .server_config import MAX_ENVELOPE_KB
from .wsman import Caller
from .wsman_fault import WSManFault

if TYPE_CHECKING:
    from .sim_server import SimServer

log = logging.getLogger(__name__)

MAX_ENVELOPE_BYTES = MAX_ENVELOPE_KB * 1024
MAX_BODY_BYTES = 2 * MAX_ENVELOPE_BYTES  # encrypted bodies carry some overhead
DRAIN_LIMIT = 64 * 1024 * 1024  # beyond this an oversized body is not read, the connection closes
WSMAN_PATH = "/wsman"


class WinRMHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # restarting on the same port must not wait for TIME_WAIT; Linux still refuses a port another socket listens on
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], sim: SimServer, tls: ssl.SSLContext | None) -> None:
        self.sim = sim
        self.tls = tls
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, WinRMHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake here, in the connection's own thread, so a slow client never stalls accept()
        if self.tls is not None:
            request.settimeout(10)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                request.close()
                return
            request.settimeout(None)
        with self._conn_lock:
            self._connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that vanished mid-request is not a server error worth a traceback on stderr
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class WinRMHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # without it every request stalls ~40 ms (delayed ACK)
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    timeout = 600
    server: WinRMHTTPServer

    def setup(self) -> None:
        super().setup()
        sim = self.server.sim
        self.auth = ConnectionAuth(sim.auth_mode, sim.users, sim.tls)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        log.debug("%s %s", self.address_string(), format % args)

    # --- plumbing -------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        sim = self.server.sim
        if sim.host_is_down():
            self._drop()  # the host went down while serving this request: it never answers
            return
        if sim.faults.latency_ms > 0:
            time.sleep(sim.faults.latency_ms / 1000.0)
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        all_headers = {"Server": self.server_version, "Content-Length": str(len(body))}
        all_headers.update(headers or {})
        if self.close_connection:
            all_headers["Connection"] = "close"
        lines.extend(f"{k}: {v}" for k, v in all_headers.items())
        # headers and body in one write: split writes cost ~40 ms each with delayed ACKs
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.log_request(status, len(body))

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is too large (then it has been drained)."""
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            if length > DRAIN_LIMIT:
                self.close_connection = True
                return None
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                remaining -= len(chunk)
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- methods --------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._read_body()
        self._send(405, headers={"Allow": "POST"})

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        sim = self.server.sim
        sim.count_request()
        body = self._read_body()
        if sim.should_drop():
            self._drop()
            return
        result = self.auth.check(self.headers.get("Authorization"))
        if result.verdict is not Verdict.ACCEPTED:
            self._send(401, headers={"WWW-Authenticate": result.www_authenticate or ""})
            return
        extra = {"WWW-Authenticate": result.www_authenticate} if result.www_authenticate else {}
        if self.path.split("?", 1)[0].rstrip("/").lower() != WSMAN_PATH:
            self._send(404, headers=extra)
            return
        if body == b"":
            # pypsrp authenticates with empty POSTs before it can encrypt
            self._send(200, headers=extra)
            return
        encrypted = encryption.is_encrypted(self.headers.get("Content-Type", ""))
        envelope, status, headers = self._serve(body, encrypted, result.user or "")
        headers.update(extra)
        self._send(status, envelope, headers)

    def _serve(self, body: bytes | None, encrypted: bool, user: str) -> tuple[bytes, int, dict[str, str]]:
        sim = self.server.sim
        context = self.auth.context
        relates_to: str | None = None
        machine = _machine(self.headers.get("Host"), sim.machine_name)
        try:
            if body is None:
                raise wsman_fault.encoding_limit()
            if encrypted:
                if context is None:
                    raise wsman_fault.invalid_xml()
                try:
                    body = encryption.unwrap(context, body)
                except encryption.EncryptionError as exc:
                    # assumption: an undecryptable body is answered as invalid content
                    raise wsman_fault.plugin_failure(str(exc)) from None
            relates_to = soap.message_id_of(body)
            if len(body) > MAX_ENVELOPE_BYTES:
                raise wsman_fault.encoding_limit()
            request = soap.parse_request(body, sim.default_operation_timeout)
            relates_to = request.message_id
            caller = Caller(user=user, client_ip=self.client_address[0], endpoint=sim.url)
            envelope, status = sim.shells.handle(request, caller), 200
        except WSManFault as fault:
            envelope, status = soap.fault(fault, relates_to, machine), 500
        except Exception as exc:  # every internal error still answers with a fault
            log.exception("internal error while serving a WSMan request")
            fault = wsman_fault.plugin_failure(f"Internal error: {type(exc).__name__}.")
            envelope, status = soap.fault(fault, relates_to, machine), 500
        if encrypted and context is not None:
            return encryption.wrap(context, envelope), status, {"Content-Type": encryption.CONTENT_TYPE}
        return envelope, status, {"Content-Type": "application/soap+xml;charset=UTF-8"}


def _machine(host_header: str | None, fallback: str) -> str:
    """A fault's Machine attribute: the address the client used (its Host header, without the port),
    as Windows names it (recorded: Machine="127.0.0.1" for a client of https://127.0.0.1:55986)."""
    host = (host_header or "").strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0] or fallback
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else (host or fallback)
