"""SimServer: the emulated host's WinRM endpoint, started and stopped as one object."""
from __future__ import annotations

import dataclasses
import random
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from .auth import AuthMode
from .engine_api import EngineLike
from .tls import ServerTls, make_server_tls
from .transport import WinRMHTTPServer
from .users import UserStore
from .wsman import ShellService

SHUTDOWN_POLL_SECONDS = 0.05  # http.server's default 0.5 s would make every stop slow
OUTAGE_POLL_SECONDS = 0.02  # how soon a host crash closes the port, and its return opens it again


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
        # an engine that models the host going down (a crash, a restart) says so through host_down()
        self._host_down: Callable[[], bool] | None = getattr(engine, "host_down", None)
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()
        self.dark = False  # the host is down: the port is closed, nothing answers
        self.outages = 0

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

    def host_is_down(self) -> bool:
        """Checked before every answer: a host that went down mid-request never answers it."""
        return self.dark or (self._host_down is not None and self._host_down())

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> SimServer:
        if self._httpd is not None:
            return self
        self._listen()
        if self._host_down is not None and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name=f"sim-outages-{self.port}", daemon=True)
            self._watcher.start()
        return self

    def _listen(self) -> None:
        self._httpd = WinRMHTTPServer((self.host, self._port or self._requested_port), self,
                                      self.tls.context if self.tls else None)
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=f"sim-winrm-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            self.shells.stop()
            httpd.close_connections()
            if self._thread is not None:
                self._thread.join(timeout=1)

    def _watch(self) -> None:
        """While the host is down the port is closed (connections refused) and every open connection
        is reset; when it is back it listens again on the same port, with no shells: a reboot ends them."""
        assert self._host_down is not None
        while not self._stopping.wait(OUTAGE_POLL_SECONDS):
            down = self._host_down()
            if down and not self.dark:
                self._close()  # answers were already refused (host_is_down); now the port closes too
                self.shells = ShellService(self.engine)
                self.outages += 1
                self.dark = True
            elif not down and self.dark:
                try:
                    self._listen()
                except OSError:  # the port is still held by the kernel: try again at the next poll
                    continue
                self.dark = False

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=1)
            self._watcher = None
        self._close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
