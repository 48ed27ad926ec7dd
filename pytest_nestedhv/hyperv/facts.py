"""Facts about a host, one VM and an L1 guest, gathered with few round trips.

Where each fact lives: docs/requirements.md#factswhere. Facts are plain frozen dataclasses with
``to_dict()`` so reports can store them as JSON; judging them is requirements.py's job.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable, Sequence
from typing import Any

from ..remote.commands import SWITCH, Cmd
from .builds import AMD, INTEL
from .ports import SessionLike, flatten, has_prop, has_type, prop

CURRENT_VERSION_KEY = r"HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
# Windows Insider enrollment: BranchName is the channel (CanaryChannel, Dev, Beta, ReleasePreview); no key: not enrolled
SELF_HOST_KEY = r"HKLM:\SOFTWARE\Microsoft\WindowsSelfHost\Applicability"
DEVICE_GUARD_NAMESPACE = r"root\Microsoft\Windows\DeviceGuard"
FACTS_TIMEOUT_S = 60.0


class FactsError(Exception):
    """A fact every judgement needs could not be read (one line, meant for the user)."""


@dataclasses.dataclass(frozen=True)
class HostFacts:
    computer_name: str
    build: int
    ubr: int | None
    build_lab_ex: str
    product_name: str
    edition_id: str
    installation_type: str  # "Server", "Server Core", "Client"
    hypervisor_present: bool
    cpu_vendor: str  # GenuineIntel / AuthenticAMD
    cpu_name: str
    # Win32_Processor virtualization flags; None when a hypervisor runs (they read False then).
    virtualization_firmware_enabled: bool | None
    slat: bool | None
    vm_monitor_mode_extensions: bool | None
    hyperv_role_installed: bool | None
    vmms_running: bool | None
    vbs_status: int | None  # 0 off, 1 enabled not running, 2 running
    vbs_services_running: tuple[int, ...]
    bcd_offer_nested: bool | None  # False when hypervisorloadoptions has OFFERNESTEDVIRT=FALSE; None unknown
    bcd_load_options: str | None
    supported_versions: tuple[str, ...]  # Get-VMHostSupportedVersion, e.g. ("8.0", ..., "12.0")
    default_version: str | None
    memory_capacity_bytes: int | None
    logical_processors: int | None
    flight: str | None = None  # Windows Insider channel (SELF_HOST_KEY BranchName); None when not enrolled

    @property
    def branch(self) -> str | None:
        return branch_of(self.build_lab_ex)

    @property
    def is_server(self) -> bool:
        return self.installation_type.lower().startswith("server")

    @property
    def is_amd(self) -> bool:
        return self.cpu_vendor == AMD

    @property
    def is_intel(self) -> bool:
        return self.cpu_vendor == INTEL

    @property
    def build_text(self) -> str:
        return f"{self.build}.{self.ubr}" if self.ubr is not None else str(self.build)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class AdapterFacts:
    name: str
    mac_address_spoofing: str  # "On" / "Off"
    switch_name: str | None
    ip_addresses: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class VMFacts:
    name: str
    state: str  # VMState name: Running, Off, Saved, ...
    version: str
    generation: int
    notes: str
    heartbeat: str | None
    processor_count: int
    expose_virtualization_extensions: bool
    dynamic_memory_enabled: bool
    memory_startup_bytes: int
    parent_checkpoint_id: str | None
    checkpoints: tuple[str, ...]
    adapters: tuple[AdapterFacts, ...]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class GuestFacts:
    vm_name: str
    build: int | None
    caption: str
    product_type: int | None  # Win32_OperatingSystem.ProductType: 1 workstation, 2 DC, 3 server
    hypervisor_present: bool
    cpu_vendor: str
    vm_monitor_mode_extensions: bool | None  # None once a hypervisor runs in the guest
    slat: bool | None
    last_boot: str | None  # LastBootUpTime as ISO text

    @property
    def is_server(self) -> bool:
        return self.product_type in (2, 3)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


# ---------------------------------------------------------------- host


def host_probe() -> list[tuple[Cmd, ...]]:
    """First round trip: everything that works on any Windows host."""
    return [
        (Cmd.of("Get-ItemProperty", Path=CURRENT_VERSION_KEY),),
        (Cmd.of("Get-CimInstance", ClassName="Win32_ComputerSystem"),),
        (Cmd.of("Get-CimInstance", ClassName="Win32_Processor"),),
        (Cmd.of("Get-CimInstance", Namespace=DEVICE_GUARD_NAMESPACE, ClassName="Win32_DeviceGuard"),),
        (Cmd.of("Get-Service", Name="vmms"),),
        # absent on hosts outside the Insider program: not an error worth a transcript entry
        (Cmd.of("Get-ItemProperty", Path=SELF_HOST_KEY, ErrorAction="SilentlyContinue"),),
    ]


def hyperv_probe(is_server: bool, vmms_present: bool) -> list[tuple[Cmd, ...]]:
    """Second round trip: the role query that fits the SKU, and the Hyper-V module when there is one."""
    role = (
        Cmd.of("Get-WindowsFeature", Name="Hyper-V")
        if is_server
        else Cmd.of("Get-WindowsOptionalFeature", Online=SWITCH, FeatureName="Microsoft-Hyper-V")
    )
    statements: list[tuple[Cmd, ...]] = [(role,)]
    if vmms_present:
        statements += [(Cmd.of("Get-VMHostSupportedVersion"),), (Cmd.of("Get-VMHost"),)]
    return statements


def bcd_probe() -> Cmd:
    """`bcdedit /enum`: a native command with one positional argument."""
    return Cmd("bcdedit", (("", "/enum"),))  # "" = positional (Session adds it as an argument)


def gather_host(session: SessionLike, timeout: float = FACTS_TIMEOUT_S) -> HostFacts:
    first = flatten(session.run_statements(host_probe(), timeout=timeout, check=False))
    registry = _pick(first, lambda o: has_prop(o, "CurrentBuild"))
    self_host = _pick(first, lambda o: has_prop(o, "BranchName") or has_prop(o, "Ring"))
    system = _pick(first, lambda o: has_type(o, "Win32_ComputerSystem") or has_prop(o, "HypervisorPresent"))
    cpus = [o for o in first if has_type(o, "Win32_Processor") or has_prop(o, "VMMonitorModeExtensions")]
    guard = _pick(first, lambda o: has_prop(o, "VirtualizationBasedSecurityStatus"))
    service = _pick(first, lambda o: has_type(o, "ServiceController") or has_prop(o, "ServiceName"))
    if registry is None or system is None:
        raise FactsError("could not read the host's CurrentVersion registry key or Win32_ComputerSystem")
    installation_type = str(prop(registry, "InstallationType", "") or "")
    is_server = installation_type.lower().startswith("server")

    second = flatten(session.run_statements(hyperv_probe(is_server, service is not None), timeout=timeout, check=False))
    feature = _pick(second, lambda o: has_prop(o, "InstallState") or has_prop(o, "FeatureName") or has_prop(o, "Installed"))
    versions = [o for o in second if has_type(o, "VMHostSupportedVersion") or has_prop(o, "IsDefault")]
    vmhost = _pick(second, lambda o: has_prop(o, "LogicalProcessorCount"))

    load_options = _read_bcd(session, timeout)
    hypervisor = bool(prop(system, "HypervisorPresent", False))
    cpu = cpus[0] if cpus else None
    return HostFacts(
        computer_name=str(prop(system, "Name", "") or prop(system, "DNSHostName", "") or ""),
        build=_int(prop(registry, "CurrentBuild")) or _int(prop(registry, "CurrentBuildNumber")) or 0,
        ubr=_int(prop(registry, "UBR")),
        build_lab_ex=str(prop(registry, "BuildLabEx", "") or ""),
        product_name=str(prop(registry, "ProductName", "") or ""),
        edition_id=str(prop(registry, "EditionID", "") or ""),
        installation_type=installation_type,
        hypervisor_present=hypervisor,
        cpu_vendor=str(prop(cpu, "Manufacturer", "") or ""),
        cpu_name=str(prop(cpu, "Name", "") or "").strip(),
        # With a hypervisor running these read False (systeminfo hides them): don't trust them.
        virtualization_firmware_enabled=None if hypervisor else _all_flag(cpus, "VirtualizationFirmwareEnabled"),
        slat=None if hypervisor else _all_flag(cpus, "SecondLevelAddressTranslationExtensions"),
        vm_monitor_mode_extensions=None if hypervisor else _all_flag(cpus, "VMMonitorModeExtensions"),
        hyperv_role_installed=_feature_installed(feature),
        vmms_running=None if service is None else str(prop(service, "Status", "")) == "Running",
        vbs_status=_int(prop(guard, "VirtualizationBasedSecurityStatus")),
        vbs_services_running=tuple(_int(v) or 0 for v in _as_list(prop(guard, "SecurityServicesRunning"))),
        bcd_offer_nested=None if load_options is None else "OFFERNESTEDVIRT=FALSE" not in load_options.upper(),
        bcd_load_options=load_options,
        supported_versions=tuple(sorted({_version_text(prop(v, "Version")) for v in versions}, key=_version_key)),
        default_version=next((_version_text(prop(v, "Version")) for v in versions if prop(v, "IsDefault")), None),
        memory_capacity_bytes=_int(prop(vmhost, "MemoryCapacity")) or _int(prop(system, "TotalPhysicalMemory")),
        logical_processors=_int(prop(vmhost, "LogicalProcessorCount"))
        or _int(prop(system, "NumberOfLogicalProcessors")),
        flight=str(prop(self_host, "BranchName", "") or "") or None,
    )


def branch_of(build_lab_ex: str) -> str | None:
    """The branch a build came from: BuildLabEx is BUILD.QFE.ARCH.BRANCH.TIMESTAMP
    (26100.1.amd64fre.ge_release.240331-1435 -> ge_release)."""
    parts = str(build_lab_ex or "").split(".")
    return parts[3] if len(parts) >= 5 and parts[3] else None


def _read_bcd(session: SessionLike, timeout: float) -> str | None:
    """The hypervisorloadoptions value ('' when absent); None when bcdedit could not be run."""
    try:
        lines = session.run(bcd_probe(), timeout=timeout, check=True)
    except Exception:  # noqa: BLE001 - an unreadable BCD is reported as unknown, not a crash
        return None
    return parse_bcd_load_options([str(line) for line in lines])


def parse_bcd_load_options(lines: Sequence[str]) -> str:
    """Values of every `hypervisorloadoptions` line of `bcdedit /enum` output, joined."""
    found = []
    for text in lines:
        for line in str(text).splitlines():
            parts = line.strip().split(None, 1)
            if parts and parts[0].lower() == "hypervisorloadoptions":
                found.append(parts[1].strip() if len(parts) > 1 else "")
    return " ".join(found)


# ---------------------------------------------------------------- one VM


def vm_probe(name: str) -> list[tuple[Cmd, ...]]:
    return [
        (Cmd.of("Get-VM", Name=name),),
        (Cmd.of("Get-VMProcessor", VMName=name),),
        (Cmd.of("Get-VMMemory", VMName=name),),
        (Cmd.of("Get-VMNetworkAdapter", VMName=name),),
        (Cmd.of("Get-VMSnapshot", VMName=name),),
    ]


def gather_vm(session: SessionLike, name: str, timeout: float = FACTS_TIMEOUT_S) -> VMFacts:
    """Raises the session's RemoteError when the VM does not exist (Hyper-V's own message)."""
    objs = flatten(session.run_statements(vm_probe(name), timeout=timeout, check=True))
    return vm_facts_from(name, objs)


def vm_facts_from(name: str, objs: Sequence[Any]) -> VMFacts:
    vm = _pick(objs, lambda o: has_type(o, "VirtualMachine") or has_prop(o, "Generation"))
    cpu = _pick(objs, lambda o: has_type(o, "VMProcessor") or has_prop(o, "ExposeVirtualizationExtensions"))
    mem = _pick(objs, lambda o: has_type(o, "VMMemory") or (has_prop(o, "Startup") and has_prop(o, "Buffer")))
    adapters = [o for o in objs if has_type(o, "VMNetworkAdapter") or has_prop(o, "MacAddressSpoofing")]
    snaps = [o for o in objs if has_type(o, "VMSnapshot") or has_prop(o, "SnapshotType")]
    if vm is None:
        raise FactsError(f'Hyper-V was unable to find a virtual machine with name "{name}".')
    dynamic = prop(mem, "DynamicMemoryEnabled") if mem is not None else prop(vm, "DynamicMemoryEnabled")
    startup = prop(mem, "Startup") if mem is not None else prop(vm, "MemoryStartup")
    parent = prop(vm, "ParentCheckpointId") or prop(vm, "ParentSnapshotId")
    return VMFacts(
        name=str(prop(vm, "Name", name)),
        state=str(prop(vm, "State", "")),
        version=str(prop(vm, "Version", "")),
        generation=_int(prop(vm, "Generation")) or 0,
        notes=str(prop(vm, "Notes", "") or ""),
        heartbeat=None if prop(vm, "Heartbeat") is None else str(prop(vm, "Heartbeat")),
        processor_count=_int(prop(cpu, "Count")) or _int(prop(vm, "ProcessorCount")) or 0,
        expose_virtualization_extensions=bool(prop(cpu, "ExposeVirtualizationExtensions", False)),
        dynamic_memory_enabled=bool(dynamic),
        memory_startup_bytes=_int(startup) or 0,
        parent_checkpoint_id=None if parent in (None, "") else str(parent),
        checkpoints=tuple(str(prop(s, "Name", "")) for s in snaps),
        adapters=tuple(
            AdapterFacts(
                name=str(prop(a, "Name", "")),
                mac_address_spoofing=str(prop(a, "MacAddressSpoofing", "")),
                switch_name=None if prop(a, "SwitchName") is None else str(prop(a, "SwitchName")),
                ip_addresses=tuple(str(x) for x in _as_list(prop(a, "IPAddresses"))),
            )
            for a in adapters
        ),
    )


# ---------------------------------------------------------------- the L1 guest


def guest_probe() -> list[Cmd]:
    """One cmdlet per PowerShell Direct call (the trampoline runs a single command)."""
    return [
        Cmd.of("Get-CimInstance", ClassName="Win32_OperatingSystem"),
        Cmd.of("Get-CimInstance", ClassName="Win32_ComputerSystem"),
        Cmd.of("Get-CimInstance", ClassName="Win32_Processor"),
    ]


def gather_guest(session: SessionLike, vm_name: str, cred: Any, timeout: float = FACTS_TIMEOUT_S) -> GuestFacts:
    os_objs, cs_objs, cpu_objs = (session.in_guest(vm_name, cred, cmd, timeout=timeout) for cmd in guest_probe())
    return guest_facts_from(vm_name, list(os_objs), list(cs_objs), list(cpu_objs))


def guest_facts_from(vm_name: str, os_objs: list[Any], cs_objs: list[Any], cpu_objs: list[Any]) -> GuestFacts:
    os_obj = os_objs[0] if os_objs else None
    cs = cs_objs[0] if cs_objs else None
    hypervisor = bool(prop(cs, "HypervisorPresent", False))
    return GuestFacts(
        vm_name=vm_name,
        build=_int(prop(os_obj, "BuildNumber")),
        caption=str(prop(os_obj, "Caption", "") or ""),
        product_type=_int(prop(os_obj, "ProductType")),
        hypervisor_present=hypervisor,
        cpu_vendor=str(prop(cpu_objs[0], "Manufacturer", "") or "") if cpu_objs else "",
        vm_monitor_mode_extensions=None if hypervisor else _all_flag(cpu_objs, "VMMonitorModeExtensions"),
        slat=None if hypervisor else _all_flag(cpu_objs, "SecondLevelAddressTranslationExtensions"),
        last_boot=_time_text(prop(os_obj, "LastBootUpTime")),
    )


# ---------------------------------------------------------------- helpers


def _pick(objs: Sequence[Any], pred: Callable[[Any], bool]) -> Any:
    return next((o for o in objs if not isinstance(o, str) and pred(o)), None)


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _all_flag(objs: Sequence[Any], name: str) -> bool | None:
    values = [prop(o, name) for o in objs]
    if not values or any(v is None for v in values):
        return None
    return all(bool(v) for v in values)


def _feature_installed(feature: Any) -> bool | None:
    if feature is None:
        return None
    if has_prop(feature, "Installed"):
        return bool(prop(feature, "Installed"))
    state = str(prop(feature, "State", prop(feature, "InstallState", "")))
    return state in ("Enabled", "Installed")


def _version_text(value: Any) -> str:
    """A System.Version arrives as text or as an object with Major/Minor."""
    if value is None:
        return ""
    if has_prop(value, "Major"):
        return f"{prop(value, 'Major')}.{prop(value, 'Minor')}"
    return str(value)


def _version_key(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (0,)


def _time_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
