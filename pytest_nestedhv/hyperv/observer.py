"""Judging a requirement: reach the lab step it declares, then judge, then name the root cause.

Pure Python (the pytest fixtures turn a Finding into pass / fail / skip / warning). The rules,
the same for every id (the catalog declares ``needs`` and ``after``; nothing here names an id):
- a step on the requirement's path failed, and another requirement reports that step
  (``requirements.reporter``): blocked by that one (or by what blocked it);
- its own step failed: its own failure, never a silent skip;
- it failed and one of its ``after`` requirements failed: blocked by that one, no fix of its own.
A blocked check is always a skip that says "blocked by <id>" (see requirements.py).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from . import requirements as req
from .facts import HostFacts, VMFacts, gather_host, gather_vm
from .lab import Lab
from .outcomes import StepOutcome
from .ports import SessionLike
from .remedy import Remediation, remediate
from .steps import Step


@dataclasses.dataclass
class Observer:
    session: SessionLike
    lab: Lab | None  # None in --nested-vm mode
    vm_name: str | None = None  # --nested-vm
    remediate: bool = False
    host_facts: HostFacts | None = None
    user_vm_facts: VMFacts | None = None
    announce: Callable[[str], None] | None = None  # --nested-remediate: told each change before it is made
    remediation: Remediation | None = None
    findings: dict[str, req.Finding] = dataclasses.field(default_factory=dict)

    @property
    def vm_mode(self) -> bool:
        return self.lab is None

    @property
    def vm_facts(self) -> VMFacts | None:
        """The L1 being judged: the lab's, or the user's --nested-vm."""
        return self.lab.vm_facts if self.lab is not None else self.user_vm_facts

    def host(self) -> HostFacts:
        if self.host_facts is None:
            self.host_facts = gather_host(self.session)
            if self.lab is not None:
                self.lab.host = self.host_facts
        return self.host_facts

    def user_vm(self) -> VMFacts:
        """--nested-vm: the user's VM (remediated first when asked). Raises RemoteError if absent."""
        if self.user_vm_facts is None:
            assert self.vm_name is not None
            if self.remediate:
                self.remediation = remediate(self.session, self.vm_name, self.host(), self.announce)
                self.user_vm_facts = self.remediation.facts
            else:
                self.user_vm_facts = gather_vm(self.session, self.vm_name)
        return self.user_vm_facts

    def judge(self, rid: str) -> req.Finding:
        """The finding for ``rid`` (judged once; asking again returns the same finding)."""
        if rid not in self.findings:
            self.findings[rid] = self._judge(req.BY_ID[rid])
        return self.findings[rid]

    def _judge(self, r: req.Requirement) -> req.Finding:
        host = self.host()
        own_failure: StepOutcome | None = None
        if r.needs is None:
            obs = req.Observations(host=host, vm_mode=self.vm_mode)
        elif self.lab is None:
            if r.needs is not Step.L1_CREATED:
                return req.Finding(r.id, "skip", f"read-only mode (--nested-vm {self.vm_name}): no lab is built, "
                                   f"{r.id} is not checked", "n/a")
            obs = req.Observations(host=host, vm=self.user_vm(), vm_mode=True)
        else:
            failure = self.lab.first_failure(r.needs)
            if failure is not None:
                reporter = req.reporter(Step(failure.step))
                if reporter != r.id:
                    return req.blocked(r.id, self.judge(reporter), f"lab step '{failure.step}' failed: {failure.error}")
                own_failure = failure
            obs = self.lab.observations(host)
        finding = r.evaluate(obs)
        if own_failure is not None and finding.status != "fail":
            # a step this requirement reports failed, though its judge reads other observations
            finding = req.Finding(r.id, "fail", f"lab step '{own_failure.step}' failed: {own_failure.error}",
                                  f"the lab step '{own_failure.step}' succeeds (to judge: {r.title})", "",
                                  {"step": own_failure.step, "error": own_failure.error, "fqid": own_failure.fqid})
        if finding.status == "fail":
            for earlier in r.after:
                cause = self.judge(earlier)
                if cause.status == "fail" or cause.blocked_by:
                    return req.blocked(r.id, cause)
        return finding
