"""The host under test as the user named it: a value every layer may import (it imports nothing)."""
from __future__ import annotations

import dataclasses
from typing import Literal

Kind = Literal["winrm", "sim", "local"]
LOCAL_LABEL = "local"


@dataclasses.dataclass(frozen=True)
class HostTarget:
    """One host under test. ``label`` names it in test ids and reports (never credentials).

    ``kind`` chooses how it is opened (see remote/backends): ``winrm`` a machine over WinRM,
    ``sim`` the in-process emulator, ``local`` this machine through ``powershell.exe -s``.
    """

    label: str
    scheme: str  # "https" or "http"; "stdio" for a local target
    host: str
    port: int  # 0 for a sim target until its emulator has started, and for a local target
    kind: Kind = "winrm"
    scenario: str | None = None  # sim only: a scenario name or a .toml path
    spec: str = ""  # as the user wrote it

    @property
    def is_sim(self) -> bool:
        return self.kind == "sim"

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    @property
    def name(self) -> str:
        return self.label

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/wsman"

    def describe(self) -> str:
        if self.is_sim:
            return f"emulated host, scenario {self.scenario or 'default'}"
        if self.is_local:
            return "this machine (PowerShell over stdio)"
        return self.url

    def at(self, host: str, port: int, scheme: str = "https") -> HostTarget:
        """The same target, reachable at ``host:port`` (a started emulator)."""
        return dataclasses.replace(self, host=host, port=port, scheme=scheme)
