"""The pure parts of the public fixtures: marker shapes, sizes, refusals, run names of shapes,
the Machine hops and RemoteObject's attribute access (table-driven, no host)."""
from __future__ import annotations

import types
from typing import Any

import pytest

from pytest_nestedhv.hyperv.machines import Machine
from pytest_nestedhv.hyperv.names import RunNames, base_run_id, is_leftover, shape_run_id
from pytest_nestedhv.remote.commands import Cmd
from pytest_nestedhv.remote.errors import RemoteError
from pytest_nestedhv.remote.objects import RemoteObject
from pytest_nestedhv.vm_fixtures import L1Shape, ShapeError, parse_size

GB, MB = 1024**3, 1024**2


@pytest.mark.parametrize("value, expected", [("8GB", 8 * GB), ("512MB", 512 * MB), (" 4 gb ", 4 * GB),
                                             (1024, 1024), ("2048", 2048), ("1TB", 1024**4)])
def test_sizes(value: Any, expected: int) -> None:
    assert parse_size(value, "memory") == expected


@pytest.mark.parametrize("value", ["lots", "8 GiB", "-1GB", "0", True, 0, "4.5GB"])
def test_bad_sizes_name_the_argument(value: Any) -> None:
    with pytest.raises(ShapeError, match=r"^memory="):
        parse_size(value, "memory")


def mark(*args: Any, **kwargs: Any) -> pytest.Mark:
    return pytest.mark.nested_l1.with_args(*args, **kwargs).mark


@pytest.mark.parametrize("marker, expected", [
    (None, L1Shape(4 * GB, 2, None, None)),
    (mark(), L1Shape(4 * GB, 2, None, None)),
    (mark(memory="4096MB", processors=2), L1Shape()),  # the default shape, spelled out: the same L1
    (mark(memory="8GB", processors=4, version="9.0", generation=1), L1Shape(8 * GB, 4, "9.0", 1)),
])
def test_shapes(marker: pytest.Mark | None, expected: L1Shape) -> None:
    assert L1Shape.from_marker(marker) == expected


@pytest.mark.parametrize("marker, message", [
    (mark("8GB"), "keyword arguments only"),
    (mark(cpus=4), "unknown argument 'cpus'"),
    (mark(generation=3), "generation=3: 1 or 2"),
    (mark(version="nine"), "version='nine': a configuration version"),
    (mark(processors=0), "processors=0: give a whole number"),
    (mark(processors="4"), "processors='4': give a whole number"),
])
def test_bad_shapes(marker: pytest.Mark, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        L1Shape.from_marker(marker)


FACTS = types.SimpleNamespace(computer_name="HV1", build=17763, build_text="17763.1", memory_capacity_bytes=16 * GB,
                              logical_processors=8, supported_versions=("5.0", "8.0", "9.0"))


@pytest.mark.parametrize("shape, refusal", [
    (L1Shape(), None),
    (L1Shape(version="9.0"), None),
    (L1Shape(version="10.0"), "version 10.0 is not supported on HV1 (build 17763.1); it supports 5.0, 8.0, 9.0"),
    (L1Shape(memory_bytes=32 * GB), "memory 32768MB is more than HV1 has (16384MB)"),
    (L1Shape(processors=16), "processors 16 is more than HV1 has (8 logical processors)"),
])
def test_what_a_host_cannot_have(shape: L1Shape, refusal: str | None) -> None:
    assert shape.refusal(FACTS) == refusal


def test_shape_run_ids_belong_to_their_run() -> None:
    assert shape_run_id("ab12cd", 2) == "ab12cd.2" and base_run_id("ab12cd.2") == "ab12cd"
    run, shape = RunNames("ab12cd"), RunNames("ab12cd.1")
    assert shape.l1 == "nestedhv-ab12cd.1-l1" and shape.vm("web") == "nestedhv-ab12cd.1-web"
    assert shape.vm("nestedhv-x") == "nestedhv-x"
    # this run's shapes are never leftovers of it, nor it of them; another run's shapes are
    assert not is_leftover(shape.tag, run) and not is_leftover(run.tag, shape)
    assert is_leftover("nestedhv-run:ffffff.3", run) and not is_leftover("nestedhv-run:ffffff.3 nestedhv-kept", run)
    assert not run.owns(shape.tag)  # the suite's cleanup leaves a shape's L1 to its own lab


class FakeSession:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def run(self, cmd: Cmd, timeout: float | None = None, check: bool = True) -> list[Any]:
        self.calls.append(("host", cmd.name))
        return []

    def in_guest(self, vm: str, cred: Any, cmd: Cmd, timeout: float | None = None, check: bool = True) -> list[Any]:
        self.calls.append(("guest", vm, cred, cmd.name))
        return []

    def in_nested_guest(self, vm: str, cred: Any, inner: str, inner_cred: Any, cmd: Cmd,
                        timeout: float | None = None, check: bool = True) -> list[Any]:
        self.calls.append(("nested", vm, cred, inner, inner_cred, cmd.name))
        return []


def test_machine_hops() -> None:
    session = FakeSession()
    host = Machine(session)  # type: ignore[arg-type]
    l1 = host.into("l1", "c1")
    l2 = l1.into("l2", "c2")
    for machine in (host, l1, l2):
        machine.run(Cmd.of("Get-VM"))
    assert session.calls == [("host", "Get-VM"), ("guest", "l1", "c1", "Get-VM"),
                             ("nested", "l1", "c1", "l2", "c2", "Get-VM")]
    assert (host.label, l1.label, l2.label) == ("host", "guest:l1", "guest:l1/l2")
    with pytest.raises(ValueError, match="at most two levels"):
        l2.into("l3", "c3")
    with pytest.raises(RemoteError, match="no guest credential for guest:l1"):
        host.into("l1", None).run(Cmd.of("Get-VM"))


def test_remote_objects_read_as_attributes_and_keys() -> None:
    obj = RemoteObject(["X"], {"Status": "Running", "Count": 4})
    assert obj.Status == obj["status"] == obj.status == "Running" and obj.Count == 4
    with pytest.raises(AttributeError, match="no property 'Missing'"):
        obj.Missing  # noqa: B018
    assert not hasattr(obj, "_private")
