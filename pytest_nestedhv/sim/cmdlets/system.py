"""Windows facts (docs/requirements.md#factswhere): CIM classes, registry keys, services, restart, bcdedit."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any, Callable

from ..model import lifecycle, outage, rules
from ..model.state import Node, wildcard_match
from ..powershell.cmdlet import Call, Context, Impl
from ..powershell.errors import PSError
from ..powershell.values import EnumValue
from ._common import changed, now, select_named
from ._reference import plain_object

CIM = "Microsoft.Management.Infrastructure.CimInstance"
CURRENT_VERSION_KEY = "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
DEVICE_GUARD_KEY = "HKLM:\\System\\CurrentControlSet\\Control\\DeviceGuard"
SELF_HOST_KEY = "HKLM:\\SOFTWARE\\Microsoft\\WindowsSelfHost\\Applicability"
REGISTRY_KEYS = (CURRENT_VERSION_KEY, DEVICE_GUARD_KEY, SELF_HOST_KEY)
DEVICE_GUARD_NS = "root/microsoft/windows/deviceguard"


def cim_instance(namespace: str, chain: list[str], props: dict[str, Any], to_string: str | None = None,
                 model: Any = None) -> Any:
    """A CimInstance: namespaced class chain, then the short chain, as Windows' type names go."""
    names = [f"{CIM}#{namespace}/{c}" for c in chain] + [f"{CIM}#{c}" for c in chain] + [CIM]
    return plain_object(names, {**props, "PSComputerName": None}, model=model, to_string=to_string or chain[0])


def cim_not_found(cim_class: str, prop: str, value: Any, cmdlet: str) -> PSError:
    """A CDXML cmdlet's query for a plain value that matched no instance (Get-NetAdapter, Get-NetNat)."""
    return PSError(f"No {cim_class} objects found with property '{prop}' equal to '{value}'.  Verify the value of "
                   "the property and retry.", category="ObjectNotFound",
                   fqid=f"CmdletizationQuery_NotFound_{prop},{cmdlet}", target=value,
                   exception_type="Microsoft.PowerShell.Cmdletization.Cim.CimJobException")


def hypervisor_present(node: Node) -> bool:
    return node.hypervisor_running or node.vbs == "running"


def virtualization_offered(call: Call, node: Node) -> bool:
    """Whether this node's CPU shows VT-x/AMD-V to it: always on the host, to a guest only when offered."""
    located = call.ctx.world.locate(node)
    if located is None:
        return True
    parent, vm = located
    return rules.offers_virtualization(parent, vm, ignore_expose=call.ctx.world.faults.ignore_expose_extensions)


def _os_caption(node: Node) -> str:
    return f"Microsoft {node.os.product_name}"


def _sku(node: Node) -> int:
    return {"ServerDatacenter": 8, "ServerStandard": 7, "Professional": 48, "Enterprise": 4}.get(node.os.edition, 48)


def cim_objects(call: Call, class_name: str) -> list[Any] | None:
    node, world = call.ctx.node, call.ctx.world
    guest = node.depth > 0
    lower = class_name.lower()
    if lower == "win32_computersystem":
        return [cim_instance("root/cimv2", ["Win32_ComputerSystem", "CIM_UnitaryComputerSystem", "CIM_ComputerSystem",
                                    "CIM_System", "CIM_LogicalElement", "CIM_ManagedSystemElement"], {
            "Name": node.os.computer_name, "Caption": node.os.computer_name, "DNSHostName": node.os.computer_name,
            "Domain": "WORKGROUP", "PartOfDomain": False, "Workgroup": "WORKGROUP",
            "Manufacturer": "Microsoft Corporation" if guest else "Dell Inc.",
            "Model": "Virtual Machine" if guest else "PowerEdge R750",
            "HypervisorPresent": hypervisor_present(node), "NumberOfProcessors": 1,
            "NumberOfLogicalProcessors": node.os.logical_processors, "TotalPhysicalMemory": node.os.memory_bytes,
            "SystemType": "x64-based PC", "PrimaryOwnerName": "Windows User", "Status": "OK", "UserName": None,
        })]
    if lower == "win32_processor":
        offered = virtualization_offered(call, node) and not hypervisor_present(node)
        amd = node.os.cpu_vendor == "AuthenticAMD"
        return [cim_instance("root/cimv2", ["Win32_Processor", "CIM_Processor", "CIM_LogicalDevice", "CIM_LogicalElement",
                                    "CIM_ManagedSystemElement"], {
            "DeviceID": "CPU0", "Name": node.os.cpu_model, "Manufacturer": node.os.cpu_vendor,
            "Caption": "AMD64 Family 25 Model 1 Stepping 1" if amd else "Intel64 Family 6 Model 106 Stepping 6",
            "Architecture": 9, "NumberOfCores": max(1, node.os.logical_processors // (1 if guest else 2)),
            "NumberOfLogicalProcessors": node.os.logical_processors, "MaxClockSpeed": 2000, "Status": "OK",
            # docs/requirements.md#hostcpu: with a hypervisor running these read False
            "VirtualizationFirmwareEnabled": offered, "SecondLevelAddressTranslationExtensions": offered,
            "VMMonitorModeExtensions": offered,
        })]
    if lower == "win32_operatingsystem":
        last_boot = node.last_boot or world.now()
        return [cim_instance("root/cimv2", ["Win32_OperatingSystem", "CIM_OperatingSystem", "CIM_LogicalElement",
                                    "CIM_ManagedSystemElement"], {
            "Caption": _os_caption(node), "Version": f"10.0.{node.os.build}", "BuildNumber": str(node.os.build),
            "CSName": node.os.computer_name, "LastBootUpTime": last_boot, "LocalDateTime": world.now(),
            "InstallDate": last_boot - dt.timedelta(days=30), "OSArchitecture": "64-bit",
            "ProductType": 3 if node.os.installation_type == "Server" else 1, "OperatingSystemSKU": _sku(node),
            "TotalVisibleMemorySize": node.os.memory_bytes // 1024, "FreePhysicalMemory": node.os.memory_bytes // 2048,
            "Manufacturer": "Microsoft Corporation", "SystemDirectory": "C:\\Windows\\system32",
            "WindowsDirectory": "C:\\Windows", "Status": "OK",
            "Name": f"{_os_caption(node)}|C:\\Windows|\\Device\\Harddisk0\\Partition3",
        })]
    return None


def device_guard(node: Node) -> Any:
    status = {"off": 0, "enabled": 1, "running": 2}[node.vbs]
    running = [1, 2] if node.vbs == "running" else []
    return cim_instance("root/Microsoft/Windows/DeviceGuard", ["Win32_DeviceGuard"], {
        "AvailableSecurityProperties": [1, 2, 3, 5], "CodeIntegrityPolicyEnforcementStatus": 0,
        "InstanceIdentifier": "4ff40742-2649-41b8-bdd1-e80fad1cce80", "RequiredSecurityProperties": [],
        "SecurityServicesConfigured": [1, 2] if node.vbs != "off" else [], "SecurityServicesRunning": running,
        "UsermodeCodeIntegrityPolicyEnforcementStatus": 0, "Version": "1.00",
        "VirtualizationBasedSecurityStatus": status, "VirtualMachineIsolation": False,
    })


def get_cim_instance(call: Call) -> Iterator[Any]:
    class_name = call.params.get("ClassName")
    if class_name is None:
        raise PSError("Only -ClassName queries are emulated.", category="NotImplemented",
                      fqid="NotImplemented,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
                      terminating=True)  # assumption: the emulator's own limit, not a Windows error
    namespace = (call.params.get("Namespace") or "root/cimv2").replace("\\", "/").strip("/").lower()
    with call.ctx.world.lock:
        now(call)
        if namespace == DEVICE_GUARD_NS:
            objs = [device_guard(call.ctx.node)] if class_name.lower() == "win32_deviceguard" else None
        elif namespace == "root/cimv2":
            objs = cim_objects(call, class_name)
        else:
            raise _cim_error("Invalid namespace ", "HRESULT 0x8004100e", namespace)
    if objs is None:
        raise _cim_error("Invalid class ", "HRESULT 0x80041010", class_name)
    yield from objs


def _cim_error(message: str, code: str, target: str) -> PSError:
    return PSError(message, category="MetadataError",
                   fqid=f"{code},Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand", target=target,
                   exception_type="Microsoft.Management.Infrastructure.CimException", reason="CimException")


def registry_values(node: Node, key: str) -> dict[str, Any] | None:
    norm = key.replace("/", "\\").rstrip("\\").lower()
    if norm == CURRENT_VERSION_KEY.lower():
        b, branch = node.os.build, node.os.branch
        return {
            "SystemRoot": "C:\\Windows", "BuildBranch": branch, "BuildGUID": "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "BuildLab": f"{b}.{branch}.240331-1435", "BuildLabEx": f"{b}.1.amd64fre.{branch}.240331-1435",
            "CompositionEditionID": node.os.edition, "CurrentBuild": str(b), "CurrentBuildNumber": str(b),
            "CurrentMajorVersionNumber": 10, "CurrentMinorVersionNumber": 0, "CurrentType": "Multiprocessor Free",
            "CurrentVersion": "6.3", "DisplayVersion": rules.display_version(b), "EditionID": node.os.edition,
            "InstallationType": node.os.installation_type, "InstallDate": 1700000000, "ProductName": node.os.product_name,
            "ReleaseId": "2009" if b >= 19042 else rules.display_version(b), "UBR": node.os.ubr,
            "RegisteredOwner": "Windows User", "RegisteredOrganization": "",
        }
    if norm == SELF_HOST_KEY.lower() and node.os.flight:
        # an enrolled Insider host (the values the Settings app writes); without enrollment the key is absent
        return {"BranchName": node.os.flight, "ContentType": "Mainline", "Ring": "External",
                "EnablePreviewBuilds": 2, "IsBuildFlightingEnabled": 1, "IsConfigSettingsFlightingEnabled": 1,
                "IsConfigExpFlightingEnabled": 0, "UseSettingsExperience": 1}
    if norm == DEVICE_GUARD_KEY.lower():
        return {"EnableVirtualizationBasedSecurity": 0 if node.vbs == "off" else 1,
                "RequirePlatformSecurityFeatures": 1}
    return None


def get_item_property(call: Call) -> Iterator[Any]:
    node = call.ctx.node
    outs = []
    for path in call.params.get("Path") or call.params.get("LiteralPath") or []:
        values = registry_values(node, path)
        if values is None:
            call.write_error(PSError(f"Cannot find path '{path}' because it does not exist.", category="ObjectNotFound",
                                     fqid="PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand",
                                     target=path, exception_type="System.Management.Automation.ItemNotFoundException",
                                     reason="ItemNotFoundException"))
            continue
        names = call.params.get("Name")
        if names:
            picked = {k: v for k, v in values.items() if any(wildcard_match(n, k) for n in names)}
            for n in names:
                if not any(wildcard_match(n, k) for k in values):
                    call.write_error(PSError(f"Property {n} does not exist at path "
                                             f"{path.replace('HKLM:', 'HKEY_LOCAL_MACHINE')}.",
                                             category="InvalidArgument",
                                             fqid="System.Management.Automation.PSArgumentException,"
                                                  "Microsoft.PowerShell.Commands.GetItemPropertyCommand",
                                             target=n, exception_type="System.Management.Automation.PSArgumentException"))
            values = picked
            if not values:
                continue
        native = path.replace("HKLM:", "HKEY_LOCAL_MACHINE").rstrip("\\")
        parent, _, child = native.rpartition("\\")
        provider = "Microsoft.PowerShell.Core\\Registry"
        outs.append(plain_object(["System.Management.Automation.PSCustomObject"], {
            **values,
            "PSPath": f"{provider}::{native}", "PSParentPath": f"{provider}::{parent}", "PSChildName": child,
            "PSDrive": plain_object(["System.Management.Automation.PSDriveInfo"], {"Name": "HKLM", "Root": "HKEY_LOCAL_MACHINE"}, to_string="HKLM"),
            "PSProvider": plain_object(["System.Management.Automation.ProviderInfo"], {"Name": "Registry"}, to_string=provider),
        }))
    yield from outs


SERVICE_TYPES = ["System.ServiceProcess.ServiceController", "System.ComponentModel.Component",
                 "System.MarshalByRefObject"]


def services(node: Node) -> list[tuple[str, str, bool]]:
    """(name, display name, running) of the services the model knows on this node."""
    hyperv = node.has_feature("Hyper-V")
    result = [("WinRM", "Windows Remote Management (WS-Management)", True)]
    if hyperv or node.has_pending_feature("Hyper-V"):
        result += [("vmms", "Hyper-V Virtual Machine Management", hyperv),
                   ("vmcompute", "Hyper-V Host Compute Service", hyperv)]
    if node.depth > 0:
        result += [("vmicheartbeat", "Hyper-V Heartbeat Service", True),
                   ("vmicvmsession", "Hyper-V PowerShell Direct Service", True)]
    return sorted(result)


def service_out(name: str, display: str, running: bool) -> Any:
    return plain_object(SERVICE_TYPES, {
        "Name": name, "RequiredServices": [], "CanPauseAndContinue": False, "CanShutdown": running,
        "CanStop": running, "DisplayName": display, "DependentServices": [], "MachineName": ".", "ServiceName": name,
        "ServicesDependedOn": [], "ServiceHandle": None,
        "Status": EnumValue("System.ServiceProcess.ServiceControllerStatus", "Running" if running else "Stopped",
                            4 if running else 1),
        "ServiceType": EnumValue("System.ServiceProcess.ServiceType", "Win32OwnProcess", 16),
        "StartType": EnumValue("System.ServiceProcess.ServiceStartMode", "Automatic", 2),
        "Site": None, "Container": None,
    }, to_string="System.ServiceProcess.ServiceController")


def get_service(call: Call) -> Iterator[Any]:
    with call.ctx.world.lock:
        now(call)
        known = services(call.ctx.node)
    names = call.params.get("Name")
    if names:
        known = select_named(call, names, known, lambda s: s[0], lambda name: PSError(
            f"Cannot find any service with service name '{name}'.", category="ObjectNotFound",
            fqid="NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand", target=name,
            exception_type="Microsoft.PowerShell.Commands.ServiceCommandException", reason="ServiceCommandException"))
    yield from [service_out(*s) for s in known]


def restart_node(call: Call, node: Node) -> None:
    """Reboot ``node``: a guest goes down and boots for boot_seconds; the host answers, then goes
    down as a planned restart (its running VMs saved, as AutomaticStopAction Save does) and
    answers again after [host] reboot_seconds (model/outage.py)."""
    world = call.ctx.world
    with world.lock:
        t = now(call)
        located = world.locate(node)
        if located is not None:
            parent, vm = located
            lifecycle.reboot_guest(world, parent, vm, t)
        else:
            outage.schedule_restart(world, t)
    changed(call)


def restart_computer(call: Call) -> Iterator[Any]:
    names = call.params.get("ComputerName") or ["."]
    own = {".", "localhost", call.ctx.node.os.computer_name.lower()}
    if any(str(n).lower() not in own for n in (names if isinstance(names, list) else [names])):
        # another computer would be restarted over WMI: nothing here models one
        raise PSError("The emulated host does not implement 'Restart-Computer -ComputerName' for another computer.",
                      "NotImplemented", "NotImplemented,Microsoft.PowerShell.Commands.RestartComputerCommand",
                      target="Restart-Computer", terminating=True)
    restart_node(call, call.ctx.node)
    return iter(())


def bcdedit(args: list[str], ctx: Context) -> Iterable[str]:
    """``bcdedit /enum``: the boot entries, with the hypervisor settings the node has."""
    if args and args[0].lower() not in ("/enum", "-enum"):
        return ["The parameter is incorrect.", 'Run "bcdedit /?" for command line assistance.']
    node = ctx.node
    lines = [
        "", "Windows Boot Manager", "--------------------",
        "identifier              {bootmgr}", "device                  partition=\\Device\\HarddiskVolume1",
        "path                    \\EFI\\Microsoft\\Boot\\bootmgfw.efi", "description             Windows Boot Manager",
        "locale                  en-US", "inherit                 {globalsettings}", "default                 {current}",
        "resumeobject            {6f2a3d5e-1c2b-11ef-9f3a-00155d010203}", "displayorder            {current}",
        "toolsdisplayorder       {memdiag}", "timeout                 30",
        "", "Windows Boot Loader", "-------------------",
        "identifier              {current}", "device                  partition=C:",
        "path                    \\WINDOWS\\system32\\winload.efi",
        f"description             {'Windows Server' if node.os.installation_type == 'Server' else 'Windows 10'}",
        "locale                  en-US", "inherit                 {bootloadersettings}",
        "recoverysequence        {6f2a3d60-1c2b-11ef-9f3a-00155d010203}", "displaymessageoverride  Recovery",
        "recoveryenabled         Yes", "isolatedcontext         Yes", "allowedinmemorysettings 0x15000075",
        "osdevice                partition=C:", "systemroot              \\WINDOWS",
        "resumeobject            {6f2a3d5e-1c2b-11ef-9f3a-00155d010203}", "nx                      OptOut",
        "bootmenupolicy          Standard",
    ]
    if node.has_feature("Hyper-V") or node.has_pending_feature("Hyper-V"):
        lines.append(f"hypervisorlaunchtype    {'Auto' if node.hypervisor_launch else 'Off'}")
    if not node.bcd_offer_nested:
        lines.append("hypervisorloadoptions   OFFERNESTEDVIRT=FALSE")
    return lines


CMDLETS: dict[str, Impl] = {
    "Get-CimInstance": get_cim_instance,
    "Get-ItemProperty": get_item_property,
    "Get-Service": get_service,
    "Restart-Computer": restart_computer,
}

APPLICATIONS: dict[str, Callable[[list[str], Context], Iterable[str]]] = {"bcdedit": bcdedit}
