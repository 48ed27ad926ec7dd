"""The negative probe: an L1 without exposed extensions must be refused cleanly, with the
documented error. It needs only the checked host, so the chain may run it in the background
(on its own session) while the L1 boots and installs Hyper-V."""
from __future__ import annotations

from typing import Any

from ...remote.commands import SWITCH, Cmd
from ...remote.errors import RemoteError
from ..facts import gather_guest
from .cleanup import remove_vm
from .errors import StepError
from .host import HostPrep
from .l1 import boot, create_vm, install_hyperv, reboot_guest
from .ops import Ops


def negative_probe(ops: Ops, prep: HostPrep) -> dict[str, Any]:
    name = ops.names.negative
    config = ops.config
    if name in ops.ledger.vms:  # an attempt a host restart cut short left it behind: start clean
        remove_vm(ops, name)
        ops.ledger.vms.remove(name)
        ops.ledger.disks[:] = [d for d in ops.ledger.disks if not d.endswith(ops.names.disk_name(name))]
    try:
        create_vm(ops, name, config.negative_memory_bytes, expose=False, switch=prep.switch, vhd_dir=prep.vhd_dir,
                  generation=config.generation)
        boot(ops, name, "probe L1 heartbeat")
        guest = gather_guest(ops.session, name, config.guest_cred)
        try:
            install_hyperv(ops, name, guest)
        except StepError as err:
            return {"refusal": err.message, "fqid": err.fqid, "at": "hyperv-install"}
        # Hyper-V installed anyway (DISM sometimes lets it): then starting an L2 must be refused.
        reboot_guest(ops, name, guest.last_boot, "probe L1 reboot")
        l2 = f"{name}-l2"
        ops.guest(name, Cmd.of("New-VM", Name=l2, Generation=2, NoVHD=SWITCH,
                               MemoryStartupBytes=config.l2_memory_bytes))
        try:
            ops.guest(name, Cmd.of("Start-VM", Name=l2))
        except RemoteError as err:
            return {"refusal": err.message, "fqid": err.fqid, "at": "l2-start"}
        raise StepError(f"the probe L1 '{name}' without exposed extensions installed Hyper-V and started an L2")
    finally:
        if name in ops.ledger.vms:
            remove_vm(ops, name)  # free the host at once; cleanup would also catch it
