"""The L0 host: build, CPU, hypervisor, role, boot configuration, VBS, configuration versions."""
from __future__ import annotations

import pytest

from pytest_nestedhv.fixtures import Check


@pytest.mark.requirement("host.build")
def test_build(requirement: Check) -> None:
    """Host build supports nested virtualization."""
    requirement()


@pytest.mark.requirement("host.cpu")
def test_cpu(requirement: Check) -> None:
    """CPU vendor and virtualization features."""
    requirement()


@pytest.mark.requirement("host.hypervisor")
def test_hypervisor(requirement: Check) -> None:
    """Hypervisor running on the host."""
    requirement()


@pytest.mark.requirement("host.hyperv-role")
def test_hyperv_role(requirement: Check) -> None:
    """Hyper-V role installed and vmms running."""
    requirement()


@pytest.mark.requirement("host.bcd")
def test_bcd(requirement: Check) -> None:
    """Boot configuration offers nesting."""
    requirement()


@pytest.mark.requirement("host.vbs")
def test_vbs(requirement: Check) -> None:
    """Virtualization-based security."""
    requirement()


@pytest.mark.requirement("host.config-version")
def test_config_version(requirement: Check) -> None:
    """Host supports a nesting configuration version."""
    requirement()
