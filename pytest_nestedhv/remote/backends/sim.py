"""``--nested-host sim[:SCENARIO]``: the emulator, started in this process, reached over WinRM."""
from __future__ import annotations

import secrets as _random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...secrets import GuestCredential, Secret, SecretMask
from ..errors import ConnectionFailed, one_line
from ..session import Session
from . import BadTarget, Opened
from .winrm import ConnectOptions, WinRMConnector

if TYPE_CHECKING:
    from ...config import Settings
    from ...target import HostTarget

SIM_USER = "nestedhv"
SIM_AUTH = "ntlm"


def load_scenario(target: HostTarget, mask: SecretMask) -> Any:
    """The target's scenario (BadTarget when unknown or invalid); its guest password joins the mask."""
    from ...sim.scenario import ScenarioError, load_scenario as load

    try:
        scenario = load(target.scenario or "default")
    except ScenarioError as exc:
        raise BadTarget(str(exc)) from None
    mask.add(scenario.guest.admin_password)
    return scenario


def default_engine(scenario: Any) -> Any:
    from ...sim.model.world import World
    from ...sim.powershell.engine import Engine

    return Engine(World.from_scenario(scenario), elevated=scenario.host.elevated)


class SimBackend:
    """Starts one emulator per target; ``make_engine`` lets a test serve something simpler."""

    def __init__(self, make_engine: Callable[[Any], Any] = default_engine) -> None:
        self.make_engine = make_engine

    def prepare(self, target: HostTarget, mask: SecretMask) -> Any:
        return load_scenario(target, mask)

    def open(self, target: HostTarget, settings: Settings, mask: SecretMask, prepared: Any) -> Opened:
        from ...sim.server import Faults, SimServer

        scenario = prepared  # HostPool.prepare() loaded it, so a bad scenario fails before any test
        password = Secret(_random.token_urlsafe(18))
        mask.add(password)
        f = scenario.faults
        try:
            server = SimServer(self.make_engine(scenario), users={SIM_USER: password.reveal()}, host="127.0.0.1",
                               port=0, https=True, auth=SIM_AUTH,
                               faults=Faults(latency_ms=float(f.latency_ms), drop_rate=float(f.drop_rate))).start()
        except Exception as exc:  # a broken emulator must read like any other unusable host
            raise ConnectionFailed(f"{target.label}: the emulated host did not start: "
                                   f"{type(exc).__name__}: {one_line(str(exc))[:200]}", target=target.label) from None
        at = target.at(server.host, server.port, "https")
        options = ConnectOptions(user=SIM_USER, password=password, auth=SIM_AUTH,
                                 cert_validation=str(server.ca_path), no_proxy=True)
        session = Session(at, WinRMConnector(at, options), mask=mask)
        try:
            session.open()
        except ConnectionFailed:
            server.stop()
            raise
        guest = scenario.guest
        s = settings
        # a scenario supplies its own images: the host's for the L1, the guest's for the L2
        return Opened(at, session, GuestCredential(guest.admin_user, Secret(guest.admin_password)),
                      base_image=s.base_image or next(iter(scenario.host.base_images), None),
                      inner_image=s.inner_image or next(iter(scenario.guest.base_images), None),
                      scenario=scenario, server=server, stop=server.stop)
