"""The L1 VM's settings (the lab's L1, or the VM named by --nested-vm)."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_nestedhv.hyperv.requirements import Finding


@pytest.mark.requirement("vm.config-version")
def test_config_version(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """L1 configuration version."""
    requirement("vm.config-version")


@pytest.mark.requirement("vm.expose-extensions")
def test_expose_extensions(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Virtualization extensions exposed to the L1."""
    requirement("vm.expose-extensions")


@pytest.mark.requirement("vm.dynamic-memory")
def test_dynamic_memory(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Static memory on the L1."""
    requirement("vm.dynamic-memory")


@pytest.mark.requirement("vm.memory")
def test_memory(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """L1 memory (4 GB advised)."""
    requirement("vm.memory")


@pytest.mark.requirement("vm.checkpoints")
def test_checkpoints(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """No checkpoints on the L1."""
    requirement("vm.checkpoints")


@pytest.mark.requirement("vm.saved-state")
def test_saved_state(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """L1 not saved."""
    requirement("vm.saved-state")


@pytest.mark.requirement("vm.mac-spoofing")
def test_mac_spoofing(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """MAC address spoofing for L2 networking."""
    requirement("vm.mac-spoofing")


@pytest.mark.requirement("vm.toggle-while-running")
def test_toggle_while_running(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Extensions cannot be toggled on a running VM."""
    requirement("vm.toggle-while-running")
