"""The L1 VM's settings (the lab's L1, or the VM named by --nested-vm)."""
from __future__ import annotations

import pytest

from pytest_nestedhv.fixtures import Check


@pytest.mark.requirement("vm.config-version")
def test_config_version(requirement: Check) -> None:
    """L1 configuration version."""
    requirement()


@pytest.mark.requirement("vm.expose-extensions")
def test_expose_extensions(requirement: Check) -> None:
    """Virtualization extensions exposed to the L1."""
    requirement()


@pytest.mark.requirement("vm.dynamic-memory")
def test_dynamic_memory(requirement: Check) -> None:
    """Static memory on the L1."""
    requirement()


@pytest.mark.requirement("vm.memory")
def test_memory(requirement: Check) -> None:
    """L1 memory (4 GB advised)."""
    requirement()


@pytest.mark.requirement("vm.checkpoints")
def test_checkpoints(requirement: Check) -> None:
    """No checkpoints on the L1."""
    requirement()


@pytest.mark.requirement("vm.saved-state")
def test_saved_state(requirement: Check) -> None:
    """L1 not saved."""
    requirement()


@pytest.mark.requirement("vm.mac-spoofing")
def test_mac_spoofing(requirement: Check) -> None:
    """MAC address spoofing for L2 networking."""
    requirement()


@pytest.mark.requirement("vm.toggle-while-running")
def test_toggle_while_running(requirement: Check) -> None:
    """Extensions cannot be toggled on a running VM."""
    requirement()
