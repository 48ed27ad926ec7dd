"""Scenario files: shipped ones load, and every kind of bad input is one clear line naming file and key."""
from __future__ import annotations

from pathlib import Path

import pytest

from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.scenario import SHIPPED_SCENARIOS, ScenarioError, load_scenario

REQUIRED = {"default", "amd-win10", "preview-10565", "no-hypervisor", "bcd-nested-off", "legacy-vms",
            "guest-install-fails", "nested-boot-crash", "flaky-network"}


def test_required_scenarios_are_shipped() -> None:
    assert REQUIRED <= set(SHIPPED_SCENARIOS)


@pytest.mark.parametrize("name", SHIPPED_SCENARIOS)
def test_shipped_scenario_builds_a_world(name: str) -> None:
    scenario = load_scenario(name)
    world = World.from_scenario(scenario)
    assert world.host.os.build == scenario.host.build
    assert [vm.name for vm in world.host.vms] == [vm.name for vm in scenario.vms]


def test_default_is_a_fast_healthy_ws2025_intel_host() -> None:
    s = load_scenario("default")
    assert (s.host.build, s.host.cpu, s.host.vbs, s.host.bcd_offer_nested) == (26100, "GenuineIntel", "off", True)
    # L1 boot + Hyper-V install + reboot + L2 boot in a few real seconds
    assert (2 * s.guest.boot_seconds + s.guest.hyperv_install_seconds + s.guest.boot_seconds) / s.faults.time_scale < 5


def test_flaky_network_has_faults() -> None:
    f = load_scenario("flaky-network").faults
    assert f.drop_rate > 0 and f.latency_ms > 0


def test_password_not_in_repr() -> None:
    s = load_scenario("default")
    assert s.guest.admin_password and s.guest.admin_password not in repr(s)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, fragment", [
    ("[host]\nbuidl = 1\n", "[host] unknown key 'buidl'"),
    ("[host]\nbuild = '26100'\n", "[host] build: expected int"),
    ("[host]\nvbs = 'on'\n", "[host] vbs: expected one of 'off', 'enabled', 'running', got 'on'"),
    ("[host]\nhyperv_feature = 1\n", "[host] hyperv_feature: expected bool"),
    ("[nested]\nboot = 'fast'\n", "[nested] boot: expected one of"),
    ("[guest]\nhyperv_install = 'maybe'\n", "[guest] hyperv_install: expected one of"),
    ("[[vm]]\nstate = 'Off'\n", "[[vm]] #1 name: missing required key"),
    ("[[vm]]\nname = 'a'\nstate = 'Paused'\n", "[[vm]] #1 state: expected one of"),
    ("[[vm]]\nname = 'a'\nmac_spoofing = 'on'\n", "[[vm]] #1 mac_spoofing"),
    ("[faults]\ndrop_rate = 1.5\n", "[faults] drop_rate: must be"),
    ("[faults]\ntime_scale = 0\n", "[faults] time_scale: must be > 0"),
    ("[extra]\n", "unknown key 'extra'"),
    ("[host\n", "invalid TOML"),
    ("[host]\nbase_images = 'C:\\\\x.vhdx'\n", "[host] base_images: expected a list of strings"),
])
def test_bad_scenario_is_one_line_naming_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert fragment in message


def test_unknown_scenario_name_lists_shipped() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("no-such-host")
    assert "no-such-host" in str(info.value) and "default" in str(info.value) and "legacy-vms" in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario("/nonexistent/x.toml")


def test_a_file_scenario_with_a_vm(tmp_path: Path) -> None:
    path = _write(tmp_path, "[host]\nbuild = 20348\n[[vm]]\nname = 'x'\nversion = '9.0'\ncheckpoints = 2\n")
    s = load_scenario(path)
    assert s.host.build == 20348 and s.vms[0].checkpoints == 2 and s.name == "bad"
