"""The validation suite's wiring: the lab fixtures, and each host's tests in the catalog's order
(host -> vm -> guest -> nested -> negative, the order the lab builds things in)."""
from __future__ import annotations

import pytest

from pytest_nestedhv.fixtures import nested_observer, requirement  # noqa: F401 - fixtures for the suite
from pytest_nestedhv.hyperv.requirements import IDS


def _rank(item: pytest.Item) -> int:
    marker = item.get_closest_marker("requirement")
    rid = str(marker.args[0]) if marker and marker.args else ""
    return IDS.index(rid) if rid in IDS else len(IDS)


def _host(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    return str(callspec.params.get("nested_host", "")) if callspec else ""


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # keep each host's tests together (one lab per host)
    hosts: dict[str, int] = {}
    for item in items:
        hosts.setdefault(_host(item), len(hosts))
    items.sort(key=lambda item: (hosts[_host(item)], _rank(item)))
