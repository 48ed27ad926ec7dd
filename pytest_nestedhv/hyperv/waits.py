"""Event-driven waits on VM state: Wait-VM in slices, so progress is logged and a VM that
turned off is noticed at once (with the host's own reason) instead of waiting out the timeout."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..remote.commands import Cmd
from ..remote.errors import RemoteError
from .ports import SessionLike, prop

# Wait-VM's timeout text (docs/requirements.md#textwait-vm-timeout)
WAIT_TIMEOUT_TEXT = "the specified condition is not satisfied in the specified time-out"
SLACK_S = 30.0  # transport allowance on top of the host-side wait


class WaitFailed(Exception):
    """The awaited condition cannot happen any more (VM off, crashed) or the deadline passed."""


@dataclasses.dataclass(frozen=True)
class WaitSpec:
    label: str  # "L1 heartbeat"
    timeout_s: int  # host-side seconds, across all slices
    slice_s: int = 10


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where progress of a long step goes: ``write(step, elapsed_s, limit_s)`` is called every
    ``every_s`` seconds of real time while the step runs (from a helper thread)."""

    write: Callable[[str, float, float], None]
    every_s: float = 30.0


@contextlib.contextmanager
def progress(sink: Progress | None, step: str, limit_s: float) -> Iterator[None]:
    """Report ``step`` as running every ``sink.every_s`` until the block ends. The block may
    sit in one remote call for minutes (the Hyper-V install): a thread keeps time, and it is
    joined before the block's caller goes on, so nothing is written after the step ended."""
    if sink is None or limit_s <= 0:
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(sink.every_s):
            try:
                sink.write(step, time.monotonic() - started, limit_s)
            except Exception:  # noqa: BLE001 - a progress line must never break the step
                logging.getLogger(__name__).debug("progress line for %s failed", step, exc_info=True)

    thread = threading.Thread(target=tick, name=f"nestedhv-progress-{step}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def is_wait_timeout(err: RemoteError) -> bool:
    return WAIT_TIMEOUT_TEXT in err.message or err.category == "OperationTimeout"


def wait_vm(
    run: Callable[[Cmd, float], list[Any]],
    vm_name: str,
    condition: str,
    spec: WaitSpec,
    log: logging.Logger,
    on_slice: Callable[[], None] | None = None,
) -> None:
    """Wait-VM -For ``condition`` in slices of ``spec.slice_s``; after each timed-out slice the
    VM's state is read (``on_slice`` raises WaitFailed to stop early). ``run`` executes one Cmd
    where the VM lives (the host, or inside a guest)."""
    waited = 0
    while True:
        step = min(spec.slice_s, max(1, spec.timeout_s - waited))
        started = time.monotonic()
        try:
            run(Cmd.of("Wait-VM", Name=vm_name, For=condition, Timeout=step), step + SLACK_S)
            return
        except RemoteError as err:
            # a host in another language words the timeout differently: a Wait-VM error that came
            # only after (nearly) the whole slice is a timed-out slice too
            ran_out = (err.fqid or "").endswith("WaitVM") and time.monotonic() - started >= 0.9 * step
            if not (is_wait_timeout(err) or ran_out):
                raise WaitFailed(f"{spec.label}: {err.message}") from err
        waited += step
        if on_slice is not None:
            on_slice()
        if waited >= spec.timeout_s:
            raise WaitFailed(f"{spec.label}: not reached within {spec.timeout_s} s (Wait-VM -For {condition})")
        log.info("waiting for %s: %d s", spec.label, waited)


def require_not_off(run: Callable[[Cmd, float], list[Any]], vm_name: str, label: str) -> Callable[[], None]:
    """A slice check: fail at once when the VM turned off while we waited."""

    def check() -> None:
        vms = run(Cmd.of("Get-VM", Name=vm_name), SLACK_S)
        state = str(prop(vms[0], "State", "")) if vms else "missing"
        if state in ("Off", "missing", "OffCritical"):
            why = last_vm_error(run, vm_name)
            raise WaitFailed(f"{label}: VM '{vm_name}' turned {state} while waiting" + (f": {why}" if why else ""))

    return check


WORKER_LOG = "Microsoft-Windows-Hyper-V-Worker-Admin"


def last_vm_error(run: Callable[[Cmd, float], list[Any]], vm_name: str) -> str | None:
    """The newest error the VM's worker process logged (why it stopped), where the VM runs."""
    try:
        events = run(Cmd.of("Get-WinEvent", FilterHashtable={"LogName": WORKER_LOG, "Level": 2}, MaxEvents=10),
                     SLACK_S)
    except RemoteError:  # "No events were found ..." or no access: the state alone must do
        return None
    return next((" ".join(str(prop(e, "Message", "")).split()) for e in events
                 if f"'{vm_name}'" in str(prop(e, "Message", ""))), None)


def host_runner(session: SessionLike) -> Callable[[Cmd, float], list[Any]]:
    return lambda cmd, timeout: session.run(cmd, timeout=timeout)


def guest_runner(session: SessionLike, vm_name: str, cred: Any) -> Callable[[Cmd, float], list[Any]]:
    return lambda cmd, timeout: session.in_guest(vm_name, cred, cmd, timeout=timeout)
