"""Inside the L1: extensions visible, Hyper-V installs over PowerShell Direct, hypervisor runs after the reboot."""
from __future__ import annotations

import pytest

from pytest_nestedhv.fixtures import Check


@pytest.mark.requirement("guest.extensions-visible")
def test_extensions_visible(requirement: Check) -> None:
    """VMX/SVM and SLAT visible inside the L1."""
    requirement()


@pytest.mark.requirement("guest.hyperv-install")
def test_hyperv_install(requirement: Check) -> None:
    """Hyper-V installs inside the L1."""
    requirement()


@pytest.mark.requirement("guest.hypervisor")
def test_hypervisor(requirement: Check) -> None:
    """Hypervisor running inside the L1."""
    requirement()
