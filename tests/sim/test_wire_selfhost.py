"""The Windows Insider enrollment key (WindowsSelfHost\\Applicability) and the build's branch, as a
real host serves them: absent when not enrolled, the Settings app's values when it is."""
from __future__ import annotations

import dataclasses

from wire_helpers import WireHost, cmd, prop, wire_tag

from pytest_nestedhv.sim.scenario import load_scenario

KEY = "HKLM:\\SOFTWARE\\Microsoft\\WindowsSelfHost\\Applicability"
CURRENT_VERSION = "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"


def test_a_host_outside_the_insider_program_has_no_applicability_key() -> None:
    with WireHost.start("default") as host:
        result = host.run(cmd("Get-ItemProperty", Path=KEY))
        assert result.output == [] and len(result.errors) == 1  # non-terminating, as Windows writes it
        assert str(result.errors[0]) == f"Cannot find path '{KEY}' because it does not exist."
        quiet = host.run(cmd("Get-ItemProperty", Path=KEY, ErrorAction="SilentlyContinue"))
        assert quiet.output == [] and quiet.errors == []
        assert host.ok(cmd("Test-Path", Path=KEY)) == [False]
        (cv,) = host.ok(cmd("Get-ItemProperty", Path=CURRENT_VERSION))
        assert prop(cv, "BuildLabEx") == "26100.1.amd64fre.ge_release.240331-1435"


def test_an_enrolled_host_serves_its_channel_and_branch() -> None:
    base = load_scenario("default")
    scenario = dataclasses.replace(base, host=dataclasses.replace(base.host, build=27000, ubr=1000,
                                                                  flight="CanaryChannel", branch="rs_prerelease"))
    with WireHost.start(scenario) as host:
        (key,) = host.ok(cmd("Get-ItemProperty", Path=KEY))
        assert (prop(key, "BranchName"), prop(key, "Ring"), prop(key, "ContentType")) == (
            "CanaryChannel", "External", "Mainline")
        assert prop(key, "EnablePreviewBuilds") == 2 and wire_tag(key, "EnablePreviewBuilds")[0] == "I32"  # REG_DWORD
        assert prop(key, "PSChildName") == "Applicability"
        assert host.ok(cmd("Test-Path", Path=KEY)) == [True]
        (cv,) = host.ok(cmd("Get-ItemProperty", Path=CURRENT_VERSION))
        assert prop(cv, "BuildLabEx") == "27000.1.amd64fre.rs_prerelease.240331-1435"
        assert prop(cv, "BuildBranch") == "rs_prerelease"
