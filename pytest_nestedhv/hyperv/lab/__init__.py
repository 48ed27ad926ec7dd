"""The lab: an L1 and L2s brought up along a graph of declared steps, and taken down again.

chain.py   the state machine (reach / require, background branches, the timeline)
host.py    preflight and the host-checked step (base image, switch, disk folder, sweep)
l1.py      the L1: create, boot, install Hyper-V, reboot, hypervisor; the toggle probe
l2.py      L2s inside the L1: create, boot, network
probe.py   the negative probe (an L1 without extensions must be refused)
cleanup.py removing this run's VMs and earlier runs' leftovers
"""
from __future__ import annotations

from ..steps import Step
from .chain import Lab, Phase
from .config import Keep, LabConfig
from .errors import LabBlocked, LabConfigError, StepError

__all__ = ["Keep", "Lab", "LabBlocked", "LabConfig", "LabConfigError", "Phase", "Step", "StepError"]
