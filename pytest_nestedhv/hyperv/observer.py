"""Which observations each requirement needs, and getting them (lazily, once) from the host and lab.

The one place that knows "to judge nested.boot, the lab must reach l2-booted". Pure Python:
the pytest fixtures turn ``Blocked`` into a skip and a Finding into pass/fail/warning.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from . import requirements as req
from .facts import HostFacts, VMFacts, gather_host, gather_vm
from .lab import STEP_GUEST, STEP_L1_CREATE, Lab, LabBlocked
from .ports import SessionLike
from .remedy import Remediation, remediate


class Blocked(Exception):
    """The requirement cannot be judged: an earlier step failed, or the mode excludes it."""


@dataclasses.dataclass
class Observer:
    session: SessionLike
    lab: Lab | None  # None in --nested-vm mode
    vm_name: str | None = None  # --nested-vm
    remediate: bool = False
    _host: HostFacts | None = None
    _vm: VMFacts | None = None
    announce: Callable[[str], None] | None = None  # --nested-remediate: told each change before it is made
    remediation: Remediation | None = None

    @property
    def vm_mode(self) -> bool:
        return self.lab is None

    def host(self) -> HostFacts:
        if self._host is None:
            self._host = gather_host(self.session)
            if self.lab is not None:
                self.lab.host = self._host
        return self._host

    def user_vm(self) -> VMFacts:
        """--nested-vm: the user's VM (remediated first when asked). Raises RemoteError if absent."""
        if self._vm is None:
            assert self.vm_name is not None
            if self.remediate:
                self.remediation = remediate(self.session, self.vm_name, self.host(), self.announce)
                self._vm = self.remediation.facts
            else:
                self._vm = gather_vm(self.session, self.vm_name)
        return self._vm

    def observe(self, rid: str) -> req.Observations:
        area = rid.split(".", 1)[0]
        host = self.host()
        if self.lab is None:
            if area == "host":
                return req.Observations(host=host, vm_mode=True)
            if area == "vm":
                return req.Observations(host=host, vm=self.user_vm(), vm_mode=True)
            raise Blocked(f"read-only mode (--nested-vm {self.vm_name}): no lab is built, {rid} is not checked")
        lab = self.lab
        try:
            self._reach(lab, rid)
        except LabBlocked as err:
            raise Blocked(str(err)) from err
        return dataclasses.replace(lab.observations(host), vm_mode=False)

    def _reach(self, lab: Lab, rid: str) -> Any:
        area = rid.split(".", 1)[0]
        if area == "host":
            return None
        if rid == "vm.toggle-while-running":
            return lab.probe_toggle()
        if area == "vm":
            return lab.require(STEP_L1_CREATE)
        if rid == "guest.extensions-visible":
            return lab.require(STEP_GUEST)
        if rid == "guest.hyperv-install":
            return lab.reach(req.STEP_INSTALL)
        if rid == "guest.hypervisor":
            # a failed reboot is this requirement's failure, not a reason to skip it
            if lab.reach(req.STEP_REBOOT).ok:
                lab.reach(req.STEP_HYPERVISOR)
            return None
        if rid == "nested.create":
            return lab.reach(req.STEP_L2_CREATE)
        if rid == "nested.boot":
            return lab.reach(req.STEP_L2_BOOT)
        if rid == "nested.network":
            return lab.reach(req.STEP_L2_NETWORK) if lab.config.inner_image else lab.require(req.STEP_L2_BOOT)
        if rid == "negative.no-extensions":
            return lab.reach(req.STEP_NEGATIVE)
        raise KeyError(rid)

    def judge(self, rid: str) -> req.Finding:
        return req.evaluate(rid, self.observe(rid))
