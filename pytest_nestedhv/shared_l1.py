"""The default-shape L1 of each host, shared by the suite's lab (nested_observer) and nested_l1.

Both want the same L1 (the lab's default memory, processors, version and generation), and an L1
costs a Hyper-V install. Whichever asks first builds it and registers its Lab here; the other
adopts it and leaves its cleanup to the owner. pytest tears session fixtures down in the reverse
order of their setup, so the adopter is done with the L1 before the owner removes it.
"""
from __future__ import annotations

from typing import Any

import pytest

_LABS = pytest.StashKey[dict[str, Any]]()


def shared_lab(config: pytest.Config, label: str) -> Any:
    """The default-shape Lab (hyperv.lab.Lab) built on host ``label`` so far, or None."""
    return config.stash.get(_LABS, {}).get(label)


def share_lab(config: pytest.Config, label: str, lab: Any) -> None:
    config.stash.setdefault(_LABS, {}).setdefault(label, lab)
