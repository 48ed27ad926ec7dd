"""SimServer: the emulated host's WinRM endpoint, started and stopped as one object."""
from __future__ import annotations

import dataclasses
import random
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from .auth import AuthMode
from .engine_api import EngineLike
from .tls import ServerTls, make_server_tls
from .transport import WinRMHTTPServer
from .users import UserStore
from .wsman import ShellService

SHUTDOWN_POLL_SECONDS = 0.05  # http.server's default 0.5 s would make every stop slow


@dataclasses.dataclass(frozen=True)
class Faults:
    """Injected network faults: ``latency_ms`` is added to every HTTP response; a fraction
    ``drop_rate`` of requests get their connection closed without an answer."""

    latency_ms: float = 0.0
    drop_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= self.drop_rate <= 1.0:
            raise ValueError("drop_rate must be between 0 and 1")


class SimServer:
    """A WinRM/PSRP endpoint in front of ``engine`` (anything with ``run(request, sink, cancel)``)."""

    def __init__(
        self,
        engine: EngineLike,
        *,
        users: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        https: bool = True,
        auth: str = "ntlm",
        faults: Faults = Faults(),
        machine_name: str = "localhost",
        default_operation_timeout: float = 20.0,
    ) -> None:
        self.engine = engine
        self.host = host
        self.https = https
        self.auth_mode = AuthMode(auth)
        self.faults = faults
        self.machine_name = machine_name
        self.default_operation_timeout = default_operation_timeout
        self._requested_port = port
        self._tmp = Path(tempfile.mkdtemp(prefix="nestedhv-sim-"))
        self.users = UserStore(users, self._tmp)
        self.tls: ServerTls | None = make_server_tls(self._tmp, host) if https else None
        self.shells = ShellService(engine, auth=self.auth_mode.value)
        self._random = random.Random(faults.seed)
        self._counter_lock = threading.Lock()
        self.request_count = 0  # every HTTP request received, auth legs included
        self.dropped_count = 0
        self._httpd: WinRMHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None  # kept after stop(), for messages and tests
        self._host_boots: int | None = None
        world = getattr(engine, "world", None)
        if world is not None and hasattr(world, "crash_listeners"):
            world.crash_listeners.append(self._host_crashed)

    def __repr__(self) -> str:
        return f"SimServer(url={self.url if self._port else None!r}, auth={self.auth_mode.value!r})"

    # --- properties -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.https else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/wsman"

    @property
    def ca_path(self) -> Path | None:
        """PEM file of the CA that signed the server certificate (None over plain HTTP)."""
        return self.tls.ca_path if self.tls is not None else None

    # --- counters and faults (called from connection threads) -------------------------------
    def count_request(self) -> None:
        with self._counter_lock:
            self.request_count += 1

    def should_drop(self) -> bool:
        if self.faults.drop_rate <= 0:
            return False
        with self._counter_lock:
            drop = self._random.random() < self.faults.drop_rate
            if drop:
                self.dropped_count += 1
        return drop

    def host_down(self) -> bool:
        """Whether the emulated host is rebooting (drop the request); once it is back, the shells of
        before the reboot are gone, as on a real host."""
        availability = getattr(self.engine, "host_availability", None)
        if availability is None:
            return False
        down, boots = availability()
        with self._counter_lock:
            rebooted = self._host_boots is not None and boots != self._host_boots
            self._host_boots = boots
        if rebooted:
            self.shells.drop_all()
        return bool(down)

    def _host_crashed(self) -> None:
        """The host bugchecked: every open connection is cut, every shell is gone."""
        self.shells.drop_all()
        httpd = self._httpd
        if httpd is not None:
            httpd.close_connections()

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> SimServer:
        if self._httpd is not None:
            return self
        self._httpd = WinRMHTTPServer((self.host, self._requested_port), self, self.tls.context if self.tls else None)
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=f"sim-winrm-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            self.shells.stop()
            httpd.close_connections()
            world = getattr(self.engine, "world", None)
            if world is not None and self._host_crashed in getattr(world, "crash_listeners", []):
                world.crash_listeners.remove(self._host_crashed)
            if self._thread is not None:
                self._thread.join(timeout=1)
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
