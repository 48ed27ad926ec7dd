"""An L1 without exposed extensions is refused cleanly, with the documented error."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_nestedhv.hyperv.requirements import Finding


@pytest.mark.requirement("negative.no-extensions")
def test_no_extensions(nested_host: object, requirement: Callable[[str], Finding]) -> None:
    """An L1 without extensions is refused cleanly."""
    requirement("negative.no-extensions")
