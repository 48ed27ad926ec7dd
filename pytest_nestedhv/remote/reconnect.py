"""Waiting for a host that stopped answering mid-run to come back (it crashed, or is restarting).

Works for any transport: it only calls ``open_session`` (which opens a fresh session and raises
``HostUnreachable`` while the host is still away) until that succeeds or the timeout passes.
Any other failure (wrong credentials, TLS) ends the wait at once: waiting will not fix it.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import tenacity

from ..config import DEFAULT_REBOOT_TIMEOUT_S
from .errors import HostGone, HostUnreachable, one_line

log = logging.getLogger("pytest_nestedhv.remote")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Back(Generic[T]):
    """The host answers again: what ``open_session`` returned, after how long and how many attempts."""

    value: T
    waited_s: float
    attempts: int


@dataclasses.dataclass(frozen=True)
class WaitPolicy:
    timeout_s: float = DEFAULT_REBOOT_TIMEOUT_S
    first_wait_s: float = 0.25  # a restart that is already over is noticed at once
    max_wait_s: float = 10.0  # between attempts, once the host has been away a while
    progress_every_s: float = 15.0  # at most one progress line this often (the first one at once)


def wait_for_host(open_session: Callable[[], T], *, label: str, policy: WaitPolicy = WaitPolicy(),
                  progress: Callable[[str], None] = log.warning, since: float | None = None,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Back[T]:
    """Call ``open_session`` until it returns; ``since`` (a ``clock()`` reading) is when the host was
    last seen, so the timeout and the reported downtime count from then. Raises ``HostGone``
    (one line) when the host is still away after ``policy.timeout_s``."""
    started = clock() if since is None else since
    shown = {"at": None}  # when the last progress line was shown

    def report(state: tenacity.RetryCallState) -> None:
        now = clock()
        if shown["at"] is not None and now - shown["at"] < policy.progress_every_s:
            return
        shown["at"] = now
        error = state.outcome.exception() if state.outcome is not None else None
        why = one_line(str(error))[:160] if error is not None else "no answer"
        progress(f"{label}: host not answering for {now - started:.0f} s, waiting up to "
                 f"{policy.timeout_s:.0f} s for it to come back (--nested-host-reboot-timeout): {why}")

    def out_of_time(state: tenacity.RetryCallState) -> bool:
        return clock() - started >= policy.timeout_s

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(HostUnreachable),
        stop=out_of_time,
        wait=tenacity.wait_exponential(multiplier=policy.first_wait_s, max=policy.max_wait_s),
        before_sleep=report,
        sleep=sleep,
        reraise=True,
    )
    try:
        value = retrying(open_session)
    except HostUnreachable as exc:
        raise HostGone(f"{label}: the host stopped answering and did not come back within "
                       f"{policy.timeout_s:.0f} s (--nested-host-reboot-timeout); last error: {one_line(str(exc))[:200]}",
                       target=label) from None
    attempts = retrying.statistics.get("attempt_number", 1)
    waited = clock() - started
    progress(f"{label}: host answers again after {waited:.0f} s")
    return Back(value, waited, attempts)
