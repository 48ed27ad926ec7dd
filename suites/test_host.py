"""The L0 host: build, CPU, hypervisor, role, boot configuration, VBS, configuration versions."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_nestedhv.hyperv.requirements import Finding


@pytest.mark.requirement("host.build")
def test_build(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Host build supports nested virtualization."""
    requirement("host.build")


@pytest.mark.requirement("host.cpu")
def test_cpu(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """CPU vendor and virtualization features."""
    requirement("host.cpu")


@pytest.mark.requirement("host.hypervisor")
def test_hypervisor(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Hypervisor running on the host."""
    requirement("host.hypervisor")


@pytest.mark.requirement("host.hyperv-role")
def test_hyperv_role(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Hyper-V role installed and vmms running."""
    requirement("host.hyperv-role")


@pytest.mark.requirement("host.bcd")
def test_bcd(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Boot configuration offers nesting."""
    requirement("host.bcd")


@pytest.mark.requirement("host.vbs")
def test_vbs(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Virtualization-based security."""
    requirement("host.vbs")


@pytest.mark.requirement("host.config-version")
def test_config_version(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """Host supports a nesting configuration version."""
    requirement("host.config-version")
