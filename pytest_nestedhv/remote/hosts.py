"""The hosts of one test run: a Session per target, and the emulator started for each sim target.

Nothing here knows pytest; plugin.py keeps one ``HostPool`` in ``config.stash``.
"""
from __future__ import annotations

import dataclasses
import logging
import secrets as _random
from typing import TYPE_CHECKING, Any

from .commands import Cmd
from .errors import ConnectionFailed, one_line
from .secrets import GuestCredential, Secret, SecretMask

if TYPE_CHECKING:
    from ..config import HostTarget, Settings
    from .session import Session

log = logging.getLogger("pytest_nestedhv.remote")

SIM_USER = "nestedhv"
SIM_AUTH = "ntlm"
_VERSION_KEY = "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"


@dataclasses.dataclass
class NestedHost:
    """What a test gets from the ``nested_host`` fixture: one host and its open session."""

    target: HostTarget
    session: Session
    settings: Settings
    guest_credential: GuestCredential | None
    base_image: str | None
    inner_image: str | None = None
    scenario: Any = None  # sim only: the loaded Scenario
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.target.label

    @property
    def run_id(self) -> str:
        return self.settings.run_id

    @property
    def transcript(self) -> Any:
        return self.session.transcript

    def __repr__(self) -> str:
        return f"<NestedHost {self.target.label}>"


@dataclasses.dataclass
class _Runtime:
    target: HostTarget
    scenario: Any = None
    server: Any = None
    host: NestedHost | None = None


def load_sim_scenario(target: HostTarget) -> Any:
    """The scenario of a sim target; ScenarioError (one line) when it is unknown or invalid."""
    from ..sim.scenario import load_scenario

    return load_scenario(target.scenario or "default")


class HostPool:
    """Opens each target once, on first use, and closes everything at the end."""

    def __init__(self, settings: Settings, mask: SecretMask, host_type: type[NestedHost] = NestedHost) -> None:
        self.settings = settings
        self.mask = mask
        self.host_type = host_type  # what get() hands out: the plugin's is a NestedHost with Hyper-V handles
        self._hosts = {t.label: _Runtime(t) for t in settings.targets}

    def set_scenario(self, label: str, scenario: Any) -> None:
        self._hosts[label].scenario = scenario
        password = scenario.guest.admin_password
        self.mask.add(password)

    def opened(self) -> list[NestedHost]:
        return [rt.host for rt in self._hosts.values() if rt.host is not None]

    def get(self, label: str) -> NestedHost:
        """The open host, starting its emulator and opening its session if needed."""
        rt = self._hosts[label]
        if rt.host is None:
            rt.host = self._open(rt)
        return rt.host

    def _open(self, rt: _Runtime) -> NestedHost:
        from .session import ConnectOptions, Session

        s = self.settings
        target = rt.target
        if target.is_sim:
            if rt.scenario is None:
                rt.scenario = load_sim_scenario(target)
                self.set_scenario(target.label, rt.scenario)
            password = Secret(_random.token_urlsafe(18))
            self.mask.add(password)
            try:
                rt.server = _start_sim(rt.scenario, password)
            except Exception as exc:  # a broken emulator must read like any other unusable host
                raise ConnectionFailed(f"{target.label}: the emulated host did not start: "
                                       f"{type(exc).__name__}: {one_line(str(exc))[:200]}", target=target.label) from None
            target = target.at(rt.server.host, rt.server.port, "https")
            options = ConnectOptions(user=SIM_USER, password=password, auth=SIM_AUTH,
                                     cert_validation=str(rt.server.ca_path), no_proxy=True)
            guest = rt.scenario.guest
            credential = GuestCredential(guest.admin_user, Secret(guest.admin_password))
            # a scenario supplies its own images: the host's for the L1, the guest's for the L2
            base_image = s.base_image or next(iter(rt.scenario.host.base_images), None)
            inner_image = s.inner_image or next(iter(rt.scenario.guest.base_images), None)
        else:
            assert s.user is not None and s.password is not None  # checked by config
            basic_http = s.auth == "basic" and target.scheme == "http"
            options = ConnectOptions(user=s.user, password=s.password, auth=s.auth,
                                     cert_validation=s.cert_validation,
                                     encryption="never" if basic_http else "auto")
            credential = s.guest_credential()
            base_image, inner_image = s.base_image, s.inner_image
        session = Session(target, options, mask=self.mask)
        try:
            session.open()
        except ConnectionFailed:
            self._stop_server(rt)
            raise
        host = self.host_type(target=target, session=session, settings=s, guest_credential=credential,
                          base_image=base_image, inner_image=inner_image, scenario=rt.scenario)
        host.info = read_host_info(session)
        return host

    def close(self) -> None:
        for rt in self._hosts.values():
            if rt.host is not None:
                rt.host.session.close()
            self._stop_server(rt)

    @staticmethod
    def _stop_server(rt: _Runtime) -> None:
        server, rt.server = rt.server, None
        if server is not None:
            server.stop()

    def sim_servers(self) -> dict[str, Any]:
        """The running emulators by host label (benchmarks read their counters)."""
        return {label: rt.server for label, rt in self._hosts.items() if rt.server is not None}


def _start_sim(scenario: Any, password: Secret) -> Any:
    from ..sim.model.world import World
    from ..sim.powershell.engine import Engine
    from ..sim.server import Faults, SimServer

    f = scenario.faults
    faults = Faults(latency_ms=float(f.latency_ms), drop_rate=float(f.drop_rate))
    engine = Engine(World.from_scenario(scenario))
    server = SimServer(engine, users={SIM_USER: password.reveal()}, host="127.0.0.1", port=0, https=True,
                       auth=SIM_AUTH, faults=faults)
    return server.start()


def read_host_info(session: Session) -> dict[str, Any]:
    """Build and product name for the report header; empty when the host does not say."""
    try:
        with session.transcript.step("connect"):
            out = session.run(Cmd.of("Get-ItemProperty", Path=_VERSION_KEY), timeout=15, check=False)
    except Exception as exc:  # the header is a courtesy: never fail the run for it
        log.info("%s: cannot read the build: %s", session.target.label, one_line(str(exc))[:200])
        return {}
    if not out:
        return {}
    item = out[0]
    build = item.get("CurrentBuildNumber") or item.get("CurrentBuild")
    info = {"build": str(build) if build is not None else None, "ubr": item.get("UBR"),
            "product": item.get("ProductName"), "edition": item.get("EditionID")}
    return {k: v for k, v in info.items() if v is not None}


def describe_info(info: dict[str, Any]) -> str:
    if not info.get("build"):
        return ""
    build = f"{info['build']}.{info['ubr']}" if info.get("ubr") is not None else str(info["build"])
    product = f" {info['product']}" if info.get("product") else ""
    return f"build {build}{product}"
