"""A tiny in-memory stand-in for a Session against a Hyper-V host, for the lab's unit tests.

It records every call and knows just enough Hyper-V to walk the lab chain; ``fail`` maps a
cmdlet name to the RemoteError it raises (once per call)."""
from __future__ import annotations

import dataclasses
from typing import Any

from pytest_nestedhv.remote.commands import Cmd
from pytest_nestedhv.remote.errors import RemoteError
from pytest_nestedhv.remote.objects import RemoteObject

WAIT_TIMEOUT = "This command stopped operation because the specified condition is not satisfied in the specified time-out."


@dataclasses.dataclass
class FakeVM:
    name: str
    notes: str = ""
    state: str = "Off"
    disk: str | None = None
    expose: bool = False
    dynamic: bool = True
    spoofing: str = "Off"
    boots: int = 0
    created: str = "2026-11-26T09:00:00.1234567+00:00"  # as pypsrp hands over a DateTime: CLIXML text


class FakeSession:
    def __init__(self, *, base_images: tuple[str, ...] = ("C:\\Images\\base.vhdx",), guest_server: bool = True) -> None:
        self.vms: dict[str, FakeVM] = {}
        self.host_now = "2026-11-26T21:00:00.0000000+00:00"  # the host's clock, 12 h after FakeVM.created
        self.files: set[str] = set(base_images)
        self.calls: list[tuple[str, str, Cmd]] = []  # (where, name, cmd)
        self.fail: dict[str, RemoteError] = {}
        self.guest_server = guest_server
        self.guest_vms: dict[str, dict[str, str]] = {}  # L1 name -> {L2 name: state}
        self.hyperv_in_guest: set[str] = set()
        self.heartbeat_never: set[str] = set()
        self.turns_off: set[str] = set()  # VMs that turn off while awaited

    # --- Session API
    def run(self, *cmds: Cmd, timeout: float | None = None, check: bool = True) -> list[Any]:
        return self.run_statements([tuple(cmds)], timeout=timeout, check=check)

    def run_statements(self, pipelines: Any, *, timeout: float | None = None, check: bool = True) -> list[Any]:
        out: list[Any] = []
        for pipeline in pipelines:
            cmd = pipeline[-1] if isinstance(pipeline, tuple) else pipeline
            try:
                out.extend(self._host(cmd))
            except RemoteError:
                if check:
                    raise
        return out

    def in_guest(self, vm_name: str, cred: Any, cmd: Cmd, timeout: float | None = None) -> list[Any]:
        self.calls.append((f"guest:{vm_name}", cmd.name, cmd))
        self._maybe_fail(cmd)
        vm = self.vms[vm_name]
        if vm.state != "Running":
            raise RemoteError("An error has occurred which Windows PowerShell cannot handle. A remote session might have ended.")
        nested = self.guest_vms.setdefault(vm_name, {})
        p = dict((k.lower(), v) for k, v in cmd.params)
        hv = vm_name in self.hyperv_in_guest and vm.boots > 1
        if cmd.name == "Get-CimInstance":
            cls = p["classname"]
            if cls == "Win32_OperatingSystem":
                return [_obj("Win32_OperatingSystem", BuildNumber="26100", Caption="Windows Server",
                             ProductType=3 if self.guest_server else 1, LastBootUpTime=f"boot-{vm.boots}")]
            if cls == "Win32_ComputerSystem":
                return [_obj("Win32_ComputerSystem", HypervisorPresent=hv)]
            return [_obj("Win32_Processor", Manufacturer="GenuineIntel", VMMonitorModeExtensions=vm.expose and not hv,
                         SecondLevelAddressTranslationExtensions=vm.expose and not hv)]
        if cmd.name in ("Install-WindowsFeature", "Enable-WindowsOptionalFeature"):
            if not vm.expose:
                raise RemoteError("Hyper-V cannot be installed: The processor does not have required virtualization capabilities.",
                                  fqid="Alteration_PrerequisiteCheck_Failed")
            self.hyperv_in_guest.add(vm_name)
            return [_obj("FeatureOperationResult", Success=True, RestartNeeded="Yes")]
        if cmd.name == "Restart-Computer":
            vm.boots += 1
            return []
        if cmd.name == "New-VM":
            nested[p["name"]] = "Off"
            return [_obj("VirtualMachine", Name=p["name"], State="Off")]
        if cmd.name == "Set-VM":
            return []
        if cmd.name == "Start-VM":
            if not hv:
                raise RemoteError(f"Failed to start the virtual machine '{p['name']}' because one of the Hyper-V components is not running.")
            nested[p["name"]] = "Running"
            return []
        if cmd.name == "Wait-VM":
            raise RemoteError(WAIT_TIMEOUT, category="OperationTimeout")
        if cmd.name == "Get-VM":
            return [_obj("VirtualMachine", Name=p["name"], State=nested.get(p["name"], "missing"))]
        raise AssertionError(f"fake guest does not know {cmd.name}")

    # --- host side
    def _maybe_fail(self, cmd: Cmd) -> None:
        err = self.fail.get(cmd.name)
        if err is not None:
            raise err

    def _host(self, cmd: Cmd) -> list[Any]:
        self.calls.append(("host", cmd.name, cmd))
        self._maybe_fail(cmd)
        p = dict((k.lower(), v) for k, v in cmd.params)
        name = p.get("name") or p.get("vmname")
        if cmd.name == "Test-Path":
            return [RemoteObject.primitive(p["path"] in self.files)]
        if cmd.name == "Get-VMHost":
            return [_obj("VMHost", VirtualHardDiskPath="C:\\VHDs", LogicalProcessorCount=8)]
        if cmd.name == "Get-CimInstance" and p.get("classname") == "Win32_OperatingSystem":
            return [_obj("Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_OperatingSystem",
                         LocalDateTime=self.host_now)]
        if cmd.name == "Get-WinEvent":  # the worker log says why a VM stopped
            return [_obj("System.Diagnostics.Eventing.Reader.EventLogRecord", Id=18590, Level=2,
                         Message=f"'{v.name}' has encountered a fatal error.") for v in self.vms.values()
                    if v.name in self.turns_off and v.state == "Off"]
        if cmd.name == "Get-VMSwitch":
            return [_obj("VMSwitch", Name="Lab", SwitchType="Internal"), _obj("VMSwitch", Name="Uplink", SwitchType="External")]
        if cmd.name == "New-VHD":
            if p["parentpath"] not in self.files:
                raise RemoteError(f"The system cannot find the file {p['parentpath']}")
            self.files.add(p["path"])
            return [_obj("VirtualHardDisk", Path=p["path"])]
        if cmd.name == "New-VM":
            self.vms[name] = FakeVM(name, disk=p.get("vhdpath"))
            return [_obj("VirtualMachine", Name=name, State="Off")]
        if cmd.name == "Get-VM":
            vms = [self.vms[name]] if name else list(self.vms.values())
            if name and name not in self.vms:
                raise RemoteError(f'Hyper-V was unable to find a virtual machine with name "{name}".')
            return [_obj("VirtualMachine", Name=v.name, State=v.state, Notes=v.notes, Version="12.0", Generation=2,
                         CreationTime=v.created,
                         Heartbeat="OkApplicationsHealthy" if v.state == "Running" else None,
                         ParentCheckpointId=None) for v in vms]
        vm = self.vms.get(name) if name else None
        if cmd.name == "Set-VM":
            vm.notes = p["notes"]
            return []
        if cmd.name == "Set-VMMemory":
            vm.dynamic = p["dynamicmemoryenabled"]
            return []
        if cmd.name == "Set-VMProcessor":
            if vm.state != "Off":
                raise RemoteError("The operation cannot be performed while the virtual machine is in its current state.",
                                  fqid="InvalidState,Microsoft.HyperV.PowerShell.Commands.SetVMProcessor", category="InvalidOperation")
            vm.expose = p.get("exposevirtualizationextensions", vm.expose)
            return []
        if cmd.name == "Set-VMNetworkAdapter":
            vm.spoofing = p["macaddressspoofing"]
            return []
        if cmd.name == "Start-VM":
            vm.state = "Running"
            vm.boots += 1
            return []
        if cmd.name == "Wait-VM":
            if name in self.turns_off:
                vm.state = "Off"
                raise RemoteError(WAIT_TIMEOUT, category="OperationTimeout")
            if name in self.heartbeat_never or p["for"] == "Reboot":
                raise RemoteError(WAIT_TIMEOUT, category="OperationTimeout")
            return []
        if cmd.name == "Get-VMProcessor":
            return [_obj("VMProcessor", ExposeVirtualizationExtensions=vm.expose, Count=2)]
        if cmd.name == "Get-VMMemory":
            return [_obj("VMMemory", DynamicMemoryEnabled=vm.dynamic, Startup=4 * 1024**3, Buffer=20)]
        if cmd.name == "Get-VMNetworkAdapter":
            return [_obj("VMNetworkAdapter", Name="Network Adapter", MacAddressSpoofing=vm.spoofing)]
        if cmd.name == "Get-VMSnapshot":
            return []
        if cmd.name == "Get-VMHardDiskDrive":
            return [_obj("HardDiskDrive", Path=vm.disk)] if vm.disk else []
        if cmd.name == "Stop-VM":
            vm.state = "Off"
            return []
        if cmd.name == "Remove-VM":
            del self.vms[name]
            return []
        if cmd.name == "Remove-Item":
            self.files.discard(p["path"])
            return []
        raise AssertionError(f"fake host does not know {cmd.name}")

    def names(self, where: str = "host") -> list[str]:
        return [n for w, n, _ in self.calls if w == where]


def _obj(kind: str, **props: Any) -> RemoteObject:
    return RemoteObject([f"Microsoft.HyperV.PowerShell.{kind}", "System.Object"], props)
