"""L2 inside the L1: created, booted, networked (with --nested-inner-image)."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_nestedhv.hyperv.requirements import Finding


@pytest.mark.requirement("nested.create")
def test_create(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """An L2 VM can be created in the L1."""
    requirement("nested.create")


@pytest.mark.requirement("nested.boot")
def test_boot(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """The L2 VM boots."""
    requirement("nested.boot")


@pytest.mark.requirement("nested.network")
def test_network(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """The L2 VM has network."""
    requirement("nested.network")
