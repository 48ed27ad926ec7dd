"""pytest-xdist: every test of one host runs on one worker, so each host's lab is built once.

A scheduler of our own rather than xdist's loadgroup: loadgroup rewrites node ids inside the
workers, which depends on pytest internals (it stopped working with pytest 9.2). Grouping here
reads only the node ids the controller already has. Imported only once xdist is running.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

_PARAM_ID = re.compile(r"\[(?P<id>[^\]]*)\]$")


def host_of(nodeid: str, labels: Sequence[str]) -> str | None:
    """The host label in a test's parameter id (``test_x[sim-amd-win10]``), longest match first."""
    match = _PARAM_ID.search(nodeid)
    if match is None:
        return None
    parts = match.group("id")
    for label in sorted(labels, key=len, reverse=True):
        if parts == label or parts.startswith(f"{label}-") or parts.endswith(f"-{label}") or f"-{label}-" in parts:
            return label
    return None


class HostScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """LoadScope with one scope per host; tests without a host keep xdist's module scopes."""

    def __init__(self, config: pytest.Config, log: Any, labels: Sequence[str]) -> None:
        super().__init__(config, log)
        self._labels = tuple(labels)

    def _split_scope(self, nodeid: str) -> str:
        label = host_of(nodeid, self._labels)
        return f"nestedhv-host:{label}" if label is not None else str(super()._split_scope(nodeid))
