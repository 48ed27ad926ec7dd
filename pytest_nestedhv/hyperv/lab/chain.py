"""The lab's state machine: reach a step by running what is missing on its path, once.

The steps and their prerequisites are declared in ``hyperv.steps``. A failed step is
remembered: asking for it again returns the same failed outcome, and asking for anything
that depends on it raises ``LabBlocked`` naming the failed step and its error. Nothing is
retried against a machine that already failed. Side branches listed in
``LabConfig.background`` start on a session of their own as soon as what they need is
reached, and are joined when asked for (or at cleanup).
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ...remote.errors import HostUnreachable, RemoteError
from .. import requirements as req
from ..facts import GuestFacts, HostFacts, VMFacts
from ..names import RunNames
from ..outcomes import StepOutcome, ToggleOutcome
from ..ports import SessionLike
from ..steps import UNDONE_BY_HOST_RESTART, Step
from ..waits import WaitFailed, progress
from .cleanup import cleanup
from .config import Keep, LabConfig
from .errors import LabBlocked, StepError
from .host import HostPrep
from .l1 import L1
from .l2 import L2
from .ops import Ledger, Ops
from .probe import negative_probe

log = logging.getLogger("pytest_nestedhv.lab")
# how long cleanup waits for a background branch after asking it to stop
BRANCH_STOP_S = 60.0
# the loggers a background step writes to (the lab's, and its session's)
BRANCH_LOGGERS = ("pytest_nestedhv.lab", "pytest_nestedhv.remote")


class _HeldLogs(logging.Filter):
    """Holds back what a background step logs and replays it in the thread that joins the step.

    pytest attaches its log handlers (live log, captured log) around each test phase in the main
    thread: a record from another thread between two phases would be lost, or land in whatever
    test happens to run. Replayed at the join, the step's lines come with the test that needed it."""

    def __init__(self) -> None:
        super().__init__()
        self.thread: int | None = None  # the branch's thread, once it runs
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.thread is None or record.thread != self.thread:
            return True
        self.records.append(record)
        return False

    def attach(self) -> None:
        for name in BRANCH_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def replay(self) -> None:
        for name in BRANCH_LOGGERS:
            logging.getLogger(name).removeFilter(self)
        for record in self.records:
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        self.records.clear()


def _in_branch(held: _HeldLogs, step: Step, action: Action, ops: Ops) -> tuple[StepOutcome, Phase]:
    held.thread = threading.get_ident()
    return _measure(step, action, ops)


@dataclasses.dataclass(frozen=True)
class Phase:
    """One step's place on the timeline (for the reports)."""

    step: str
    started: datetime.datetime
    duration_s: float
    ok: bool
    error: str | None = None


# a host that restarts again under the same lab has a problem of its own: the lab stops there
MAX_OUTAGES_SURVIVED = 1

Action = Callable[[], dict[str, Any] | None]
# a host that went away under a step (hyperv/recovery.py): waits for it and returns the crash record
# (hyperv.crash.HostCrash), or raises HostGone when it stays away
OnHostLost = Callable[[str, Exception], Any]
LostHandler = Callable[[Step, HostUnreachable], StepOutcome]


def _measure(step: Step, action: Action, ops: Ops, on_lost: LostHandler | None = None) -> tuple[StepOutcome, Phase]:
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    log.info("lab step %s: start", step)
    with ops.step(step.value), progress(ops.config.progress, step.value, ops.config.step_limit_s(step)):
        try:
            outcome = StepOutcome(step.value, True, evidence=action() or {})
        except StepError as err:
            outcome = StepOutcome(step.value, False, err.message, err.fqid, err.evidence)
        except WaitFailed as err:
            outcome = StepOutcome(step.value, False, str(err))
        except RemoteError as err:
            outcome = StepOutcome(step.value, False, str(err), err.fqid or None)
        except HostUnreachable as lost:
            if on_lost is None:
                raise
            outcome = on_lost(step, lost)  # the wait for the host counts in the step's time
    duration = time.monotonic() - t0
    if outcome.ok:
        log.info("lab step %s: done in %.1f s", step, duration)
    else:
        log.warning("lab step %s: FAILED after %.1f s: %s", step, duration, outcome.error)
    return outcome, Phase(step.value, started, duration, outcome.ok, outcome.error)


@dataclasses.dataclass
class _Branch:
    future: concurrent.futures.Future[tuple[StepOutcome, Phase]]
    ops: Ops
    executor: concurrent.futures.ThreadPoolExecutor
    held: _HeldLogs
    survived_before: int  # outages the lab had gone on after when the branch started


class Lab:
    def __init__(self, session: SessionLike, config: LabConfig, host: HostFacts | None = None) -> None:
        self.session = session
        self.config = config
        self.names = RunNames(config.run_id)
        self.host = host
        self.ledger = Ledger()
        self.ops = Ops(session, config, self.names, self.ledger)
        self.prep = HostPrep(self.ops)
        self.l1 = L1(self.ops, self.prep)
        self.l2 = L2(self.ops)
        self.outcomes: dict[Step, StepOutcome] = {}
        self.timeline: list[Phase] = []
        self._branches: dict[Step, _Branch] = {}
        self._branch_cancel = threading.Event()
        self._lock = threading.Lock()
        # host outages: on_host_lost is called when the host stops answering mid-step and returns
        # what its log says (hyperv.crash.HostCrash). A bugcheck (or a second outage) ends the lab:
        # that step fails with it and nothing more runs on this host. A restart is survived once:
        # what it undid runs again (steps.UNDONE_BY_HOST_RESTART), then the interrupted step.
        self.on_host_lost: OnHostLost | None = None
        self.survived: list[Any] = []  # the outages the lab went on after (HostCrash)
        self._host_crash: Any = None  # the outage that ended the lab
        self._own_crashes: list[Any] = []  # outages seen here, when on_host_lost keeps no list of its own
        self._crashes_seen = 0

    @property
    def host_crash(self) -> Any:
        """The outage that ended this lab (HostCrash), under one of its steps or under anything else
        that shares its ``on_host_lost`` (a HostRecovery knows every outage on its host); else None."""
        self._catch_up()
        return self._host_crash

    def _catch_up(self) -> None:
        """Account for the host's outages since the last look: survive a restart, stop at a crash."""
        shared = getattr(self.on_host_lost, "crashes", None)
        crashes = shared if shared is not None else self._own_crashes
        with self._lock:
            for crash in crashes[self._crashes_seen:]:
                self._crashes_seen += 1
                if self._host_crash is not None:
                    continue
                if crash.asked:  # nested_host.restart(): no outage, but the VMs went down all the same
                    self._rewind(crash)
                    continue
                if crash.kind == "bugcheck" or len(self.survived) >= MAX_OUTAGES_SURVIVED:
                    self._host_crash = crash
                    continue
                self.survived.append(crash)
                self._rewind(crash)

    def _rewind(self, restart: Any) -> None:
        if restart.kind != "no-reboot":  # the VMs went down with the host: what ran on them runs again
            for step in UNDONE_BY_HOST_RESTART:
                self.outcomes.pop(step, None)

    # ------------------------------------------------------------ what the steps built and saw

    @property
    def created_vms(self) -> list[str]:  # on the host, in creation order
        return self.ledger.vms

    @property
    def changes(self) -> list[str]:  # every change made on the host, for the summary
        return self.ledger.changes

    @property
    def vm_facts(self) -> VMFacts | None:
        return self.l1.vm_facts

    @property
    def guest_before(self) -> GuestFacts | None:
        return self.l1.guest_before

    @property
    def guest_after(self) -> GuestFacts | None:
        return self.l1.guest_after

    @property
    def toggle(self) -> ToggleOutcome | None:
        return self.l1.toggle

    def preflight(self) -> None:
        """Checks that make the whole run pointless when they fail (raise LabConfigError)."""
        self.prep.preflight()

    # ------------------------------------------------------------ the state machine

    def reach(self, step: Step | str) -> StepOutcome:
        """Run every missing step up to ``step``; return its outcome (ok or failed).

        Raises LabBlocked when a step it depends on failed."""
        step = Step(step)
        self._catch_up()
        for needed in step.path():
            if needed == step and (why_not := self.not_applicable(step)):
                return StepOutcome(step.value, False, why_not)  # not run, not recorded: nothing failed
            if needed not in self.outcomes and needed not in self._branches and self.host_crash is not None:
                raise LabBlocked(f"lab step '{self.host_crash.step}' failed: {self.host_crash.message()}")
            outcome = self._outcome(needed)
            if not outcome.ok and needed != step:
                raise LabBlocked(f"lab step '{needed}' failed: {outcome.error}")
        return self.outcomes[step]

    def require(self, step: Step | str) -> StepOutcome:
        """Like reach, but a failure of ``step`` itself also raises LabBlocked (for dependants)."""
        outcome = self.reach(step)
        if not outcome.ok:
            raise LabBlocked(f"lab step '{Step(step)}' failed: {outcome.error}")
        return outcome

    def first_failure(self, step: Step | str) -> StepOutcome | None:
        """Reach ``step``; the first failed step on its path (maybe ``step`` itself), or None."""
        step = Step(step)
        with contextlib.suppress(LabBlocked):
            self.reach(step)
        return next((o for s in step.path() if (o := self.outcomes.get(s)) is not None and not o.ok), None)

    def not_applicable(self, step: Step) -> str | None:
        """Why ``step`` does not apply to this lab at all (None: it does)."""
        if step is Step.L2_NETWORK and not self.config.inner_image:
            return "needs --nested-inner-image: an L2 without an OS has no network"
        return None

    def _actions(self, ops: Ops) -> dict[Step, Action]:
        return {
            Step.HOST_CHECKED: lambda: self.prep.check(ops),
            Step.L1_CREATED: self.l1.create,
            Step.L1_BOOTED: self.l1.boot,
            Step.TOGGLE: self.l1.try_toggle,
            Step.GUEST_REACHABLE: self.l1.reach_guest,
            Step.HYPERV_INSTALLED: self.l1.install,
            Step.GUEST_REBOOTED: self.l1.reboot,
            Step.GUEST_HYPERVISOR: self.l1.hypervisor,
            Step.L2_CREATED: self.l2.create,
            Step.L2_BOOTED: self.l2.boot,
            Step.L2_NETWORK: self.l2.network,
            Step.NEGATIVE: lambda: negative_probe(ops, self.prep),
        }

    def _outcome(self, step: Step) -> StepOutcome:
        known = self.outcomes.get(step)
        if known is not None:
            return known
        if step in self._branches:
            return self._join(step)
        outcome, phase = _measure(step, self._actions(self.ops)[step], self.ops, self._host_lost)
        if outcome.fqid == req.HOST_CRASH_FQID and self.host_crash is None:  # a restart the lab survives
            with self._lock:
                self.timeline.append(phase)  # the interrupted attempt stays in the timings
            log.warning("lab step %s: %s; running again what the restart undid", step, outcome.error)
            return self.reach(step)
        self._record(outcome, phase, step)
        if outcome.ok:
            self._start_branches()
        return outcome

    def _host_lost(self, step: Step, lost: HostUnreachable) -> StepOutcome:
        """The host went away under ``step`` (in the main chain): wait for it and fail the step with
        what its log says; without a recovery hook the loss propagates."""
        if self.on_host_lost is None:
            raise lost
        crash = self.on_host_lost(step.value, lost)  # HostGone if it stays away
        if getattr(self.on_host_lost, "crashes", None) is None:
            self._own_crashes.append(crash)
        return StepOutcome(step.value, False, crash.message(), req.HOST_CRASH_FQID,
                           {"host_crash": crash.to_dict()})

    def _record(self, outcome: StepOutcome, phase: Phase, step: Step) -> None:
        with self._lock:
            self.outcomes[step] = outcome
            self.timeline.append(phase)

    # ------------------------------------------------------------ background branches

    def start_background(self) -> None:
        """Start the background steps whose prerequisites are met (at once: those that need nothing)."""
        self._start_branches()

    def _start_branches(self) -> None:
        clone = getattr(self.session, "clone", None)
        if clone is None:
            return  # a session that cannot be cloned: branches run in line when asked for
        for step in self.config.background:
            if step in self._branches or step in self.outcomes:
                continue
            if not all(self.outcomes.get(n) is not None and self.outcomes[n].ok for n in step.needs):
                continue
            ops = Ops(clone(), self.config, self.names, self.ledger, self._branch_cancel)
            executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"nestedhv-{step}")
            held = _HeldLogs()
            held.attach()
            future = executor.submit(_in_branch, held, step, self._actions(ops)[step], ops)
            self._branches[step] = _Branch(future, ops, executor, held, len(self.survived))
            log.info("lab step %s: started in the background", step)

    def _join(self, step: Step, timeout: float | None = None) -> StepOutcome:
        branch = self._branches.pop(step)
        again = False
        try:
            outcome, phase = branch.future.result(timeout)
        except HostUnreachable as lost:  # the host went away under the branch
            crash = self._outage_under_branch(step, lost, branch.survived_before)
            went_on = self.survived[branch.survived_before:]
            outage = crash or (went_on[-1] if went_on else None)
            again = crash is None and outage is not None  # survived: the branch runs again, in line
            message = f"{type(lost).__name__}: {lost}" if outage is None else outage.message()
            outcome = StepOutcome(step.value, False, message, None if outage is None else req.HOST_CRASH_FQID)
            phase = Phase(step.value, datetime.datetime.now(datetime.timezone.utc), 0.0, False, message)
        except Exception as err:  # noqa: BLE001 - a bug, or a branch that would not stop: the step failed, with why
            message = f"{type(err).__name__}: {err}" if not isinstance(err, concurrent.futures.TimeoutError) \
                else "did not stop in time at the end of the run"
            log.error("lab step %s (background): %s", step, message, exc_info=err)
            outcome = StepOutcome(step.value, False, message)
            phase = Phase(step.value, datetime.datetime.now(datetime.timezone.utc), 0.0, False, message)
        finally:
            branch.held.replay()
            branch.executor.shutdown(wait=False)
            close = getattr(branch.ops.session, "close", None)
            if close is not None and branch.ops.session is not self.session:
                with contextlib.suppress(Exception):
                    close()
        if again and not self._branch_cancel.is_set():
            with self._lock:
                self.timeline.append(phase)  # the interrupted attempt stays in the timings
            log.warning("lab step %s (background): the host restarted under it; running it again", step)
            return self._outcome(step)
        self._record(outcome, phase, step)
        if outcome.ok:
            self._start_branches()
        return outcome

    def _outage_under_branch(self, step: Step, lost: HostUnreachable, survived_before: int) -> Any:
        """The outage that cut a branch short, if it ended the lab (HostCrash); None when the lab
        goes on after it. Nobody may have waited for it yet (the main chain was between calls):
        then the wait happens here (HostGone if the host stays away)."""
        if self.on_host_lost is not None and self.host_crash is None and len(self.survived) == survived_before:
            self._host_lost(step, lost)
        return self.host_crash

    def _stop_branches(self) -> None:
        """Ask running branches to stop at their next call and wait for them (they remove their VMs)."""
        if not self._branches:
            return
        self._branch_cancel.set()
        for step in list(self._branches):
            self._join(step, timeout=BRANCH_STOP_S)

    # ------------------------------------------------------------ observations for judging

    def observations(self, host: HostFacts | None = None) -> req.Observations:
        return req.Observations(
            host=host or self.host, vm=self.vm_facts, guest_before=self.guest_before,
            guest_after=self.guest_after, steps=dict(self.outcomes), toggle=self.toggle,
            inner_image=bool(self.config.inner_image),
        )

    # ------------------------------------------------------------ cleanup

    def cleanup(self, keep: Keep, failed: bool) -> list[str]:
        """Remove this run's VMs and disks unless ``keep`` says otherwise; returns what was removed."""
        self._stop_branches()
        return cleanup(self.ops, keep, failed)
