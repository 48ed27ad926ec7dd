"""The plugin inside a pytest run: parametrization per host, header, stash, log masking.

The emulator's engine is replaced by the echo engine so these tests exercise the plugin's
wiring (sim start, NTLM over HTTPS with the run's CA, fixture) and nothing of the model.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# why: pytester's in-process runs drop modules first imported inside them; pypsrp/requests
# re-imported later would no longer match the classes other tests hold
import pypsrp.powershell  # noqa: F401,E402
import pypsrp.wsman  # noqa: F401,E402
import pytest_nestedhv.remote.hosts  # noqa: F401,E402
import pytest_nestedhv.remote.session  # noqa: F401,E402
import pytest_nestedhv.remote.wire  # noqa: F401,E402

from pytest_nestedhv.remote import backends
from pytest_nestedhv.remote.backends.sim import SimBackend
from pytest_nestedhv.sim.server import SimServer
from pytest_nestedhv.sim.server.echo_engine import EchoEngine

GUEST_PW = "Sim-Guest-Passw0rd!"  # the flaky-network scenario's guest password


@pytest.fixture
def echo_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SimServer]]:
    started: list[SimServer] = []

    class Recording(SimBackend):
        def open(self, *args: Any) -> Any:
            opened = super().open(*args)
            started.append(opened.server)
            return opened

    backends.register("sim", Recording(make_engine=lambda scenario: EchoEngine()))
    monkeypatch.delenv("NESTED_HOST", raising=False)
    yield started
    backends.unregister("sim")


TESTS = """
import logging
import pytest
from pytest_nestedhv.plugin import get_state
from pytest_nestedhv.remote import Cmd

def test_host(nested_host, request):
    assert nested_host.session.is_open and nested_host.target.port > 0
    assert nested_host.run_id == get_state(request.config).settings.run_id
    out = nested_host.session.run(Cmd.of("Get-VM", Name="x"))
    assert out[1].value == "Name=x"
    cred = nested_host.guest_credential
    assert cred is not None and cred.user == "Administrator"
    logging.getLogger("suite").warning("guest password is %s", cred.password.reveal())
    assert False, "show the captured log"

@pytest.mark.nested_host("sim")
def test_only_sim(nested_host):
    assert nested_host.target.is_sim

def test_same_session(nested_host, request):
    # the fixture's typed handle rides on the pool's one open session for that host
    assert nested_host.session is get_state(request.config).hosts.get(nested_host.label).session
"""


def test_two_sim_hosts_parametrize_and_mask(pytester: pytest.Pytester, echo_sim: list[SimServer]) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--nested-host=sim",
                                          "--nested-host=sim:flaky-network", "-v", "-p", "no:randomly")
    text = result.stdout.str()
    result.assert_outcomes(passed=4, failed=2)
    for test_id in ("test_host[sim]", "test_host[sim-flaky-network]", "test_only_sim[sim]", "test_same_session[sim]"):
        assert test_id in text
    assert "nestedhv: run " in text and "sim-flaky-network: emulated host, scenario flaky-network" in text
    assert "guest password is ********" in text and GUEST_PW not in text
    assert len(echo_sim) == 2  # one emulator per sim target, whatever the number of tests
    assert all(s._httpd is None for s in echo_sim)  # stopped at the end


def test_collect_only_connects_nothing(pytester: pytest.Pytester, echo_sim: list[SimServer]) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--nested-host=sim", "--collect-only", "-q")
    assert result.ret == 0 and not echo_sim
    result.stdout.fnmatch_lines(["*test_host[[]sim[]]*"])


XDIST_CONFTEST = """
from pytest_nestedhv.remote import backends
from pytest_nestedhv.remote.backends.sim import SimBackend
from pytest_nestedhv.sim.server.echo_engine import EchoEngine

backends.register("sim", SimBackend(make_engine=lambda scenario: EchoEngine()))
"""

XDIST_TESTS = """
import os
import pytest

@pytest.mark.parametrize("n", range(4))
def test_many(nested_host, n):
    with open("where.txt", "a") as f:
        f.write(f"{nested_host.label} {os.environ.get('PYTEST_XDIST_WORKER')} {nested_host.run_id} {id(nested_host)}\\n")
"""


def test_xdist_groups_each_host_on_one_worker(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(XDIST_CONFTEST)
    pytester.makepyfile(XDIST_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--nested-host=sim",
                                           "--nested-host=sim:flaky-network", timeout=120)
    result.assert_outcomes(passed=8)
    rows = [line.split() for line in (pytester.path / "where.txt").read_text().splitlines()]
    by_host: dict[str, set[tuple[str, str]]] = {}
    for label, worker, _run_id, host_id in rows:
        by_host.setdefault(label, set()).add((worker, host_id))
    assert sorted(by_host) == ["sim", "sim-flaky-network"]
    assert all(len(places) == 1 for places in by_host.values()), by_host  # one worker, one session per host
    assert len({row[2] for row in rows}) == 1  # one run id across workers


def test_host_of_reads_the_host_label_from_a_parameter_id() -> None:
    from pytest_nestedhv.xdist_hosts import host_of

    labels = ["sim", "sim-flaky-network", "hostA"]
    assert host_of("suites/test_host.py::test_build[sim]", labels) == "sim"
    assert host_of("suites/test_host.py::test_build[sim-flaky-network]", labels) == "sim-flaky-network"
    assert host_of("t.py::test_x[hostA-3]", labels) == "hostA"
    assert host_of("t.py::test_plain", labels) is None
