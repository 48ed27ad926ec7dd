"""The L2: created inside the L1 over PowerShell Direct, booted, and (with an OS) on the network."""
from __future__ import annotations

import logging
from typing import Any

from ...remote.commands import SWITCH, Cmd
from ...remote.errors import RemoteError
from ..names import join_path, parent_dir
from ..ports import prop
from ..waits import WaitFailed, WaitSpec, guest_runner, require_not_off, wait_vm
from .errors import StepError
from .ops import Ops

log = logging.getLogger("pytest_nestedhv.lab")


class L2:
    def __init__(self, ops: Ops) -> None:
        self.ops = ops
        self.l1 = ops.names.l1
        self.name = ops.names.l2

    def create(self) -> dict[str, Any]:
        config = self.ops.config
        params: dict[str, Any] = {"Name": self.name, "Generation": 2, "MemoryStartupBytes": config.l2_memory_bytes}
        if config.inner_image:
            # assumption: --nested-inner-image names a VHDX the L1 can read at that path. The L2 boots
            # from a differencing disk beside it, so the image itself is never written to.
            disk = join_path(parent_dir(config.inner_image), self.ops.names.disk_name(self.name))
            self.ops.guest(self.l1, Cmd.of("New-VHD", Path=disk, ParentPath=config.inner_image, Differencing=SWITCH))
            params["VHDPath"] = disk
            params["SwitchName"] = self._guest_switch()
        else:
            params["NoVHD"] = SWITCH
        self.ops.guest(self.l1, Cmd.of("New-VM", **params))
        self.ops.guest(self.l1, Cmd.of("Set-VM", Name=self.name, Notes=self.ops.names.tag))
        return {"vm": self.name, "inner_image": config.inner_image}

    def _guest_switch(self) -> str:
        """An external switch inside the L1 on its NIC, so the L2 reaches the L0 network (MAC spoofing)."""
        try:
            nics = self.ops.guest(self.l1, Cmd.of("Get-NetAdapter"))
            nic = str(prop(nics[0], "Name", "")) if nics else ""
        except RemoteError as err:
            log.info("Get-NetAdapter in the L1 failed (%s): assuming 'Ethernet'", err.message)
            nic = ""
        name = f"nestedhv-{self.ops.config.run_id}-sw"
        self.ops.guest(self.l1, Cmd.of("New-VMSwitch", Name=name, NetAdapterName=nic or "Ethernet",
                                       AllowManagementOS=True, Notes=self.ops.names.tag))
        return name

    def boot(self) -> dict[str, Any]:
        config = self.ops.config
        self.ops.guest(self.l1, Cmd.of("Start-VM", Name=self.name), timeout=300.0)
        run = guest_runner(self.ops.session, self.l1, config.guest_cred)
        if config.inner_image:
            spec = WaitSpec("L2 heartbeat", config.boot_timeout_s, config.slice_s)
            wait_vm(run, self.name, "Heartbeat", spec, log, on_slice=require_not_off(run, self.name, "L2 heartbeat"))
        else:
            # Without an OS the L2 sits in firmware: no heartbeat ever comes. A settle window of
            # Wait-VM notices a crash (the VM turning off) at once; a timeout means it stayed up.
            spec = WaitSpec("L2 settle", config.l2_settle_s, config.l2_settle_s)
            try:
                wait_vm(run, self.name, "Heartbeat", spec, log)
            except WaitFailed as err:
                if "not reached within" not in str(err):
                    raise
        vm = run(Cmd.of("Get-VM", Name=self.name), 60.0)
        state = str(prop(vm[0], "State", "")) if vm else "missing"
        if state != "Running":
            raise StepError(f"the L2 '{self.name}' is {state} after Start-VM, not Running", state=state)
        return {"state": state, "heartbeat": str(prop(vm[0], "Heartbeat", ""))}

    def network(self) -> dict[str, Any]:
        config = self.ops.config
        run = guest_runner(self.ops.session, self.l1, config.guest_cred)
        spec = WaitSpec("L2 IP address", config.boot_timeout_s, config.slice_s)
        try:
            wait_vm(run, self.name, "IPAddress", spec, log, on_slice=require_not_off(run, self.name, "L2 IP address"))
        except WaitFailed as err:
            uplink = self._l1_uplink()
            raise StepError(f"{err}; {_uplink_text(uplink)}", **uplink) from err
        adapters = run(Cmd.of("Get-VMNetworkAdapter", VMName=self.name), 60.0)
        return {"ip_addresses": [str(a) for ad in adapters for a in (prop(ad, "IPAddresses") or [])],
                **self._l1_uplink()}

    def _l1_uplink(self) -> dict[str, Any]:
        """The L1's own adapter on the host: the L2's traffic leaves through it."""
        adapters = self.ops.host(Cmd.of("Get-VMNetworkAdapter", VMName=self.l1))
        first = adapters[0] if adapters else None
        return {"l1_switch": str(prop(first, "SwitchName", "") or "") if first else "",
                "l1_mac_spoofing": str(prop(first, "MacAddressSpoofing", "")) if first else "",
                "l1_ip_addresses": [str(a) for a in (prop(first, "IPAddresses") or [])] if first else []}


def _uplink_text(up: dict[str, Any]) -> str:
    switch = f"switch '{up['l1_switch']}'" if up["l1_switch"] else "no switch (--nested-switch)"
    addresses = ", ".join(up["l1_ip_addresses"]) or "none"
    return (f"the L1's adapter is on {switch}, MacAddressSpoofing {up['l1_mac_spoofing'] or '?'}, "
            f"L1 addresses: {addresses}")
