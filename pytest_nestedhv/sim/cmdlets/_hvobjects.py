"""Hyper-V objects (VirtualMachine, VMProcessor, ...) built from the model, shaped as cmdlets.json says."""
from __future__ import annotations

import datetime as dt
import uuid

from ..model import lifecycle, rules
from ..model.state import VM, DiskFile, HardDisk, NetAdapter, Node, Snapshot, Switch, interface_alias
from ..powershell.values import EnumValue, Version
from ._reference import HvOut, enum, hyperv_object, plain_object

# Integration service names and their well-known ids; Guest Service Interface is off by default.
INTEGRATION_SERVICES: list[tuple[str, str, bool]] = [
    ("Guest Service Interface", "6C09BB55-D683-4DA0-8931-C9BF705F6480", False),
    ("Heartbeat", "84EAAE65-2F2E-45F5-9BB5-0E857DC8EB47", True),
    ("Key-Value Pair Exchange", "2A34B1C2-FD73-4043-8A5B-DD2159BC743F", True),
    ("Shutdown", "9F8233AC-BE49-4C79-8EE3-E7E1985B2077", True),
    ("Time Synchronization", "2497F4DE-E9FA-4204-80E4-4B75C46419C0", True),
    ("VSS", "5CED1297-4598-4915-A5FC-AD21BB4D02A4", True),
]


def _vm_id(vm: VM) -> str:
    return str(vm.id).upper()


def _device_common(node: Node, vm: VM) -> dict[str, object]:
    return {"ComputerName": node.os.computer_name, "IsDeleted": False, "VMId": vm.id, "VMName": vm.name,
            "VMSnapshotId": uuid.UUID(int=0), "VMSnapshotName": ""}


def ip_addresses(node: Node, vm: VM, adapter: NetAdapter, routed: bool) -> list[str]:
    """A booted guest has its static addresses (New-NetIPAddress) and, on an adapter with a route
    out (``rules.has_route``), one from DHCP."""
    if vm.state != "Running" or vm.guest is None or not vm.guest.booted:
        return []
    alias = interface_alias(vm.adapters.index(adapter)) if adapter in vm.adapters else ""
    static = [a.address for a in vm.guest.addresses if a.interface_alias.lower() == alias.lower()]
    if not routed:
        return static
    host_octet = 10 + vm.id.int % 200
    subnet = 16 + node.depth
    return [*static, f"172.{subnet}.0.{host_octet}", f"fe80::215:5dff:fe{vm.id.hex[:2]}:{vm.id.hex[2:6]}"]


def adapter_out(node: Node, vm: VM, adapter: NetAdapter, routed: bool = False) -> HvOut:
    """``routed``: the adapter reaches a network with DHCP (nested in a VM object, depth 1 hides it)."""
    switch = next((s for s in node.switches if adapter.switch_name and s.name.lower() == adapter.switch_name.lower()),
                  None)
    running = vm.state == "Running"
    on_off = lambda flag: enum("OnOffState", "On" if flag else "Off")  # noqa: E731
    return hyperv_object("VMNetworkAdapter", {
        **_device_common(node, vm),
        "Name": adapter.name, "Id": adapter.id, "SwitchName": adapter.switch_name,
        "AdapterId": adapter.id.split("\\")[-1],
        "Status": [enum("VMNetworkAdapterOperationalStatus", "Ok")] if running else [],
        "StatusDescription": ["OK"] if running else [],
        "SwitchId": switch.id if switch else None,
        "MacAddressSpoofing": on_off(adapter.mac_spoofing), "DhcpGuard": on_off(False), "RouterGuard": on_off(False),
        "IeeePriorityTag": on_off(False), "AllowTeaming": on_off(False), "FixSpeed10G": on_off(False),
        "DeviceNaming": on_off(False), "VMQWeight": 100, "MacAddress": adapter.mac_address,
        "DynamicMacAddressEnabled": adapter.dynamic_mac, "IsSynthetic": True, "IsLegacy": False,
        "IPAddresses": ip_addresses(node, vm, adapter, routed), "Connected": switch is not None,
        "DynamicIPAddressLimit": 0, "StormLimit": 0, "VrssEnabled": True, "VrssEnabledRequested": True,
        "VmmqEnabled": False, "VrssMaxQueuePairs": 16, "VrssMaxQueuePairsRequested": 16,
        "VrssMinQueuePairs": 1, "VrssMinQueuePairsRequested": 1, "IPsecOffloadMaxSA": 512,
        "VrssVmbusChannelAffinityPolicy": enum("VrssVmbusChannelAffinityPolicyType", "Strong"),
        "VrssVmbusChannelAffinityPolicyRequested": enum("VrssVmbusChannelAffinityPolicyType", "Strong"),
        "PoolName": "", "MandatoryFeatureId": [], "MandatoryFeatureName": [],
    }, model=(vm, adapter), to_string=f"VMNetworkAdapter (Name = '{adapter.name}', VMName = '{vm.name}') "
                                      f"[VMId = '{vm.id}']")


def hard_disk_out(node: Node, vm: VM, disk: HardDisk) -> HvOut:
    ctype = "IDE" if vm.generation == 1 else disk.controller_type
    return hyperv_object("HardDiskDrive", {
        **_device_common(node, vm),
        "Name": f"Hard Drive on {ctype} controller number {disk.controller_number} at location "
                f"{disk.controller_location}",
        "Id": f"Microsoft:{_vm_id(vm)}\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\{disk.controller_number}\\"
              f"{disk.controller_location}\\D",
        "Path": disk.path, "PoolName": "Primordial", "ControllerType": enum("ControllerType", ctype),
        "ControllerNumber": disk.controller_number, "ControllerLocation": disk.controller_location,
        "SupportPersistentReservations": False, "MaximumIOPS": 0, "MinimumIOPS": 0,
    }, model=(vm, disk))


def integration_services(node: Node, vm: VM) -> list[HvOut]:
    result = []
    for name, ic_id, enabled in INTEGRATION_SERVICES:
        if vm.state != "Running" or not enabled:
            status: list[EnumValue] = []
            primary, desc = None, ""
        elif vm.guest is not None and vm.guest.booted:
            status, primary, desc = [enum("VMIntegrationComponentOperationalStatus", "Ok")], "Ok", "OK"
        else:
            status = [enum("VMIntegrationComponentOperationalStatus", "NoContact")]
            primary, desc = "NoContact", "No Contact"
        result.append(hyperv_object("VMIntegrationComponent", {
            **_device_common(node, vm), "Name": name, "Id": f"Microsoft:{_vm_id(vm)}\\{ic_id}", "Enabled": enabled,
            "OperationalStatus": status,
            "PrimaryOperationalStatus": enum("VMIntegrationComponentOperationalStatus", primary) if primary else None,
            "PrimaryStatusDescription": desc, "StatusDescription": [desc] if desc else [],
        }, model=(vm, name)))
    return result


def vm_out(node: Node, vm: VM, now: dt.datetime) -> HvOut:
    running = vm.state == "Running"
    parent = next((s for s in vm.snapshots if s.id == vm.parent_snapshot_id), None)
    heartbeat = lifecycle.heartbeat(vm)
    booted = vm.guest is not None and vm.guest.booted and running
    return hyperv_object("VirtualMachine", {
        "ComputerName": node.os.computer_name, "IsDeleted": False, "CreationTime": vm.created, "Id": vm.id,
        "Name": vm.name, "NetworkAdapters": [adapter_out(node, vm, a) for a in vm.adapters],
        "HardDrives": [hard_disk_out(node, vm, d) for d in vm.disks], "DVDDrives": [],
        "FibreChannelHostBusAdapters": [], "VMIntegrationService": integration_services(node, vm),
        "DynamicMemoryEnabled": vm.dynamic_memory, "MemoryMaximum": vm.memory_maximum,
        "MemoryMinimum": vm.memory_minimum, "MemoryStartup": vm.memory_startup,
        "ProcessorCount": vm.processor_count, "Generation": vm.generation, "IsClustered": False, "Notes": vm.notes,
        "ParentSnapshotId": vm.parent_snapshot_id, "ParentSnapshotName": parent.name if parent else None,
        "Path": vm.path, "SizeOfSystemFiles": 40960, "State": enum("VMState", vm.state), "Version": vm.version,
        "LowMemoryMappedIoSpace": 134217728, "HighMemoryMappedIoSpace": 536870912,
        "LockOnDisconnect": enum("OnOffState", "Off"), "ConfigurationLocation": vm.path,
        "SmartPagingFileInUse": False, "SmartPagingFilePath": vm.path, "SnapshotFileLocation": vm.path,
        "AutomaticStartAction": enum("StartAction", vm.automatic_start_action), "AutomaticStartDelay": 0,
        "AutomaticStopAction": enum("StopAction", "Save"),
        "AutomaticCriticalErrorAction": enum("CriticalErrorAction", "Pause"),
        "AutomaticCriticalErrorActionTimeout": 30, "AutomaticCheckpointsEnabled": vm.automatic_checkpoints,
        "CPUUsage": 2 if running else 0, "MemoryAssigned": vm.memory_startup if running else 0,
        "MemoryDemand": vm.memory_startup // 2 if booted else 0, "MemoryStatus": "",
        "NumaAligned": None, "NumaNodesCount": 1, "NumaSocketCount": 1,
        "Heartbeat": enum("VMHeartbeatStatus", heartbeat) if heartbeat else None,
        "IntegrationServicesState": "Up to date" if booted else "",
        "IntegrationServicesVersion": None, "Uptime": lifecycle.uptime(vm, now),
        "OperationalStatus": [enum("VMOperationalStatus", "Ok")],
        "PrimaryOperationalStatus": enum("VMOperationalStatus", "Ok"), "SecondaryOperationalStatus": None,
        "StatusDescriptions": ["Operating normally"], "PrimaryStatusDescription": "Operating normally",
        "SecondaryStatusDescription": None, "Status": "Operating normally",
        "ReplicationHealth": enum("VMReplicationHealthState", "NotApplicable"),
        "ReplicationMode": enum("VMReplicationMode", "None"), "ReplicationState": enum("VMReplicationState", "Disabled"),
        "ResourceMeteringEnabled": False, "CheckpointType": enum("CheckpointType", vm.checkpoint_type),
        "EnhancedSessionTransportType": enum("EnhancedSessionTransportType", "VMBus"), "Groups": [],
        "VirtualMachineType": enum("VirtualMachineType", "RealizedVirtualMachine"),
        "VirtualMachineSubType": enum("VirtualMachineSubType", f"Generation{vm.generation}"),
    }, model=vm, to_string=f"VirtualMachine (Name = '{vm.name}') [Id = '{vm.id}']")


def processor_out(node: Node, vm: VM) -> HvOut:
    return hyperv_object("VMProcessor", {
        **_device_common(node, vm), "Name": "Processor",
        "Id": f"Microsoft:{_vm_id(vm)}\\B637F346-6A0E-4DEC-AF52-BD70CB80A21D\\0", "ResourcePoolName": "Primordial",
        "Count": vm.processor_count, "CompatibilityForMigrationEnabled": False,
        "CompatibilityForOlderOperatingSystemsEnabled": False, "HwThreadCountPerCore": 0,
        "ExposeVirtualizationExtensions": vm.expose_virtualization_extensions, "Maximum": 100, "Reserve": 0,
        "RelativeWeight": 100, "MaximumCountPerNumaNode": node.os.logical_processors, "MaximumCountPerNumaSocket": 1,
        "EnableHostResourceProtection": False,
        "OperationalStatus": [enum("VMProcessorOperationalStatus", "Ok")] if vm.state == "Running" else [],
        "StatusDescription": ["OK"] if vm.state == "Running" else [],
    }, model=vm)


def memory_out(node: Node, vm: VM) -> HvOut:
    return hyperv_object("VMMemory", {
        **_device_common(node, vm), "Name": "Memory",
        "Id": f"Microsoft:{_vm_id(vm)}\\4764334D-E001-4176-82EE-5594EC9B530E", "ResourcePoolName": "Primordial",
        "Buffer": 20, "DynamicMemoryEnabled": vm.dynamic_memory, "Maximum": vm.memory_maximum,
        "MaximumPerNumaNode": node.os.memory_bytes // (1024**2), "Minimum": vm.memory_minimum, "Priority": 50,
        "Startup": vm.memory_startup,
    }, model=vm)


def snapshot_out(node: Node, vm: VM, snap: Snapshot) -> HvOut:
    parent = next((s for s in vm.snapshots if s.id == snap.parent_id), None)
    return hyperv_object("VMSnapshot", {
        "ComputerName": node.os.computer_name, "IsDeleted": False, "CreationTime": snap.created, "Id": snap.id,
        "Name": snap.name, "NetworkAdapters": [], "HardDrives": [], "DVDDrives": [],
        "FibreChannelHostBusAdapters": [], "VMIntegrationService": [],
        "DynamicMemoryEnabled": snap.dynamic_memory, "MemoryMaximum": vm.memory_maximum,
        "MemoryMinimum": vm.memory_minimum, "MemoryStartup": snap.memory_startup,
        "ProcessorCount": snap.processor_count, "Generation": vm.generation, "IsClustered": False,
        "Notes": snap.notes, "ParentSnapshotId": snap.parent_id, "ParentSnapshotName": parent.name if parent else None,
        "Path": vm.path, "SizeOfSystemFiles": 40960, "State": enum("VMState", snap.state), "Version": vm.version,
        "LowMemoryMappedIoSpace": 134217728, "HighMemoryMappedIoSpace": 536870912,
        "LockOnDisconnect": enum("OnOffState", "Off"), "SnapshotType": enum("SnapshotType", "Standard"),
        "IsAutomaticCheckpoint": False, "VMId": vm.id, "VMName": vm.name,
    }, model=(vm, snap), to_string=f"VMSnapshot (Name = '{snap.name}', VMName = '{vm.name}') [Id = '{snap.id}']")


def switch_out(node: Node, switch: Switch) -> HvOut:
    external = switch.switch_type == "External"
    return hyperv_object("VMSwitch", {
        "ComputerName": node.os.computer_name, "IsDeleted": False, "Name": switch.name, "Id": switch.id,
        "Notes": switch.notes, "Extensions": [], "BandwidthReservationMode": enum("VMSwitchBandwidthMode", "Absolute"),
        "SwitchType": enum("VMSwitchType", switch.switch_type), "AllowManagementOS": switch.allow_management_os,
        "NetAdapterInterfaceDescription": "Microsoft Hyper-V Network Adapter" if external else None,
        "NetAdapterInterfaceDescriptions": ["Microsoft Hyper-V Network Adapter"] if external else [],
        "NetAdapterInterfaceGuid": [], "IovSupportReasons": [],
    }, model=switch, to_string=f"VMSwitch (Name = '{switch.name}') [Id = '{switch.id}']")


def host_out(node: Node) -> HvOut:
    fqdn = node.os.computer_name if node.depth else f"{node.os.computer_name}.lab.local"
    return hyperv_object("VMHost", {
        "ComputerName": node.os.computer_name, "IsDeleted": False,
        "LogicalProcessorCount": node.os.logical_processors,
        "ResourceMeteringSaveInterval": dt.timedelta(hours=1), "HostNumaStatus": [], "NumaStatus": [],
        "IovSupport": False, "IovSupportReasons": ["To use SR-IOV on this system, the system BIOS must be updated "
                                                   "to allow Windows to control PCI Express. Contact your system "
                                                   "manufacturer for an update."],
        "InternalNetworkAdapters": [], "ExternalNetworkAdapters": [],
        "SupportedVmVersions": rules.supported_versions(node.os.build), "SecureBootTemplates": [],
        "EnableEnhancedSessionMode": node.os.installation_type == "Client",
        "FibreChannelWwnn": "C003FF0000FFFF00", "FibreChannelWwpnMaximum": "C003FFBE8A03FFFF",
        "FibreChannelWwpnMinimum": "C003FFBE8A030000", "MacAddressMaximum": "00155D01FFFF",
        "MacAddressMinimum": "00155D010000", "NumaSpanningEnabled": True, "VirtualHardDiskPath": node.vhd_path,
        "VirtualMachinePath": node.vm_path, "FullyQualifiedDomainName": fqdn, "MemoryCapacity": node.os.memory_bytes,
        "Name": node.os.computer_name, "MaximumStorageMigrations": 2, "MaximumVirtualMachineMigrations": 2,
        "UseAnyNetworkForMigration": False,
        "VirtualMachineMigrationAuthenticationType": enum("MigrationAuthenticationType", "CredSSP"),
        "VirtualMachineMigrationEnabled": False,
        "VirtualMachineMigrationPerformanceOption": enum("VMMigrationPerformance", "TCPIP"),
    }, model=node)


def supported_version_out(node: Node, version: str, is_default: bool) -> HvOut:
    major, minor = rules.version_tuple(version)
    return hyperv_object("VMHostSupportedVersion", {
        "ComputerName": node.os.computer_name, "IsDeleted": False, "Name": rules.VERSION_NAMES[version],
        "Version": Version(major, minor), "IsDefault": is_default,
    }, model=version)


def vhd_out(node: Node, disk: DiskFile, vhd_type: str) -> HvOut:
    # assumption: Microsoft.Vhd.PowerShell enums carry the WMI numbers (VHDX 3; Fixed 2, Dynamic 3, Differencing 4).
    fmt = "VHDX" if disk.path.lower().endswith(".vhdx") else "VHD"
    return plain_object(["Microsoft.Vhd.PowerShell.VirtualHardDisk"], {
        "ComputerName": node.os.computer_name, "Path": disk.path,
        "VhdFormat": EnumValue("Microsoft.Vhd.PowerShell.VhdFormat", fmt, 3 if fmt == "VHDX" else 2),
        "VhdType": EnumValue("Microsoft.Vhd.PowerShell.VhdType", vhd_type,
                             {"Fixed": 2, "Dynamic": 3, "Differencing": 4}[vhd_type]),
        "FileSize": 4194304, "Size": disk.size_bytes, "MinimumSize": None, "LogicalSectorSize": 512,
        "PhysicalSectorSize": 4096, "BlockSize": 2097152 if vhd_type == "Differencing" else 33554432,
        "ParentPath": disk.parent, "DiskIdentifier": str(uuid.uuid5(uuid.NAMESPACE_URL, disk.path.lower())).upper(),
        "FragmentationPercentage": 0, "Alignment": 1, "Attached": False, "DiskNumber": None,
        "IsPMEMCompatible": False, "AddressAbstractionType": None, "Number": None,
    }, model=disk)
