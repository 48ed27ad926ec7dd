"""The lab's steps and what each needs first: the graph, declared once.

host-checked -> l1-created -> l1-booted -> guest-reachable -> hyperv-installed ->
guest-rebooted -> guest-hypervisor -> l2-created -> l2-booted -> l2-network, with two side
branches: toggle-while-running (needs the L1 running) and negative-no-extensions (needs only
host-checked, so it can run while the L1 boots and installs Hyper-V).
"""
from __future__ import annotations

import enum


class Step(enum.StrEnum):
    HOST_CHECKED = "host-checked"
    L1_CREATED = "l1-created"
    L1_BOOTED = "l1-booted"
    TOGGLE = "toggle-while-running"
    GUEST_REACHABLE = "guest-reachable"
    HYPERV_INSTALLED = "hyperv-installed"
    GUEST_REBOOTED = "guest-rebooted"
    GUEST_HYPERVISOR = "guest-hypervisor"
    L2_CREATED = "l2-created"
    L2_BOOTED = "l2-booted"
    L2_NETWORK = "l2-network"
    NEGATIVE = "negative-no-extensions"

    @property
    def needs(self) -> tuple[Step, ...]:
        """The steps that must have succeeded before this one runs."""
        return NEEDS[self]

    def path(self) -> tuple[Step, ...]:
        """Every step this one depends on, prerequisites first, ending with the step itself."""
        out: list[Step] = []
        for need in self.needs:
            out += [s for s in need.path() if s not in out]
        return (*out, self)


NEEDS: dict[Step, tuple[Step, ...]] = {
    Step.HOST_CHECKED: (),
    Step.L1_CREATED: (Step.HOST_CHECKED,),
    Step.L1_BOOTED: (Step.L1_CREATED,),
    # the toggle is tried on the running L1 before anything is installed in it
    Step.TOGGLE: (Step.L1_BOOTED,),
    Step.GUEST_REACHABLE: (Step.L1_BOOTED,),
    Step.HYPERV_INSTALLED: (Step.GUEST_REACHABLE,),
    Step.GUEST_REBOOTED: (Step.HYPERV_INSTALLED,),
    Step.GUEST_HYPERVISOR: (Step.GUEST_REBOOTED,),
    Step.L2_CREATED: (Step.GUEST_HYPERVISOR,),
    Step.L2_BOOTED: (Step.L2_CREATED,),
    Step.L2_NETWORK: (Step.L2_BOOTED,),
    Step.NEGATIVE: (Step.HOST_CHECKED,),
}
# the guest hypervisor is what users build on (nested_l1): one name for it
GUEST_HYPERVISOR = Step.GUEST_HYPERVISOR
# what a host restart takes away: a running VM and what was seen inside it. After a restart that
# is not a bugcheck the lab runs these again (what persists: the host check, the VMs and disks it
# made, the Hyper-V feature installed in the L1, and what it observed along the way)
UNDONE_BY_HOST_RESTART = frozenset({Step.L1_BOOTED, Step.GUEST_REACHABLE, Step.GUEST_REBOOTED,
                                    Step.GUEST_HYPERVISOR, Step.L2_BOOTED, Step.L2_NETWORK})
# side branches worth running in the background when a run needs them: they share nothing
# with the main chain but the checked host
SIDE_BRANCHES = (Step.NEGATIVE,)


def longest_chain(durations: dict[str, float]) -> tuple[float, tuple[Step, ...]]:
    """The longest chain of dependent steps by their measured durations (steps not run count 0):
    the least wall time a run could take if independent branches overlapped completely."""
    best: dict[Step, tuple[float, tuple[Step, ...]]] = {}
    for step in Step:  # declaration order is a topological order
        before = max((best[n] for n in step.needs), default=(0.0, ()), key=lambda b: b[0])
        best[step] = (before[0] + durations.get(step.value, 0.0), (*before[1], step))
    return max(best.values(), key=lambda b: b[0])
