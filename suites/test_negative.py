"""An L1 without exposed extensions is refused cleanly, with the documented error."""
from __future__ import annotations

import pytest

from pytest_nestedhv.fixtures import Check


@pytest.mark.requirement("negative.no-extensions")
def test_no_extensions(requirement: Check) -> None:
    """An L1 without extensions is refused cleanly."""
    requirement()
