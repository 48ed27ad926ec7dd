"""Every cmdlet of the emulated host through a real pypsrp client: what a client of a real Windows
host would get back (type names, property values and wire types, enums, streams).

One healthy Server 2025 host (scenario ``default``) per module; every test makes its own VMs.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pypsrp.complex_objects import GenericComplexObject

from wire_helpers import GB, WireHost, cmd, enum_of, i64, prop, wire_tag

HV = "Microsoft.HyperV.PowerShell."
CIM = "Microsoft.Management.Infrastructure.CimInstance"


@pytest.fixture(scope="module")
def host() -> Iterator[WireHost]:
    with WireHost.start("default") as started:
        yield started


# --- VMs ------------------------------------------------------------------------------------------
def test_new_vm_returns_a_virtual_machine_object_with_windows_wire_types(host: WireHost) -> None:
    (vm,) = host.ok(cmd("New-VM", Name="shape-vm", Generation=2, MemoryStartupBytes=i64(6 * GB)))
    assert isinstance(vm, GenericComplexObject)
    assert vm.types[:2] == [f"{HV}VirtualMachine", f"{HV}VirtualMachineBase"]
    assert vm.types[-1] == "System.Object"
    assert prop(vm, "Name") == "shape-vm"
    assert enum_of(vm, "State") == "Off"
    assert wire_tag(vm, "MemoryStartup") == ("I64", str(6 * GB))
    assert wire_tag(vm, "Generation") == ("I32", "2")
    assert wire_tag(vm, "Version") == ("S", "12.0")  # the host's default configuration version, as a string
    assert isinstance(prop(vm, "Id"), uuid.UUID) and wire_tag(vm, "Id")[0] == "G"
    assert prop(vm, "VMId") == prop(vm, "Id")  # the module's alias property
    assert wire_tag(vm, "CreationTime")[0] == "DT"
    assert wire_tag(vm, "Uptime") == ("TS", "PT0S")
    assert prop(vm, "Heartbeat") is None  # null while Off
    assert prop(vm, "ParentCheckpointId") is None
    assert prop(vm, "DynamicMemoryEnabled") is False
    assert vm.to_string == f"VirtualMachine (Name = 'shape-vm') [Id = '{prop(vm, 'Id')}']"


def test_get_vm_by_name_and_wildcard(host: WireHost) -> None:
    host.ok(cmd("New-VM", Name="gv-a"))
    host.ok(cmd("New-VM", Name="gv-b"))
    (one,) = host.ok(cmd("Get-VM", Name="gv-a"))
    assert prop(one, "Name") == "gv-a"
    names = sorted(prop(v, "Name") for v in host.ok(cmd("Get-VM", Name="gv-*")))
    assert names == ["gv-a", "gv-b"]
    (by_id,) = host.ok(cmd("Get-VM", Id=str(prop(one, "Id"))))
    assert prop(by_id, "Name") == "gv-a"


def test_set_vm_changes_memory_processors_and_notes(host: WireHost) -> None:
    host.ok(cmd("New-VM", Name="set-vm"))
    (vm,) = host.ok(cmd("Set-VM", Name="set-vm", ProcessorCount=3, StaticMemory=True,
                        MemoryStartupBytes=i64(5 * GB), Notes="run=abc", Passthru=True))
    assert (prop(vm, "ProcessorCount"), prop(vm, "MemoryStartup"), prop(vm, "Notes")) == (3, 5 * GB, "run=abc")
    assert wire_tag(vm, "ProcessorCount")[0] == "I64"  # VirtualMachine.ProcessorCount is a long
    (again,) = host.ok(cmd("Get-VM", Name="set-vm"))
    assert prop(again, "Notes") == "run=abc"


def test_start_wait_stop_remove_lifecycle(host: WireHost) -> None:
    host.make_l1("life-vm")
    result = host.run(cmd("Start-VM", Name="life-vm", Passthru=True))
    assert not result.errors
    (started,) = result.output
    assert enum_of(started, "State") == "Running"
    assert enum_of(started, "Heartbeat") == "NoContact"  # the guest is still booting

    (waited,) = host.ok(cmd("Wait-VM", Name="life-vm", For="Heartbeat", Timeout=600, Passthru=True))
    assert enum_of(waited, "Heartbeat") == "OkApplicationsHealthy"
    tag, text = wire_tag(waited, "Uptime")
    assert tag == "TS" and text != "PT0S"

    (stopped,) = host.ok(cmd("Stop-VM", Name="life-vm", Force=True, Passthru=True))
    assert enum_of(stopped, "State") == "Off"
    (removed,) = host.ok(cmd("Remove-VM", Name="life-vm", Force=True, Passthru=True))
    assert prop(removed, "Name") == "life-vm"
    assert host.run(cmd("Get-VM", Name="life-vm")).errors  # gone


def test_wait_vm_ipaddress_and_the_vm_object_from_the_pipeline(host: WireHost) -> None:
    host.make_l1("ip-vm", start=True, switch="External")
    host.ok(cmd("Get-VM", Name="ip-vm"), cmd("Wait-VM", For="IPAddress", Timeout=600))
    (adapter,) = host.ok(cmd("Get-VMNetworkAdapter", VMName="ip-vm"))
    assert prop(adapter, "IPAddresses")  # an address once the guest answers


def test_stop_vm_save_then_remove_saved_state(host: WireHost) -> None:
    host.make_l1("saved-vm", start=True)
    (saved,) = host.ok(cmd("Stop-VM", Name="saved-vm", Save=True, Passthru=True))
    assert enum_of(saved, "State") == "Saved"
    assert host.ok(cmd("Remove-VMSavedState", VMName="saved-vm")) == []
    (vm,) = host.ok(cmd("Get-VM", Name="saved-vm"))
    assert enum_of(vm, "State") == "Off"


# --- devices --------------------------------------------------------------------------------------
def test_get_and_set_vm_processor(host: WireHost) -> None:
    host.ok(cmd("New-VM", Name="cpu-vm"))
    (before,) = host.ok(cmd("Get-VMProcessor", VMName="cpu-vm"))
    assert before.types[0] == f"{HV}VMProcessor"
    assert prop(before, "ExposeVirtualizationExtensions") is False
    (after,) = host.ok(cmd("Set-VMProcessor", VMName="cpu-vm", ExposeVirtualizationExtensions=True, Count=4,
                           Passthru=True))
    assert (prop(after, "ExposeVirtualizationExtensions"), prop(after, "Count")) == (True, 4)
    assert wire_tag(after, "Count")[0] == "I64"
    assert prop(after, "VMName") == "cpu-vm"


def test_get_and_set_vm_memory(host: WireHost) -> None:
    host.ok(cmd("New-VM", Name="mem-vm", MemoryStartupBytes=i64(2 * GB)))
    (before,) = host.ok(cmd("Get-VMMemory", VMName="mem-vm"))
    assert before.types[0] == f"{HV}VMMemory"
    assert wire_tag(before, "Startup") == ("I64", str(2 * GB))
    (after,) = host.ok(cmd("Set-VMMemory", VMName="mem-vm", DynamicMemoryEnabled=True, StartupBytes=i64(4 * GB),
                           Passthru=True))
    assert (prop(after, "DynamicMemoryEnabled"), prop(after, "Startup")) == (True, 4 * GB)


def test_get_and_set_vm_network_adapter(host: WireHost) -> None:
    host.ok(cmd("New-VM", Name="nic-vm", SwitchName="External"))
    (before,) = host.ok(cmd("Get-VMNetworkAdapter", VMName="nic-vm"))
    assert before.types[0] == f"{HV}VMNetworkAdapter"
    assert enum_of(before, "MacAddressSpoofing") == "Off"
    assert prop(before, "SwitchName") == "External"
    (after,) = host.ok(cmd("Set-VMNetworkAdapter", VMName="nic-vm", MacAddressSpoofing="On", Passthru=True))
    assert enum_of(after, "MacAddressSpoofing") == "On"


def test_get_vm_integration_service(host: WireHost) -> None:
    host.ok(cmd("New-VM", Name="ic-vm"))
    services = host.ok(cmd("Get-VMIntegrationService", VMName="ic-vm"))
    names = {prop(s, "Name") for s in services}
    assert "Heartbeat" in names and "Guest Service Interface" in names
    assert all(s.types[0] == f"{HV}VMIntegrationComponent" for s in services)
    (heartbeat,) = host.ok(cmd("Get-VMIntegrationService", VMName="ic-vm", Name="Heartbeat"))
    assert prop(heartbeat, "Enabled") is True


def test_checkpoint_vm_and_get_vm_snapshot(host: WireHost) -> None:
    host.ok(cmd("New-VM", Name="snap-vm"))
    (snap,) = host.ok(cmd("Checkpoint-VM", Name="snap-vm", SnapshotName="before", Passthru=True))
    assert snap.types[0] == f"{HV}VMSnapshot"
    assert prop(snap, "Name") == "before"
    (listed,) = host.ok(cmd("Get-VMSnapshot", VMName="snap-vm"))
    assert prop(listed, "Id") == prop(snap, "Id")
    (vm,) = host.ok(cmd("Get-VM", Name="snap-vm"))
    assert prop(vm, "ParentCheckpointId") == prop(snap, "Id")
    assert prop(vm, "ParentCheckpointName") == "before"


# --- host, switches, disks, files -----------------------------------------------------------------
def test_get_vm_host(host: WireHost) -> None:
    (vmhost,) = host.ok(cmd("Get-VMHost"))
    assert vmhost.types[0] == f"{HV}VMHost"
    assert prop(vmhost, "Name") == "HV-HOST01"
    assert prop(vmhost, "LogicalProcessorCount") == 16
    assert wire_tag(vmhost, "MemoryCapacity") == ("I64", str(64 * GB))


def test_get_vm_host_supported_version(host: WireHost) -> None:
    versions = host.ok(cmd("Get-VMHostSupportedVersion"))
    assert all(v.types[0] == f"{HV}VMHostSupportedVersion" for v in versions)
    texts = [wire_tag(v, "Version") for v in versions]
    assert all(tag == "Version" for tag, _ in texts)  # a System.Version, not a string
    assert [t for _, t in texts][0] == "8.0" and [t for _, t in texts][-1] == "12.0"  # WS2025: 8.0 .. 12.0
    (default,) = host.ok(cmd("Get-VMHostSupportedVersion", Default=True))
    assert (prop(default, "Version"), prop(default, "IsDefault")) == ("12.0", True)


def test_get_and_new_vm_switch(host: WireHost) -> None:
    (external,) = host.ok(cmd("Get-VMSwitch", Name="External"))
    assert external.types[0] == f"{HV}VMSwitch"
    assert enum_of(external, "SwitchType") == "External"
    (internal,) = host.ok(cmd("New-VMSwitch", Name="lab-int", SwitchType="Internal"))
    assert enum_of(internal, "SwitchType") == "Internal"
    assert isinstance(prop(internal, "Id"), uuid.UUID)
    assert {prop(s, "Name") for s in host.ok(cmd("Get-VMSwitch"))} >= {"External", "lab-int"}


def test_new_vhd_differencing_then_test_path_and_remove_item(host: WireHost) -> None:
    child = "C:\\VMs\\vhd-child.vhdx"
    (vhd,) = host.ok(cmd("New-VHD", Path=child, ParentPath="C:\\Images\\ws2025.vhdx", Differencing=True))
    assert vhd.types[0] == "Microsoft.Vhd.PowerShell.VirtualHardDisk"
    assert prop(vhd, "ParentPath") == "C:\\Images\\ws2025.vhdx"
    assert enum_of(vhd, "VhdType") == "Differencing"
    assert enum_of(vhd, "VhdFormat") == "VHDX"
    assert wire_tag(vhd, "Size")[0] == "U64"
    assert host.ok(cmd("Test-Path", Path=child)) == [True]
    assert host.ok(cmd("Test-Path", Path="C:\\Images\\ws2025.vhdx", PathType="Leaf")) == [True]
    assert host.ok(cmd("Remove-Item", Path=child)) == []
    assert host.ok(cmd("Test-Path", Path=child)) == [False]


# --- Windows facts --------------------------------------------------------------------------------
@pytest.mark.parametrize("class_name, namespace", [
    ("Win32_ComputerSystem", None), ("Win32_Processor", None), ("Win32_OperatingSystem", None),
    ("Win32_DeviceGuard", "root\\Microsoft\\Windows\\DeviceGuard"),
])
def test_get_cim_instance_type_names(host: WireHost, class_name: str, namespace: str | None) -> None:
    params = {"ClassName": class_name, **({"Namespace": namespace} if namespace else {})}
    (obj,) = host.ok(cmd("Get-CimInstance", **params))
    ns = (namespace or "root\\cimv2").replace("\\", "/")
    assert obj.types[0] == f"{CIM}#{ns}/{class_name}"
    assert f"{CIM}#{class_name}" in obj.types and CIM in obj.types


def test_cim_facts_of_a_healthy_intel_host(host: WireHost) -> None:
    (cs,) = host.ok(cmd("Get-CimInstance", ClassName="Win32_ComputerSystem"))
    assert prop(cs, "HypervisorPresent") is True
    assert wire_tag(cs, "TotalPhysicalMemory") == ("U64", str(64 * GB))  # CIM uint64
    (cpu,) = host.ok(cmd("Get-CimInstance", ClassName="Win32_Processor"))
    assert prop(cpu, "Manufacturer") == "GenuineIntel"
    # docs/requirements.md#hostcpu: with a hypervisor running the virtualization features read False
    assert prop(cpu, "VirtualizationFirmwareEnabled") is False
    (os_,) = host.ok(cmd("Get-CimInstance", ClassName="Win32_OperatingSystem"))
    assert prop(os_, "BuildNumber") == "26100"
    assert wire_tag(os_, "LastBootUpTime")[0] == "DT"
    (dg,) = host.ok(cmd("Get-CimInstance", ClassName="Win32_DeviceGuard",
                        Namespace="root\\Microsoft\\Windows\\DeviceGuard"))
    assert wire_tag(dg, "VirtualizationBasedSecurityStatus") == ("U32", "0")  # CIM uint32
    assert prop(dg, "SecurityServicesRunning") == []


def test_get_item_property_current_version_and_device_guard(host: WireHost) -> None:
    (cv,) = host.ok(cmd("Get-ItemProperty", Path="HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"))
    assert (prop(cv, "CurrentBuild"), prop(cv, "UBR")) == ("26100", 1742)
    assert wire_tag(cv, "UBR")[0] == "I32"  # a REG_DWORD
    assert prop(cv, "InstallationType") == "Server"
    assert prop(cv, "PSChildName") == "CurrentVersion"
    (dg,) = host.ok(cmd("Get-ItemProperty", Path="HKLM:\\System\\CurrentControlSet\\Control\\DeviceGuard"))
    assert prop(dg, "EnableVirtualizationBasedSecurity") == 0


def test_get_windows_feature_and_optional_feature_on_the_host(host: WireHost) -> None:
    (feature,) = host.ok(cmd("Get-WindowsFeature", Name="Hyper-V"))
    assert feature.types[0] == "Microsoft.Windows.ServerManager.Commands.Feature"
    assert prop(feature, "Installed") is True
    assert enum_of(feature, "InstallState") == "Installed"
    (optional,) = host.ok(cmd("Get-WindowsOptionalFeature", Online=True, FeatureName="Microsoft-Hyper-V"))
    assert optional.types[0] == "Microsoft.Dism.Commands.AdvancedFeatureObject"
    assert enum_of(optional, "State") == "Enabled"


def test_get_service_vmms(host: WireHost) -> None:
    (vmms,) = host.ok(cmd("Get-Service", Name="vmms"))
    assert vmms.types[0] == "System.ServiceProcess.ServiceController"
    assert enum_of(vmms, "Status") == "Running"
    missing = host.run(cmd("Get-Service", Name="no-such-svc"))
    assert not missing.had_errors
    assert missing.only_error().fq_error == "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"


def test_get_win_event_has_the_hypervisor_started_event(host: WireHost) -> None:
    events = host.ok(cmd("Get-WinEvent", FilterHashtable={"LogName": "System",
                                                          "ProviderName": "Microsoft-Windows-Hyper-V-Hypervisor"}))
    assert events and events[0].types[0] == "System.Diagnostics.Eventing.Reader.EventLogRecord"
    assert any(prop(e, "Id") == 1 and prop(e, "Message") == "Hypervisor successfully started." for e in events)
    assert wire_tag(events[0], "TimeCreated")[0] == "DT"


def test_get_win_event_records_a_vm_start(host: WireHost) -> None:
    host.make_l1("event-vm", start=True)
    events = host.ok(cmd("Get-WinEvent", LogName="Microsoft-Windows-Hyper-V-Worker-Admin", MaxEvents=50))
    assert any("event-vm" in prop(e, "Message") for e in events)


def test_bcdedit_enum_lines(host: WireHost) -> None:
    lines = host.ok(cmd("bcdedit", "/enum"))
    assert all(isinstance(line, str) for line in lines)
    assert "Windows Boot Loader" in lines
    assert any(line.startswith("hypervisorlaunchtype") and line.endswith("Auto") for line in lines)
    assert not any("OFFERNESTEDVIRT" in line for line in lines)


# --- core pipeline cmdlets ------------------------------------------------------------------------
def test_select_object_property_and_expand_property(host: WireHost) -> None:
    host.ok(cmd("New-VM", Name="sel-vm", MemoryStartupBytes=i64(3 * GB)))
    (picked,) = host.ok(cmd("Get-VM", Name="sel-vm"), cmd("Select-Object", Property=["Name", "MemoryStartup"]))
    assert picked.types[0] == f"Selected.{HV}VirtualMachine"
    assert {**picked.adapted_properties, **picked.extended_properties} == {"Name": "sel-vm", "MemoryStartup": 3 * GB}
    assert host.ok(cmd("Get-VM", Name="sel-vm"), cmd("Select-Object", ExpandProperty="Name")) == ["sel-vm"]
    assert host.ok(cmd("Get-VMHostSupportedVersion"), cmd("Select-Object", First=1),
                   cmd("Select-Object", ExpandProperty="Name")) != []


def test_where_object_comparison_on_an_enum_property(host: WireHost) -> None:
    host.ok(cmd("New-VM", Name="where-off"))
    names = host.ok(cmd("Get-VM"), cmd("Where-Object", Property="State", EQ=True, Value="Off"),
                    cmd("Select-Object", ExpandProperty="Name"))
    assert "where-off" in names
    running = host.ok(cmd("Get-VM", Name="where-off"), cmd("Where-Object", Property="State", EQ=True, Value="Running"))
    assert running == []


def test_several_statements_in_one_invocation(host: WireHost) -> None:
    result = host.run_statements([[cmd("Get-VMHost")], [cmd("Get-CimInstance", ClassName="Win32_ComputerSystem")]])
    assert [o.types[0] for o in result.output] == [f"{HV}VMHost", f"{CIM}#root/cimv2/Win32_ComputerSystem"]
