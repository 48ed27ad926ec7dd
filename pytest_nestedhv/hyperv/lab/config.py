"""What a lab is asked to build: sizes, images, timeouts (one frozen value per lab)."""
from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ..steps import Step
from ..waits import Progress

Keep = Literal["never", "failed", "always"]
GIB = 1024**3


@dataclasses.dataclass(frozen=True)
class LabConfig:
    run_id: str
    base_image: str | None
    guest_cred: Any  # remote.secrets.GuestCredential
    inner_image: str | None = None
    switch: str | None = None  # the host switch for the L1 (--nested-switch); None: picked in preflight
    memory_bytes: int = 4 * GIB
    processor_count: int = 2
    generation: int = 2  # New-VM -Generation of the L1
    version: str | None = None  # New-VM -Version (configuration version) of the L1; None: the host's default
    l2_memory_bytes: int = 512 * 1024**2
    negative_memory_bytes: int = 2 * GIB
    boot_timeout_s: int = 600
    install_timeout_s: int = 1800
    reboot_timeout_s: int = 900
    l2_settle_s: int = 30
    slice_s: int = 30  # each slice costs two round trips; a VM that turned off is noticed within one
    # steps run in the background, on a session of their own, as soon as what they need is reached:
    # the host check overlaps the reading of the host's facts, the negative probe the L1's boot and install
    background: tuple[Step, ...] = ()
    progress: Progress | None = dataclasses.field(default=None, compare=False, repr=False)  # long steps report here

    def step_limit_s(self, step: Step) -> int:
        """The longest a step may wait (its progress shows elapsed / this); 0 for short steps."""
        limits = {Step.L1_BOOTED: self.boot_timeout_s, Step.HYPERV_INSTALLED: self.install_timeout_s,
                  Step.GUEST_REBOOTED: self.reboot_timeout_s, Step.L2_BOOTED: self.boot_timeout_s,
                  Step.L2_NETWORK: self.boot_timeout_s,
                  Step.NEGATIVE: self.boot_timeout_s + self.install_timeout_s + self.reboot_timeout_s}
        return limits.get(step, 0)
