"""Taking down what a run created: its own VMs and disks, and leftovers of earlier crashed runs.

Only what carries a run's tag in its Notes is touched, and only disks named like ours are deleted.
"""
from __future__ import annotations

import contextlib
import datetime
import logging

from ...remote.commands import SWITCH, Cmd
from ...remote.errors import RemoteError
from ..names import KEPT_TAG, is_leftover, is_own_disk
from ..ports import as_datetime, prop
from .config import Keep
from .ops import Ops

# no run lasts this long (the slowest step, the Hyper-V install, is bounded by install_timeout_s):
# a tagged VM younger than this may belong to a run still going
SWEEP_MIN_AGE = datetime.timedelta(hours=6)
log = logging.getLogger("pytest_nestedhv.lab")


def remove_vm(ops: Ops, name: str) -> None:
    """Turn off, remove, delete its disks (only files named like ours). Errors are logged, not raised."""
    try:
        disks = [str(prop(d, "Path", "")) for d in ops.session.run(Cmd.of("Get-VMHardDiskDrive", VMName=name))]
        ops.session.run(Cmd.of("Stop-VM", Name=name, TurnOff=SWITCH, Force=SWITCH), check=False)
        ops.session.run(Cmd.of("Remove-VM", Name=name, Force=SWITCH))
        for disk in disks:
            if is_own_disk(disk):
                ops.session.run(Cmd.of("Remove-Item", Path=disk, Force=SWITCH), check=False)
        log.info("removed VM %s and its disks", name)
    except RemoteError as err:
        log.error("could not remove VM %s: %s", name, err)


def sweep(ops: Ops) -> list[str]:
    """Remove leftovers of earlier crashed runs: VMs whose Notes carry another run's tag and
    that are older than any run lasts. A younger one may belong to a run still going on this
    host (two nightly pipelines, say): it is left alone, and swept by a later run."""
    leftovers = [vm for vm in ops.host(Cmd.of("Get-VM")) if is_leftover(str(prop(vm, "Notes", "") or ""), ops.names)]
    if not leftovers:
        return []
    system = ops.host(Cmd.of("Get-CimInstance", ClassName="Win32_OperatingSystem"))
    host_now = as_datetime(prop(system[0], "LocalDateTime")) if system else None  # the host's clock, not ours
    removed = []
    for vm in leftovers:
        name, notes = str(prop(vm, "Name", "")), str(prop(vm, "Notes", "") or "")
        created = as_datetime(prop(vm, "CreationTime"))
        age = host_now - created if host_now and created else None
        if age is None or age < SWEEP_MIN_AGE:
            known = f"created {age.total_seconds() / 60:.0f} min ago" if age is not None else "of unknown age"
            log.warning("leaving VM %s (%s) alone: %s, its run may still be going; a run sweeps it once it "
                        "is %d h old", name, notes, known, SWEEP_MIN_AGE.total_seconds() // 3600)
            continue
        log.warning("removing leftover VM of an earlier run: %s (%s)", name, notes)
        remove_vm(ops, name)
        removed.append(name)
    return removed


def cleanup(ops: Ops, keep: Keep, failed: bool) -> list[str]:
    """Remove this run's VMs and disks unless ``keep`` says otherwise; returns what was removed."""
    try:
        listed = ops.session.run(Cmd.of("Get-VM"))
    except RemoteError as err:
        log.error("cleanup: cannot list VMs: %s", err)
        listed = []
    own = [str(prop(vm, "Name", "")) for vm in listed if ops.names.owns(str(prop(vm, "Notes", "") or ""))]
    if keep == "always" or (keep == "failed" and failed):
        for name in own:
            log.warning("keeping VM %s (--nested-keep=%s)", name, keep)
            with contextlib.suppress(RemoteError):
                ops.session.run(Cmd.of("Set-VM", Name=name, Notes=f"{ops.names.tag} {KEPT_TAG}"))
        return []
    removed = []
    for name in own:
        remove_vm(ops, name)
        removed.append(name)
    for disk in ops.ledger.disks:
        if is_own_disk(disk):
            with contextlib.suppress(RemoteError):
                ops.session.run(Cmd.of("Remove-Item", Path=disk, Force=SWITCH), check=False)
    return removed
