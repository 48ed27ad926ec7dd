"""Fixtures for sim tests: start an emulated WinRM host and connect real pypsrp clients to it.

``sim_server(engine=None, **SimServer kwargs)`` starts a server (stopped after the test) with a
generated account; ``sim_wsman(server, **WSMan overrides)`` builds a client for it with the
right transport settings; ``echo_engine`` is a stand-in engine that records requests.
"""
from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pypsrp.wsman import WSMan

from pytest_nestedhv.sim.server import SimServer
from pytest_nestedhv.sim.server.echo_engine import EchoEngine


@dataclasses.dataclass(frozen=True)
class SimAccount:
    user: str
    password: str = dataclasses.field(repr=False)


@pytest.fixture
def sim_account() -> SimAccount:
    return SimAccount("simadmin", secrets.token_urlsafe(18))


@pytest.fixture
def echo_engine() -> EchoEngine:
    return EchoEngine()


@pytest.fixture
def sim_server(echo_engine: EchoEngine, sim_account: SimAccount) -> Iterator[Callable[..., SimServer]]:
    started: list[SimServer] = []

    def start(engine: Any = None, **kwargs: Any) -> SimServer:
        kwargs.setdefault("users", {sim_account.user: sim_account.password})
        server = SimServer(engine if engine is not None else echo_engine, **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sim_wsman(sim_account: SimAccount) -> Iterator[Callable[..., WSMan]]:
    clients: list[WSMan] = []

    def connect(server: SimServer, **overrides: Any) -> WSMan:
        auth = server.auth_mode.value
        settings: dict[str, Any] = {
            "port": server.port,
            "username": sim_account.user,
            "password": sim_account.password,
            "ssl": server.https,
            "auth": auth,
            "encryption": "never" if auth == "basic" and not server.https else "auto",
            "cert_validation": str(server.ca_path) if server.https else False,
            "operation_timeout": 5,
            "read_timeout": 10,
        }
        settings.update(overrides)
        client = WSMan(server.host, **settings)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()
