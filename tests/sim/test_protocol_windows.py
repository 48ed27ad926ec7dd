"""A stock pypsrp client's calls that Windows answers and the emulator used to ignore or refuse."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pypsrp.exceptions import InvalidPSRPOperation
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import SelectorSet

from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.powershell.engine import Engine
from pytest_nestedhv.sim.scenario import load_scenario
from pytest_nestedhv.sim.server import SimServer


@pytest.fixture
def server(sim_server: Callable[..., SimServer]) -> SimServer:
    return sim_server(Engine(World.from_scenario(load_scenario("default"))), auth="basic", https=False)


def test_get_command_metadata_answers_with_the_hosts_cmdlets(server: SimServer, sim_wsman: Callable[..., Any]) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        found = pool.get_command_metadata(["Get-VM", "Start-VM*"])
        none = pool.get_command_metadata("No-SuchThing*")
        functions = pool.get_command_metadata("Get-VM", command_types=2)  # functions only: the host has none
    assert [m.name for m in found][:2] == ["Get-VM", "Start-VM"]
    assert all(m.name.startswith("Start-VM") for m in found[1:])
    assert found[0].namespace == "Hyper-V" and str(found[0].command_type) == "Cmdlet"
    assert "VMName" not in found[0].parameters and "Name" in found[0].parameters
    assert none == [] and functions == []


def test_server_config_and_payload_size(server: SimServer, sim_wsman: Callable[..., Any]) -> None:
    wsman = sim_wsman(server)
    config = wsman.get_server_config()
    assert config.findtext("{http://schemas.microsoft.com/wbem/wsman/1/config}Config/"
                           "{http://schemas.microsoft.com/wbem/wsman/1/config}MaxEnvelopeSizekb") == "500"
    before = wsman.max_envelope_size
    wsman.update_max_payload_size()
    assert wsman.max_envelope_size > before  # from the 150 kB default to what 500 kB allows


def test_runspace_counts_are_refused_where_windows_refuses_them(server: SimServer,
                                                                sim_wsman: Callable[..., Any]) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        assert pool.get_available_runspaces() == 1
        pool.max_runspaces = 5
        assert pool.get_available_runspaces() == 5
        pool.min_runspaces = 2
        for name, value in (("min_runspaces", -1), ("max_runspaces", -1), ("max_runspaces", 1)):
            with pytest.raises(InvalidPSRPOperation):  # the server answered false (1: below the minimum)
                setattr(pool, name, value)
        assert pool.min_runspaces == 2 and pool.max_runspaces == 5


def test_the_shell_echoes_the_idle_timeout_and_reports_its_process(server: SimServer,
                                                                   sim_wsman: Callable[..., Any]) -> None:
    with RunspacePool(sim_wsman(server), idle_timeout=60) as pool:
        assert pool.is_alive()
        selectors = SelectorSet()
        selectors.add_option("ShellId", pool.shell.id)
        response = pool.connection.get("http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
                                       selector_set=selectors)
    fields = {el.tag.rsplit("}", 1)[-1]: el.text for el in response.find(
        "{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}Shell")}
    assert fields["IdleTimeOut"] == "PT60.000S" and fields["CompressionMode"] == "NoCompression"
    assert int(fields["ProcessId"]) > 0 and fields["ShellRunTime"].startswith("P0DT0H0M")
