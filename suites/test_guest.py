"""Inside the L1: extensions visible, Hyper-V installs over PowerShell Direct, hypervisor runs after the reboot."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_nestedhv.hyperv.requirements import Finding


@pytest.mark.requirement("guest.extensions-visible")
def test_extensions_visible(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """VMX/SVM and SLAT visible inside the L1."""
    requirement("guest.extensions-visible")


@pytest.mark.requirement("guest.hyperv-install")
def test_hyperv_install(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Hyper-V installs inside the L1."""
    requirement("guest.hyperv-install")


@pytest.mark.requirement("guest.hypervisor")
def test_hypervisor(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Hypervisor running inside the L1."""
    requirement("guest.hypervisor")
