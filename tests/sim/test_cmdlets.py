"""Cmdlet implementations called directly: object shapes against cmdlets.json, errors, pipeline objects."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_nestedhv.sim.cmdlets import all_applications, all_cmdlets
from pytest_nestedhv.sim.cmdlets._reference import HV
from pytest_nestedhv.sim.powershell.cmdlet import Context, Streams
from pytest_nestedhv.sim.powershell.errors import PSError
from pytest_nestedhv.sim.powershell.values import EnumValue, PSOut

from _model_harness import Shell, make_l1, world

REF = json.loads((Path(__file__).parents[2] / "pytest_nestedhv/sim/reference/cmdlets.json").read_text())


def check_shape(obj: PSOut) -> None:
    """Every property of the reference type is there, nothing else, and every enum value is real."""
    kind = obj.type_names[0].removeprefix(HV)
    spec = REF["output_types"][kind]
    assert obj.type_names == [HV + c for c in spec["class_chain"]] + ["System.Object"]
    assert list(obj.properties) == list(spec["properties"])
    assert obj.alias_properties == (spec.get("ps_alias_properties") or {})
    for value in obj.properties.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, EnumValue) and item.type_name.startswith(HV):
                assert REF["enums"][item.type_name]["values"][item.name] == item.value
            if isinstance(item, PSOut) and item.type_names[0].startswith(HV):
                check_shape(item)


@pytest.fixture
def sh() -> Shell:
    shell = Shell(world("legacy-vms"))
    make_l1(shell)
    return shell


def test_every_cmdlet_exists_in_the_reference() -> None:
    assert set(all_cmdlets()) <= set(REF["cmdlets"])


@pytest.mark.parametrize("command, params", [
    ("Get-VM", {}), ("Get-VMProcessor", {"VMName": ["*"]}), ("Get-VMMemory", {"VMName": ["*"]}),
    ("Get-VMNetworkAdapter", {"All": True}), ("Get-VMHost", {}), ("Get-VMHostSupportedVersion", {}),
    ("Get-VMSwitch", {}), ("Get-VMSnapshot", {"VMName": ["*"]}), ("Get-VMIntegrationService", {"VMName": ["*"]}),
    ("Get-VMHardDiskDrive", {"VMName": ["*"]}),
])
def test_hyperv_objects_match_the_reference(sh: Shell, command: str, params: dict[str, Any]) -> None:
    out = sh.ok(command, **params)
    assert out
    for obj in out:
        check_shape(obj)


def test_get_vm_facts_of_legacy_vms(sh: Shell) -> None:
    vms = {v.get("Name"): v for v in sh.ok("Get-VM")}
    legacy = vms["legacy"]
    assert (legacy.get("Version"), legacy.get("Generation"), legacy.get("DynamicMemoryEnabled")) == ("7.0", 1, True)
    assert legacy.get("ParentCheckpointId") is not None and legacy.get("MemoryStartup") == 2 * 1024**3
    assert vms["legacy-saved"].get("State") == EnumValue(HV + "VMState", "Saved", 6)
    assert vms["legacy-running"].get("Heartbeat").value == 6
    assert vms["l1"].get("ParentCheckpointId") is None
    spoof = sh.ok("Get-VMNetworkAdapter", VMName=["legacy"])[0].get("MacAddressSpoofing")
    assert spoof == EnumValue(HV + "OnOffState", "Off", 1)


def test_get_vm_not_found_is_non_terminating_and_wildcards_are_quiet(sh: Shell) -> None:
    result = sh.run("Get-VM", Name=["ghost", "LEG*"])
    assert [v.get("Name") for v in result.output] == ["legacy", "legacy-saved", "legacy-running"]
    (error,) = result.errors
    assert error.message == 'Hyper-V was unable to find a virtual machine with name "ghost".'
    assert (error.category, error.fqid, error.terminating, error.target) == (
        "InvalidArgument", "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM", False, "ghost")
    assert not sh.run("Get-VM", Name=["zz*"]).errors


def test_vm_objects_flow_back_as_pipeline_input(sh: Shell) -> None:
    vm = sh.ok("Get-VM", Name=["l1"])[0]
    sh.ok("Start-VM", VM=[vm])
    assert sh.ok("Get-VM", Name=["l1"])[0].get("State").name == "Running"
    copy = PSOut(list(vm.type_names), dict(vm.properties))  # as Select-Object would pass it on
    sh.ok("Stop-VM", VM=[copy], TurnOff=True)
    assert sh.ok("Get-VM", Name=["l1"])[0].get("State").name == "Off"
    sh.ok("Start-VM", input=[sh.ok("Get-VM", Name=["l1"])[0]])
    proc = sh.ok("Get-VMProcessor", VMName=["legacy"])[0]
    sh.ok("Set-VMProcessor", VMProcessor=[proc], Count=3)
    assert sh.ok("Get-VM", Name=["legacy"])[0].get("ProcessorCount") == 3


def test_set_vm_notes_and_memory(sh: Shell) -> None:
    out = sh.ok("Set-VM", Name=["l1"], Notes="run-42", MemoryStartupBytes=4 * 1024**3, Passthru=True)[0]
    assert (out.get("Notes"), out.get("MemoryStartup")) == ("run-42", 4 * 1024**3)
    sh.ok("Set-VMMemory", VMName=["l1"], DynamicMemoryEnabled=True)
    assert sh.ok("Get-VMMemory", VMName=["l1"])[0].get("DynamicMemoryEnabled") is True


def test_snapshots(sh: Shell) -> None:
    sh.ok("Checkpoint-VM", Name=["l1"], SnapshotName="before")
    snap = sh.ok("Get-VMSnapshot", VMName=["l1"])[0]
    check_shape(snap)
    assert sh.ok("Get-VM", Name=["l1"])[0].get("ParentCheckpointId") == snap.get("Id")
    sh.ok("Remove-VMSnapshot", VMName=["l1"], Name=["before"])
    assert sh.ok("Get-VM", Name=["l1"])[0].get("ParentCheckpointId") is None


def test_supported_versions_follow_the_build() -> None:
    versions = Shell(world("legacy-vms")).ok("Get-VMHostSupportedVersion")  # WS2019
    assert str(versions[-1].get("Version")) == "9.0" and versions[-1].get("IsDefault") is True
    assert str(Shell(world()).ok("Get-VMHostSupportedVersion", Default=True)[0].get("Version")) == "12.0"


def test_new_vhd_differencing_needs_an_existing_parent(sh: Shell) -> None:
    result = sh.run("New-VHD", Path=["C:\\VMs\\x.vhdx"], ParentPath="C:\\Images\\missing.vhdx", Differencing=True)
    assert result.errors and result.errors[0].message.startswith("Failed to create the virtual hard disk.")
    out = sh.ok("New-VHD", Path=["C:\\VMs\\y.vhdx"], ParentPath="C:\\Images\\ws2019.vhdx", Differencing=True)[0]
    assert out.get("VhdType").name == "Differencing" and out.get("ParentPath") == "C:\\Images\\ws2019.vhdx"
    assert sh.ok("Test-Path", Path=["C:\\VMs\\y.vhdx", "C:\\VMs\\nope.vhdx"]) == [True, False]
    sh.ok("Remove-Item", Path=["C:\\VMs\\y.vhdx"])
    assert sh.ok("Test-Path", Path=["C:\\VMs\\y.vhdx"]) == [False]
    assert sh.run("Remove-Item", Path=["C:\\VMs\\y.vhdx"]).errors[0].fqid.startswith("PathNotFound,")


def test_vm_without_os_boots_to_firmware(sh: Shell) -> None:
    sh.ok("New-VM", Name="blank", Generation=2, NewVHDPath="C:\\VMs\\blank.vhdx", NewVHDSizeBytes=10 * 1024**3)
    sh.ok("Start-VM", Name=["blank"])
    vm = sh.ok("Get-VM", Name=["blank"])[0]
    assert vm.get("State").name == "Running" and vm.get("Heartbeat").name == "NoContact"
    assert sh.run("Wait-VM", Name=["blank"], For="Heartbeat", Timeout=30).errors[0].fqid.startswith("OperationFailed,")


def test_registry_cim_and_services_show_the_host_facts() -> None:
    sh = Shell(world("amd-win10"))
    key = sh.ok("Get-ItemProperty", Path=["HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"])[0]
    assert (key.get("CurrentBuild"), key.get("UBR"), key.get("InstallationType"), key.get("EditionID")) == (
        "19045", 5131, "Client", "Professional")
    assert key.get("PSChildName") == "CurrentVersion" and key.get("PSPath").endswith("Windows NT\\CurrentVersion")
    assert sh.ok("Get-CimInstance", ClassName="Win32_Processor")[0].get("Manufacturer") == "AuthenticAMD"
    dg = sh.ok("Get-ItemProperty", Path=["HKLM:\\System\\CurrentControlSet\\Control\\DeviceGuard"])[0]
    assert dg.get("EnableVirtualizationBasedSecurity") == 0
    assert sh.ok("Get-Service", Name=["vmms"])[0].get("Status") == EnumValue(
        "System.ServiceProcess.ServiceControllerStatus", "Running", 4)
    with pytest.raises(PSError, match="Get-WindowsFeature' is not recognized"):
        sh.run("Get-WindowsFeature", Name=["Hyper-V"])  # client SKU: no ServerManager module
    state = sh.ok("Get-WindowsOptionalFeature", Online=True, FeatureName="Microsoft-Hyper-V")[0].get("State")
    assert (state.name, state.value) == ("Enabled", 2)
    cim = sh.ok("Get-CimInstance", ClassName="Win32_OperatingSystem")[0]
    assert cim.type_names[0] == "Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_OperatingSystem"
    with pytest.raises(PSError, match="Invalid class"):
        sh.run("Get-CimInstance", ClassName="Win32_Nope")


def test_get_windows_feature_on_a_server() -> None:
    sh = Shell(world())
    feature = sh.ok("Get-WindowsFeature", Name=["Hyper-V"])[0]
    assert feature.get("Installed") is True and feature.get("InstallState").name == "Installed"


def test_bcdedit_shows_offernestedvirt() -> None:
    bcdedit = all_applications()["bcdedit"]
    for name, expected in (("bcd-nested-off", True), ("default", False)):
        w = world(name)
        ctx = Context(w, w.host, Streams(lambda e: None, lambda m: None, lambda m: None), __import__("threading").Event())
        lines = list(bcdedit(["/enum"], ctx))
        assert "hypervisorlaunchtype    Auto" in lines
        assert ("hypervisorloadoptions   OFFERNESTEDVIRT=FALSE" in lines) is expected


def test_get_winevent_filters_and_no_events_error() -> None:
    sh = Shell(world())
    events = sh.ok("Get-WinEvent", FilterHashtable=[{"LogName": "System", "ProviderName":
                                                      "Microsoft-Windows-Hyper-V-Hypervisor", "Id": 1}], MaxEvents=5)
    assert [e.get("Id") for e in events] == [1] and events[0].get("LevelDisplayName") == "Information"
    result = sh.run("Get-WinEvent", FilterHashtable=[{"LogName": "System", "Id": 41}])
    assert [e.message for e in result.errors] == ["No events were found that match the specified selection criteria."]
    assert result.errors[0].fqid == "NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand"


def test_switch_and_nat(sh: Shell) -> None:
    sh.ok("New-VMSwitch", Name="NatSwitch", SwitchType="Internal")
    assert [s.get("SwitchType").name for s in sh.ok("Get-VMSwitch", Name="NatSwitch")] == ["Internal"]
    sh.ok("New-NetNat", Name="LabNat", InternalIPInterfaceAddressPrefix="192.168.100.0/24")
    assert sh.ok("Get-NetNat", Name=["LabNat"])[0].get("InternalIPInterfaceAddressPrefix") == "192.168.100.0/24"
    assert sh.run("Get-NetNat", Name=["Other"]).errors
    sh.ok("Connect-VMNetworkAdapter", VMName=["l1"], SwitchName="NatSwitch")
    assert sh.ok("Get-VMNetworkAdapter", VMName=["l1"])[0].get("SwitchName") == "NatSwitch"


def test_remove_vm_switch_by_object_and_by_overlapping_names(sh: Shell) -> None:
    for name in ("int1", "int2", "int3"):
        sh.ok("New-VMSwitch", Name=name, SwitchType="Internal")
    sh.ok("Connect-VMNetworkAdapter", VMName=["l1"], SwitchName="int1")
    switch = sh.ok("Get-VMSwitch", Name="int1")
    assert len(switch) == 1
    sh.ok("Remove-VMSwitch", VMSwitch=switch, Force=True)  # Get-VMSwitch int1 | Remove-VMSwitch, once bound
    assert sh.ok("Get-VMNetworkAdapter", VMName=["l1"])[0].get("SwitchName") is None
    sh.ok("Remove-VMSwitch", Name=["int*", "int2"], Force=True)  # one switch named twice is removed once
    assert [s.get("Name") for s in sh.ok("Get-VMSwitch") if s.get("Name").startswith("int")] == []


def test_remove_vm(sh: Shell) -> None:
    stale = sh.ok("Get-VM", Name=["l1"])[0]
    sh.ok("Remove-VM", Name=["l1"], Force=True)
    assert sh.run("Get-VM", Name=["l1"]).errors
    # a VM object that outlived its VM names it in the error, by -VM and from the pipeline
    for result in (sh.run("Start-VM", VM=[stale]), sh.run("Start-VM", input=[stale])):
        assert [e.message for e in result.errors] == ['Hyper-V was unable to find a virtual machine with name "l1".']
    assert sh.ok("Test-Path", Path=["C:\\VMs\\l1.vhdx"]) == [True]  # disks stay, as on Windows


def test_new_net_ip_address_family_prefix_and_store(sh: Shell) -> None:
    out = sh.ok("New-NetIPAddress", InterfaceAlias="Ethernet", IPAddress="fd00::5")
    assert [(o.get("AddressFamily"), o.get("PrefixLength"), o.get("PolicyStore"), o.get("Store")) for o in out] == [
        (23, 64, "ActiveStore", 1), (23, 64, "PersistentStore", 0)]
    out = sh.ok("New-NetIPAddress", InterfaceAlias="Ethernet", IPAddress="192.168.7.2", PolicyStore="ActiveStore")
    assert [(o.get("AddressFamily"), o.get("PrefixLength"), o.get("PolicyStore")) for o in out] == [
        (2, 24, "ActiveStore")]
