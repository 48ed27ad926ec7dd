"""The validation suite's wiring: the lab fixtures, and a stable order host -> vm -> guest -> nested -> negative."""
from __future__ import annotations

import pytest

from pytest_nestedhv.fixtures import nested_observer, requirement  # noqa: F401 - fixtures for the suite

AREAS = ("host", "vm", "guest", "nested", "negative")


def _area(item: pytest.Item) -> int:
    marker = item.get_closest_marker("requirement")
    area = str(marker.args[0]).split(".", 1)[0] if marker and marker.args else ""
    return AREAS.index(area) if area in AREAS else len(AREAS)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # keep each host's tests together (one lab per host), areas in the lab's order
    hosts: dict[str, int] = {}
    for item in items:
        callspec = getattr(item, "callspec", None)
        hosts.setdefault(str(callspec.params.get("nested_host", "")) if callspec else "", len(hosts))

    def key(item: pytest.Item) -> tuple[int, int]:
        callspec = getattr(item, "callspec", None)
        host = str(callspec.params.get("nested_host", "")) if callspec else ""
        return (hosts[host], _area(item))

    items.sort(key=key)
