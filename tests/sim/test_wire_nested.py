"""What the public fixtures and the examples need of the emulator, over the wire: several L2s in
one L1, an internal switch inside the L1, PowerShell Direct from the L1 into an L2 (the plugin's
double-hop script), static addresses and pings between L2s, checkpoints and saved state of a
nested L1, with Windows' texts and the rules by build.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from pytest_nestedhv.sim.scenario import load_scenario

from wire_helpers import CATEGORY, WireHost, cmd, error_facts, prop

INVOKE = "Microsoft.PowerShell.Commands.InvokeCommandCommand"
HV = "Microsoft.HyperV.PowerShell.Commands."


def nested_l1(host: WireHost, name: str) -> None:
    """An L1 with Hyper-V running inside, as the lab builds it."""
    host.make_l1(name, start=True)
    assert not host.in_guest(name, "Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=True).errors
    host.in_guest(name, "Restart-Computer", Force=True)
    host.ok(cmd("Wait-VM", Name=name, For="Reboot", Timeout=600))


def l2(host: WireHost, l1: str, name: str, switch: str | None = None) -> None:
    base = host.world.guest_image.base_images[0]
    disk = base.rsplit("\\", 1)[0] + f"\\{name}.vhdx"
    assert not host.in_guest(l1, "New-VHD", Path=disk, ParentPath=base, Differencing=True).errors
    params = {"Name": name, "Generation": 2, "MemoryStartupBytes": 512 * 1024**2, "VHDPath": disk}
    if switch:
        params["SwitchName"] = switch
    assert not host.in_guest(l1, "New-VM", **params).errors
    assert not host.in_guest(l1, "Start-VM", Name=name).errors
    assert not host.in_guest(l1, "Wait-VM", Name=name, For="Heartbeat", Timeout=600).errors


@pytest.fixture(scope="module")
def host() -> Iterator[WireHost]:
    with WireHost.start("default") as started:
        nested_l1(started, "n-l1")
        started.ok(cmd("New-VMSwitch", Name="n-l1-internal", SwitchType="Internal"))  # on the host: not seen inside
        assert not started.in_guest("n-l1", "New-VMSwitch", Name="inside", SwitchType="Internal").errors
        l2(started, "n-l1", "n-a", switch="inside")
        l2(started, "n-l1", "n-b", switch="inside")
        l2(started, "n-l1", "n-c")  # not on the switch
        yield started


def test_several_l2s_and_an_internal_switch_inside_the_l1(host: WireHost) -> None:
    vms = {prop(v, "Name"): str(prop(v, "State")) for v in host.in_guest("n-l1", "Get-VM").output}
    assert vms == {"n-a": "Running", "n-b": "Running", "n-c": "Running"}
    (switch,) = host.in_guest("n-l1", "Get-VMSwitch", Name="inside").output
    assert str(prop(switch, "SwitchType")) == "Internal"
    adapters = host.in_guest("n-l1", "Get-VMNetworkAdapter", VMName="n-a").output
    assert [prop(a, "SwitchName") for a in adapters] == ["inside"]


def test_powershell_direct_from_the_l1_into_an_l2(host: WireHost) -> None:
    result = host.in_nested_guest("n-l1", "n-a", "Get-CimInstance", ClassName="Win32_ComputerSystem")
    assert not result.errors
    (cs,) = result.output
    assert prop(cs, "PSComputerName") == "n-a" and cs.types[0].startswith("Deserialized.")
    assert prop(cs, "HypervisorPresent") is False  # one nesting level: no hypervisor in an L2
    # the inner hop fails with Invoke-Command's own texts, as the outer one does
    missing = host.in_nested_guest("n-l1", "nope", "Get-Service").only_error()
    assert error_facts(missing) == ("The input VMName parameter does not resolve to any virtual machine.",
                                    f"InvalidVMNameNotSingle,{INVOKE}", CATEGORY["InvalidArgument"])
    bad = host.in_nested_guest("n-l1", "n-a", "Get-Service", inner_password="wrong").only_error()
    assert error_facts(bad)[:2] == ("The credential is invalid.", f"CreateRemoteRunspaceForVMFailed,{INVOKE}")
    # an error inside the L2 comes back as the L2's error record
    absent = host.in_nested_guest("n-l1", "n-a", "Get-Service", Name="vmms").only_error()
    assert "vmms" in str(absent)


def test_static_addresses_and_pings_between_l2s_on_the_same_switch(host: WireHost) -> None:
    for vm, address in (("n-a", "192.168.250.11"), ("n-b", "192.168.250.12"), ("n-c", "192.168.250.13")):
        out = host.in_nested_guest("n-l1", vm, "New-NetIPAddress", InterfaceAlias="Ethernet", IPAddress=address,
                                   PrefixLength=24)
        assert not out.errors
        assert [prop(o, "PolicyStore") for o in out.output] == ["ActiveStore", "PersistentStore"]
    again = host.in_nested_guest("n-l1", "n-a", "New-NetIPAddress", InterfaceAlias="Ethernet",
                                 IPAddress="192.168.250.11", PrefixLength=24).only_error()
    assert error_facts(again)[:2] == ("The object already exists.", "Windows System Error 5010,New-NetIPAddress")
    replies = host.in_nested_guest("n-l1", "n-a", "Test-Connection", ComputerName="192.168.250.12", Count=2)
    assert [prop(r, "StatusCode") for r in replies.output] == [0, 0] and not replies.errors
    assert prop(replies.output[0], "Address") == "192.168.250.12"
    # n-c is on no switch: nobody reaches it, and it reaches nobody
    lost = host.in_nested_guest("n-l1", "n-a", "Test-Connection", ComputerName="192.168.250.13", Count=1)
    assert lost.output == []
    assert error_facts(lost.only_error()) == (
        "Testing connection to computer '192.168.250.13' failed: Error due to lack of resources",
        "TestConnectionException,Microsoft.PowerShell.Commands.TestConnectionCommand",
        CATEGORY["ResourceUnavailable"])
    quiet = host.in_nested_guest("n-l1", "n-c", "Test-Connection", ComputerName="192.168.250.11", Quiet=True)
    assert [o for o in quiet.output] == [False] and not quiet.errors
    # the L1 reads the static address through the L2's integration services
    (adapter,) = host.in_guest("n-l1", "Get-VMNetworkAdapter", VMName="n-b").output
    assert "192.168.250.12" in prop(adapter, "IPAddresses")


def test_checkpoint_and_saved_state_of_a_running_nested_l1_on_a_ga_build(host: WireHost) -> None:
    (snap,) = host.ok(cmd("Checkpoint-VM", Name="n-l1", SnapshotName="cp", Passthru=True))
    assert prop(snap, "Name") == "cp"
    host.ok(cmd("Remove-VMSnapshot", VMName="n-l1", Name="cp"))


def test_remove_vm_switch_inside_the_l1_disconnects_its_l2s(host: WireHost) -> None:
    assert not host.in_guest("n-l1", "New-VMSwitch", Name="doomed", SwitchType="Internal").errors
    assert not host.in_guest("n-l1", "Connect-VMNetworkAdapter", VMName="n-c", SwitchName="doomed").errors
    assert not host.in_guest("n-l1", "Remove-VMSwitch", Name="doomed", Force=True).errors
    (adapter,) = host.in_guest("n-l1", "Get-VMNetworkAdapter", VMName="n-c").output
    assert prop(adapter, "SwitchName") is None
    gone = host.in_guest("n-l1", "Remove-VMSwitch", Name="doomed", Force=True).only_error()
    assert str(gone) == 'Hyper-V was unable to find a virtual switch with name "doomed".'


def test_saving_a_nested_l1_keeps_its_l2s_and_resumes(host: WireHost) -> None:
    # last in the module: the L1 goes down and up again
    host.ok(cmd("Stop-VM", Name="n-l1", Save=True))
    (vm,) = host.ok(cmd("Get-VM", Name="n-l1"))
    assert str(prop(vm, "State")) == "Saved"
    host.ok(cmd("Start-VM", Name="n-l1"))
    vms = {prop(v, "Name") for v in host.in_guest("n-l1", "Get-VM").output}
    assert vms == {"n-a", "n-b", "n-c"}


@pytest.mark.parametrize("scenario, refused", [("checkpoint-regression", True), ("preview-10565", True),
                                               ("default", False)])
def test_checkpoint_of_a_running_l1_with_nesting_by_build(scenario: str, refused: bool) -> None:
    loaded = load_scenario(scenario)
    # the preview scenario's VBS would refuse exposing the extensions before any checkpoint
    loaded = dataclasses.replace(loaded, host=dataclasses.replace(loaded.host, vbs="off"))
    with WireHost.start(loaded) as host:
        host.make_l1("cp-l1", start=False)
        host.ok(cmd("Checkpoint-VM", Name="cp-l1", SnapshotName="off"))  # Off: always allowed
        host.ok(cmd("Start-VM", Name="cp-l1"))
        result = host.run(cmd("Checkpoint-VM", Name="cp-l1", SnapshotName="running"))
        if not refused:
            assert not result.errors
            return
        message, fqid, category = error_facts(result.only_error())
        assert message.startswith("Checkpoint operation failed.") and "could not initiate a checkpoint operation" \
            in message
        assert (fqid, category) == (f"OperationFailed,{HV}CheckpointVM", CATEGORY["InvalidOperation"])
        names = [prop(s, "Name") for s in host.ok(cmd("Get-VMSnapshot", VMName="cp-l1"))]
        assert names == ["off"]
