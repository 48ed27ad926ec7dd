"""L2 inside the L1: created, booted, networked (with --nested-inner-image)."""
from __future__ import annotations

import pytest

from pytest_nestedhv.fixtures import Check


@pytest.mark.requirement("nested.create")
def test_create(requirement: Check) -> None:
    """An L2 VM can be created in the L1."""
    requirement()


@pytest.mark.requirement("nested.boot")
def test_boot(requirement: Check) -> None:
    """The L2 VM boots."""
    requirement()


@pytest.mark.requirement("nested.network")
def test_network(requirement: Check) -> None:
    """The L2 VM has network."""
    requirement()
