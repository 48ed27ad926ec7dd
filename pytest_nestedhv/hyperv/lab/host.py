"""Before anything is built: the base image, the switch the L1 joins, the folder for its disk."""
from __future__ import annotations

import logging
from typing import Any

from ...remote.commands import Cmd
from ..names import parent_dir
from ..ports import prop
from .cleanup import sweep
from .errors import LabConfigError
from .ops import Ops, truthy

log = logging.getLogger("pytest_nestedhv.lab")


class HostPrep:
    """The host-checked step: preflight (bad input fails the whole run), sweep, and where disks go."""

    def __init__(self, ops: Ops) -> None:
        self.ops = ops
        self.switch: str | None = ops.config.switch
        self.vhd_dir: str | None = None
        self.preflight_done = False

    def preflight(self) -> None:
        """Checks that make the whole run pointless when they fail (raise LabConfigError)."""
        image = self.ops.config.base_image
        if not image:
            raise LabConfigError("no base image: pass --nested-base-image PATH (a VHDX on the host for the L1 OS)")
        exists = self.ops.host(Cmd.of("Test-Path", Path=image))
        if not exists or not truthy(exists[0]):
            raise LabConfigError(f"base image not found on the host: {image} (--nested-base-image)")
        self.switch = self._pick_switch()
        self.preflight_done = True

    def _pick_switch(self) -> str | None:
        """The host switch the L1 joins: --nested-switch, else an External one, else an Internal one
        ('Default Switch' first: it has NAT).
        Without any, the L1 has no network (only nested.network can then fail, saying why)."""
        # without the Hyper-V role there is no Get-VMSwitch: the host checks say why, the L1 step fails
        listed = self.ops.host(Cmd.of("Get-VMSwitch"), check=False)
        switches = {str(prop(s, "Name", "")): str(prop(s, "SwitchType", "")) for s in listed}
        wanted = self.ops.config.switch
        if wanted is not None and switches:
            if wanted not in switches:
                known = ", ".join(sorted(switches)) or "none"
                raise LabConfigError(f"--nested-switch {wanted}: no such virtual switch on the host (it has: {known})")
            return wanted

        def first(kind: str) -> str | None:
            return min((name for name, k in switches.items() if k == kind), default=None)

        internal = "Default Switch" if "Default Switch" in switches else first("Internal")
        choice = first("External") or internal
        log.info("the L1 joins the host switch %s", choice or "(none: the host has no External or Internal switch)")
        return choice

    def check(self, ops: Ops | None = None) -> dict[str, Any]:
        """Sweep and read where disks go; on ``ops`` when it runs in the background."""
        ops = ops or self.ops
        if not self.preflight_done:
            self.preflight()
        removed = sweep(ops)
        vmhost = ops.host(Cmd.of("Get-VMHost"))
        vhd_dir = str(prop(vmhost[0], "VirtualHardDiskPath", "") or "") if vmhost else ""
        self.vhd_dir = vhd_dir or parent_dir(str(self.ops.config.base_image))
        return {"swept": removed, "vhd_dir": self.vhd_dir, "base_image": self.ops.config.base_image}
