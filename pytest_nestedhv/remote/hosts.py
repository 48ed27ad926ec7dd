"""The hosts of one test run: a Session per target, each opened by the backend its kind names.

Nothing here knows pytest; plugin.py keeps one ``HostPool`` in ``config.stash``.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..secrets import GuestCredential, SecretMask
from .backends import BadTarget, Opened, get_backend
from .commands import Cmd
from .errors import ConnectionFailed, one_line

if TYPE_CHECKING:
    from ..config import Settings
    from ..target import HostTarget
    from .session import Session

log = logging.getLogger("pytest_nestedhv.remote")

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
    prepared: Any = None
    opened: Opened | None = None
    host: NestedHost | None = None


class HostPool:
    """Opens each target once, on first use, through its backend, and closes everything at the end."""

    def __init__(self, settings: Settings, mask: SecretMask, host_type: type[NestedHost] = NestedHost,
                 on_open: Callable[[Session], None] | None = None) -> None:
        self.settings = settings
        self.mask = mask
        self.host_type = host_type  # what get() hands out: the plugin's is a NestedHost with Hyper-V handles
        self.on_open = on_open  # a check before any test uses the host (ConnectionFailed: unusable)
        self._hosts = {t.label: _Runtime(t) for t in settings.targets}

    def prepare(self) -> None:
        """Check every target before any test runs (BadTarget: an unknown scenario...)."""
        for rt in self._hosts.values():
            try:
                rt.prepared = get_backend(rt.target.kind).prepare(rt.target, self.mask)
            except BadTarget as exc:
                raise BadTarget(str(exc.args[0]), rt.target.spec) from None

    def opened(self) -> list[NestedHost]:
        return [rt.host for rt in self._hosts.values() if rt.host is not None]

    def get(self, label: str) -> NestedHost:
        """The open host, starting what its backend needs and opening its session if needed."""
        rt = self._hosts[label]
        if rt.host is None:
            rt.host = self._open(rt)
        return rt.host

    def _open(self, rt: _Runtime) -> NestedHost:
        opened = get_backend(rt.target.kind).open(rt.target, self.settings, self.mask, rt.prepared)
        rt.opened = opened
        session = opened.session
        host = self.host_type(target=opened.target, session=session, settings=self.settings,
                              guest_credential=opened.guest_credential, base_image=opened.base_image,
                              inner_image=opened.inner_image, scenario=opened.scenario)
        try:
            host.info = read_host_info(session)
            if self.on_open is not None:
                self.on_open(session)
        except ConnectionFailed:
            self._close(rt)
            raise
        return host

    def close(self) -> None:
        for rt in self._hosts.values():
            self._close(rt)

    @staticmethod
    def _close(rt: _Runtime) -> None:
        opened, rt.opened, rt.host = rt.opened, None, None
        if opened is None:
            return
        try:
            opened.session.close()
        finally:
            opened.stop()

    def sim_servers(self) -> dict[str, Any]:
        """The running emulators by host label (benchmarks read their counters)."""
        return {label: rt.opened.server for label, rt in self._hosts.items()
                if rt.opened is not None and rt.opened.server is not None}


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
