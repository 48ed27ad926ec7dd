"""The emulated host's protocol layer: HTTP(S) + auth, WSMan SOAP, PSRP (psrpcore) -> engine.

Public API: ``SimServer(engine, users={...}, host=, port=, https=, auth=, faults=Faults(...))``
with ``start()/stop()``, ``url``, ``port``, ``ca_path``, ``request_count``; ``EngineLike`` is
what it needs from an engine.
"""
from .engine_api import EngineLike
from .sim_server import Faults, SimServer

__all__ = ["EngineLike", "Faults", "SimServer"]
