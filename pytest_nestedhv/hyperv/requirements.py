"""The requirement catalog: every id of the issue, each judged from facts and lab outcomes.

Semantics follow docs/requirements.md (a section per id). A judge never talks to a machine: it reads an
``Observations`` bundle and returns a ``Finding`` (found / required / remedy / evidence).
When what it needs was never observed it returns status "skip" saying why.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal

from .builds import (
    ADVISED_MEMORY_BYTES,
    AMD,
    FIRST_AMD_BUILD,
    FIRST_NESTED_BUILD,
    GA_BUILD,
    INTEL,
    VBS_BUG_BUILDS,
    Era,
    era,
    format_version,
    parse_version,
    required_vm_version,
)
from ..remote.commands import SWITCH, Cmd
from .facts import GuestFacts, HostFacts, VMFacts
from .outcomes import StepOutcome, ToggleOutcome
from .remedy import fix, off_first

Status = Literal["pass", "fail", "warning", "skip"]
GIB = 1024**3

# Lab step names (lab.py) the step-based judgements read.
STEP_INSTALL = "hyperv-installed"
STEP_REBOOT = "guest-rebooted"
STEP_HYPERVISOR = "guest-hypervisor"
STEP_L2_CREATE = "l2-created"
STEP_L2_BOOT = "l2-booted"
STEP_L2_NETWORK = "l2-network"
STEP_NEGATIVE = "negative-no-extensions"

# The documented refusals an L1 without exposed extensions must give (docs/requirements.md#negativeno-extensions).
NO_EXTENSIONS_TEXTS = (
    "Hyper-V cannot be installed: The processor does not have required virtualization capabilities.",
    "because one of the Hyper-V components is not running.",
    "A prerequisite check for the Hyper-V feature failed.",
)


@dataclasses.dataclass(frozen=True)
class Finding:
    requirement: str
    status: Status
    found: str
    required: str
    remedy: str = ""
    evidence: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def severity(self) -> str:
        return {"fail": "error", "warning": "warning"}.get(self.status, "info")

    def message(self) -> str:
        """One clear line for the user: what was found, what is required, how to fix it."""
        text = f"{self.requirement}: found {self.found}; required {self.required}"
        if self.remedy and self.status in ("fail", "warning"):
            text += f"; fix: {self.remedy}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "requirement": self.requirement,
            "status": self.status,
            "severity": self.severity,
            "found": self.found,
            "required": self.required,
            "remedy": self.remedy,
            "evidence": dict(self.evidence),
        }


@dataclasses.dataclass(frozen=True)
class Observations:
    """Everything judges may read. ``vm`` is the L1 the lab built, or the user's --nested-vm."""

    host: HostFacts | None = None
    vm: VMFacts | None = None
    guest_before: GuestFacts | None = None  # the L1 guest before Hyper-V was installed in it
    guest_after: GuestFacts | None = None  # after the reboot that followed the install
    steps: Mapping[str, StepOutcome] = dataclasses.field(default_factory=dict)
    toggle: ToggleOutcome | None = None
    inner_image: bool = False
    vm_mode: bool = False  # --nested-vm: judging an existing VM read-only


Judge = Callable[[Observations], Finding]


@dataclasses.dataclass(frozen=True)
class Requirement:
    id: str
    area: str  # host, vm, guest, nested, negative
    title: str
    judge: Judge

    def evaluate(self, obs: Observations) -> Finding:
        return self.judge(obs)


# ---------------------------------------------------------------- helpers


def _f(rid: str, status: Status, found: str, required: str, remedy: str = "", **evidence: Any) -> Finding:
    return Finding(rid, status, found, required, remedy, evidence)


def _skip(rid: str, why: str) -> Finding:
    return Finding(rid, "skip", why, "n/a")


def _host_desc(h: HostFacts) -> str:
    return f"build {h.build_text}, {h.cpu_vendor or 'unknown CPU'}"


def _role_remedy(h: HostFacts) -> str:
    if h.is_server:
        return fix(Cmd.of("Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=SWITCH, Restart=SWITCH))
    return fix(Cmd.of("Enable-WindowsOptionalFeature", Online=SWITCH, FeatureName="Microsoft-Hyper-V", All=SWITCH))


def _native(name: str, *args: str) -> Cmd:
    """A native command such as bcdedit: positional arguments only."""
    return Cmd(name, tuple(("", a) for a in args))


RESTART = Cmd.of("Restart-Computer")


def _vm_fix(vm: VMFacts, change: Cmd) -> str:
    """Processor and memory settings change only while the VM is Off."""
    return fix(*off_first(vm), change)


# ---------------------------------------------------------------- host.*


def judge_host_build(obs: Observations) -> Finding:
    rid = "host.build"
    h = obs.host
    if h is None:
        return _skip(rid, "host facts not gathered")
    required = f"build >= {FIRST_NESTED_BUILD} (>= {GA_BUILD} for supported nesting)"
    ev = {"build": h.build, "ubr": h.ubr, "build_lab_ex": h.build_lab_ex, "product_name": h.product_name}
    e = era(h.build)
    if e is Era.NONE:
        return _f(rid, "fail", f"build {h.build_text} ({h.product_name}): no nested virtualization before "
                  f"build {FIRST_NESTED_BUILD}", required,
                  "Upgrade the host to Windows Server 2016 / Windows 10 1607 (build 14393) or later", **ev)
    if e is Era.PREVIEW:
        bug = (" Builds 14352-14361 also need VBS opted out for Set-VMProcessor to work."
               if h.build in VBS_BUG_BUILDS else "")
        return _f(rid, "warning", f"Insider preview build {h.build_text}: L0 and L1 should run the same build; "
                  "runtime memory resize, checkpoints on a running L1, live migration and save/restore fail." + bug,
                  required, "Upgrade the host to build 14393 or later for supported nesting", **ev)
    return _f(rid, "pass", f"build {h.build_text} ({h.product_name})", required, **ev)


def judge_host_cpu(obs: Observations) -> Finding:
    rid = "host.cpu"
    h = obs.host
    if h is None:
        return _skip(rid, "host facts not gathered")
    ev = {"vendor": h.cpu_vendor, "name": h.cpu_name, "hypervisor_present": h.hypervisor_present,
          "virtualization_firmware_enabled": h.virtualization_firmware_enabled, "slat": h.slat,
          "vm_monitor_mode_extensions": h.vm_monitor_mode_extensions}
    if h.cpu_vendor == AMD:
        required = f"AMD-V nesting needs build >= {FIRST_AMD_BUILD} (Windows 11 22000+ / Server 2022 20348+)"
        if h.build < FIRST_AMD_BUILD:
            return _f(rid, "fail", f"AMD CPU ({h.cpu_name}) on build {h.build_text}: this build cannot nest on AMD",
                      required, "Upgrade the host to Windows 11 or Windows Server 2022 (build 20348) or later", **ev)
    elif h.cpu_vendor == INTEL:
        required = "Intel VT-x" + (" with EPT (SLAT)" if era(h.build) is Era.GA else "")
    else:
        return _f(rid, "fail", f"CPU vendor '{h.cpu_vendor}' ({h.cpu_name})", "Intel VT-x or AMD-V",
                  "Use a host with an Intel or AMD processor", **ev)
    if h.hypervisor_present:
        # Win32_Processor hides the virtualization flags while a hypervisor runs: vendor is all we can judge.
        return _f(rid, "pass", f"{h.cpu_vendor} {h.cpu_name} (virtualization flags hidden by the running "
                  "hypervisor)", required, **ev)
    missing = []
    if h.virtualization_firmware_enabled is False:
        missing.append("virtualization disabled in firmware")
    if h.vm_monitor_mode_extensions is False:
        missing.append("no VM monitor mode extensions")
    if h.slat is False and (h.cpu_vendor == AMD or era(h.build) is Era.GA):
        missing.append("no second level address translation")
    if missing:
        return _f(rid, "fail", f"{h.cpu_vendor} {h.cpu_name}: " + ", ".join(missing), required,
                  "Enable Intel VT-x / AMD-V (and EPT / RVI) in the host's firmware settings", **ev)
    return _f(rid, "pass", f"{h.cpu_vendor} {h.cpu_name}", required, **ev)


def judge_host_hypervisor(obs: Observations) -> Finding:
    rid = "host.hypervisor"
    h = obs.host
    if h is None:
        return _skip(rid, "host facts not gathered")
    required = "the Hyper-V hypervisor running on the host (Win32_ComputerSystem.HypervisorPresent True)"
    if h.hypervisor_present:
        return _f(rid, "pass", "HypervisorPresent True", required, hypervisor_present=True)
    remedy = (fix(_native("bcdedit", "/set", "hypervisorlaunchtype", "auto"), RESTART) if h.hyperv_role_installed
              else _role_remedy(h))
    return _f(rid, "fail", "HypervisorPresent False", required, remedy,
              hypervisor_present=False, hyperv_role_installed=h.hyperv_role_installed)


def judge_host_role(obs: Observations) -> Finding:
    rid = "host.hyperv-role"
    h = obs.host
    if h is None:
        return _skip(rid, "host facts not gathered")
    query = ("Get-WindowsFeature Hyper-V" if h.is_server
             else "Get-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V")
    required = f"Hyper-V role installed ({query}) and the vmms service running"
    ev = {"installation_type": h.installation_type, "role_installed": h.hyperv_role_installed,
          "vmms_running": h.vmms_running}
    if not h.hyperv_role_installed:
        return _f(rid, "fail", "Hyper-V role not installed", required, _role_remedy(h), **ev)
    if not h.vmms_running:
        return _f(rid, "fail", "Hyper-V role installed but the vmms service is not running", required,
                  fix(Cmd.of("Start-Service", Name="vmms")), **ev)
    return _f(rid, "pass", "Hyper-V role installed, vmms running", required, **ev)


def judge_host_bcd(obs: Observations) -> Finding:
    rid = "host.bcd"
    h = obs.host
    if h is None:
        return _skip(rid, "host facts not gathered")
    required = "no OFFERNESTEDVIRT=FALSE in the boot entry's hypervisorloadoptions"
    if h.bcd_offer_nested is None:
        return _skip(rid, "could not read the boot configuration (bcdedit /enum)")
    if h.bcd_offer_nested:
        return _f(rid, "pass", f"hypervisorloadoptions '{h.bcd_load_options or ''}'", required,
                  hypervisorloadoptions=h.bcd_load_options)
    return _f(rid, "fail", f"hypervisorloadoptions '{h.bcd_load_options}' disables nesting", required,
              fix(_native("bcdedit", "/deletevalue", "{current}", "hypervisorloadoptions"), RESTART),
              hypervisorloadoptions=h.bcd_load_options)


_VBS_NAMES = {0: "off", 1: "enabled, not running", 2: "running"}


def judge_host_vbs(obs: Observations) -> Finding:
    rid = "host.vbs"
    h = obs.host
    if h is None:
        return _skip(rid, "host facts not gathered")
    status = h.vbs_status or 0
    ev = {"vbs_status": h.vbs_status, "security_services_running": list(h.vbs_services_running)}
    found = f"VBS {_VBS_NAMES.get(status, str(status))}"
    if status == 0:
        return _f(rid, "pass", found, "VBS off, or build >= 14393", **ev)
    remedy = fix(Cmd.of("Set-ItemProperty", Path="HKLM:\\System\\CurrentControlSet\\Control\\DeviceGuard",
                        Name="EnableVirtualizationBasedSecurity", Value=0), RESTART)
    if h.build < GA_BUILD:
        return _f(rid, "fail", f"{found} on preview build {h.build_text}: the host cannot expose the "
                  "virtualization extensions", "VBS off on builds before 14393", remedy, **ev)
    # Since 14393 VBS no longer blocks nesting: report it, don't fail on it.
    return _f(rid, "warning", found + " (advisory: does not block nesting since build 14393)",
              "VBS off, or build >= 14393", remedy, **ev)


def judge_host_config_version(obs: Observations) -> Finding:
    rid = "host.config-version"
    h = obs.host
    if h is None:
        return _skip(rid, "host facts not gathered")
    if not h.supported_versions:
        return _skip(rid, "Get-VMHostSupportedVersion returned nothing (no Hyper-V module on the host)")
    need = required_vm_version(h.build, h.cpu_vendor)
    highest = max((parse_version(v) for v in h.supported_versions if parse_version(v)), default=None)
    ev = {"supported_versions": list(h.supported_versions), "default_version": h.default_version}
    found = f"host supports configuration versions {', '.join(h.supported_versions)}"
    if need is None:
        return _f(rid, "pass", found, "no minimum on preview builds", **ev)
    required = f"host supports configuration version >= {format_version(need)} ({'AMD' if h.is_amd else 'GA'})"
    if highest is None or highest < need:
        remedy = ("Upgrade the host to Windows 11 or Windows Server 2022 or later" if h.is_amd
                  else "Upgrade the host to Windows Server 2016 / Windows 10 1607 or later")
        return _f(rid, "fail", found, required, remedy, **ev)
    return _f(rid, "pass", found, required, **ev)


# ---------------------------------------------------------------- vm.*


def _vm_or_skip(rid: str, obs: Observations) -> VMFacts | Finding:
    if obs.vm is None:
        return _skip(rid, "no L1 VM to judge (the lab did not create one)")
    return obs.vm


def judge_vm_config_version(obs: Observations) -> Finding:
    rid = "vm.config-version"
    vm = _vm_or_skip(rid, obs)
    if isinstance(vm, Finding):
        return vm
    h = obs.host
    need = required_vm_version(h.build, h.cpu_vendor) if h else None
    have = parse_version(vm.version)
    ev = {"vm": vm.name, "version": vm.version}
    if need is None:
        return _f(rid, "pass", f"VM '{vm.name}' version {vm.version}", "no minimum on this build", **ev)
    required = f"configuration version >= {format_version(need)}" + (" on AMD" if h and h.is_amd else "")
    if have is None or have < need:
        remedy = fix(*off_first(vm), Cmd.of("Update-VMVersion", Name=vm.name, Force=SWITCH))
        if h and h.supported_versions and max(parse_version(v) or (0, 0) for v in h.supported_versions) < need:
            remedy += " (the host must be upgraded first: it cannot run that version)"
        return _f(rid, "fail", f"VM '{vm.name}' version {vm.version}", required, remedy, **ev)
    return _f(rid, "pass", f"VM '{vm.name}' version {vm.version}", required, **ev)


def judge_vm_expose(obs: Observations) -> Finding:
    rid = "vm.expose-extensions"
    vm = _vm_or_skip(rid, obs)
    if isinstance(vm, Finding):
        return vm
    required = "ExposeVirtualizationExtensions True (set while the VM is Off)"
    ev = {"vm": vm.name, "expose_virtualization_extensions": vm.expose_virtualization_extensions, "state": vm.state}
    if vm.expose_virtualization_extensions:
        return _f(rid, "pass", "ExposeVirtualizationExtensions True", required, **ev)
    return _f(rid, "fail", f"ExposeVirtualizationExtensions False on VM '{vm.name}'", required,
              _vm_fix(vm, Cmd.of("Set-VMProcessor", VMName=vm.name, ExposeVirtualizationExtensions=True)),
              **ev)


def judge_vm_dynamic_memory(obs: Observations) -> Finding:
    rid = "vm.dynamic-memory"
    vm = _vm_or_skip(rid, obs)
    if isinstance(vm, Finding):
        return vm
    ev = {"vm": vm.name, "dynamic_memory_enabled": vm.dynamic_memory_enabled}
    required = "static memory (DynamicMemoryEnabled False)"
    if not vm.dynamic_memory_enabled:
        return _f(rid, "pass", "DynamicMemoryEnabled False", required, **ev)
    why = ("it prevents the L1 from booting on preview builds" if obs.host and obs.host.build < GA_BUILD
           else "while Hyper-V runs in the L1 its memory is fixed and resizing a running L1 fails")
    return _f(rid, "fail", f"DynamicMemoryEnabled True on VM '{vm.name}' ({why})", required,
              _vm_fix(vm, Cmd.of("Set-VMMemory", VMName=vm.name, DynamicMemoryEnabled=False)), **ev)


def judge_vm_memory(obs: Observations) -> Finding:
    rid = "vm.memory"
    vm = _vm_or_skip(rid, obs)
    if isinstance(vm, Finding):
        return vm
    gib = vm.memory_startup_bytes / GIB
    ev = {"vm": vm.name, "memory_startup_bytes": vm.memory_startup_bytes}
    required = "at least 4 GB startup memory (advised)"
    if vm.memory_startup_bytes >= ADVISED_MEMORY_BYTES:
        return _f(rid, "pass", f"{gib:g} GB startup memory", required, **ev)
    # Microsoft's checker warns below 4 GB; it is not a failure.
    return _f(rid, "warning", f"{gib:g} GB startup memory on VM '{vm.name}'", required,
              _vm_fix(vm, Cmd.of("Set-VMMemory", VMName=vm.name, StartupBytes=ADVISED_MEMORY_BYTES)), **ev)


def judge_vm_checkpoints(obs: Observations) -> Finding:
    rid = "vm.checkpoints"
    vm = _vm_or_skip(rid, obs)
    if isinstance(vm, Finding):
        return vm
    ev = {"vm": vm.name, "parent_checkpoint_id": vm.parent_checkpoint_id, "checkpoints": list(vm.checkpoints)}
    required = "no checkpoints (ParentCheckpointId null)"
    if vm.parent_checkpoint_id is None and not vm.checkpoints:
        return _f(rid, "pass", "no checkpoints", required, **ev)
    return _f(rid, "fail", f"{len(vm.checkpoints) or 1} checkpoint(s) on VM '{vm.name}'", required,
              fix((Cmd.of("Get-VMSnapshot", VMName=vm.name), Cmd.of("Remove-VMSnapshot"))), **ev)


def judge_vm_saved_state(obs: Observations) -> Finding:
    rid = "vm.saved-state"
    vm = _vm_or_skip(rid, obs)
    if isinstance(vm, Finding):
        return vm
    ev = {"vm": vm.name, "state": vm.state}
    required = "not in the Saved state"
    if vm.state != "Saved":
        return _f(rid, "pass", f"state {vm.state}", required, **ev)
    return _f(rid, "fail", f"VM '{vm.name}' is Saved", required,
              fix(Cmd.of("Remove-VMSavedState", VMName=vm.name)), **ev)


def judge_vm_mac_spoofing(obs: Observations) -> Finding:
    rid = "vm.mac-spoofing"
    vm = _vm_or_skip(rid, obs)
    if isinstance(vm, Finding):
        return vm
    ev = {"vm": vm.name, "adapters": [dataclasses.asdict(a) for a in vm.adapters]}
    required = "MacAddressSpoofing On on the L1's network adapters (or NAT inside the L1) for L2 networking"
    if not vm.adapters:
        return _f(rid, "warning", f"VM '{vm.name}' has no network adapter", required,
                  fix(Cmd.of("Add-VMNetworkAdapter", VMName=vm.name)), **ev)
    off = [a.name for a in vm.adapters if a.mac_address_spoofing != "On"]
    if not off:
        return _f(rid, "pass", "MacAddressSpoofing On", required, **ev)
    return _f(rid, "fail", f"MacAddressSpoofing Off on VM '{vm.name}' adapter(s) {', '.join(off)}", required,
              fix(Cmd.of("Set-VMNetworkAdapter", VMName=vm.name, MacAddressSpoofing="On")), **ev)


def judge_vm_toggle(obs: Observations) -> Finding:
    rid = "vm.toggle-while-running"
    t = obs.toggle
    if t is None:
        why = "read-only mode (--nested-vm): nothing is changed" if obs.vm_mode else "the L1 was never running"
        return _skip(rid, why)
    required = "the platform refuses to change ExposeVirtualizationExtensions while the VM is not Off"
    ev = {"vm": t.vm_name, "state": t.state, "error": t.error, "fqid": t.fqid, "category": t.category}
    if t.refused:
        return _f(rid, "pass", f"refused on {t.state} VM: {t.error}", required, **ev)
    return _f(rid, "fail", f"Set-VMProcessor changed extensions on the {t.state} VM '{t.vm_name}' without error",
              required, f"turn the VM off before Set-VMProcessor ({fix(Cmd.of('Stop-VM', Name=t.vm_name))}) and "
              "report this regression to Microsoft", **ev)


# ---------------------------------------------------------------- guest.*, nested.*, negative.*


def judge_guest_extensions(obs: Observations) -> Finding:
    rid = "guest.extensions-visible"
    g = obs.guest_before
    if g is None:
        return _skip(rid, "the L1 guest was never reachable before Hyper-V was installed")
    required = "VMMonitorModeExtensions and SLAT visible in the L1 (Win32_Processor) before Hyper-V is installed"
    ev = g.to_dict()
    if g.vm_monitor_mode_extensions and g.slat:
        return _f(rid, "pass", "VMMonitorModeExtensions True, SLAT True", required, **ev)
    name = obs.vm.name if obs.vm else g.vm_name
    return _f(rid, "fail", f"in the L1: VMMonitorModeExtensions {g.vm_monitor_mode_extensions}, SLAT {g.slat}",
              required, fix(Cmd.of("Stop-VM", Name=name, Force=SWITCH),
                            Cmd.of("Set-VMProcessor", VMName=name, ExposeVirtualizationExtensions=True)), **ev)


HOST_CRASH_FQID = "NestedHv.HostCrash"  # a step the host went down under (hyperv/recovery.py)
HOST_CRASH_REMEDY = ("the host itself went down during the step: on the host, Get-WinEvent -FilterHashtable "
                     "@{LogName='System'; Id=1001,41,6008,1074} -MaxEvents 10 shows why; attach the dump that "
                     "event 1001 names and this report to a bug report")


def _remedy(outcome: Any, remedy: str) -> str:
    """A step's own remedy does not apply when the host crashed or restarted under it."""
    return HOST_CRASH_REMEDY if outcome.fqid == HOST_CRASH_FQID else remedy


def _step_judge(rid: str, step: str, required: str, ok_text: str, remedy: str = "") -> Judge:
    def judge(obs: Observations) -> Finding:
        outcome = obs.steps.get(step)
        if outcome is None:
            return _skip(rid, f"lab step '{step}' was not reached")
        ev = {"step": step, "error": outcome.error, "fqid": outcome.fqid, **outcome.evidence}
        if outcome.ok:
            return _f(rid, "pass", ok_text, required, **ev)
        return _f(rid, "fail", outcome.error or f"step '{step}' failed", required, _remedy(outcome, remedy), **ev)

    judge.__name__ = f"judge_{rid.replace('.', '_').replace('-', '_')}"
    return judge


def judge_guest_hypervisor(obs: Observations) -> Finding:
    rid = "guest.hypervisor"
    required = "after the reboot (LastBootUpTime changed) HypervisorPresent True in the L1"
    for step in (STEP_REBOOT, STEP_HYPERVISOR):
        outcome = obs.steps.get(step)
        if outcome is None:
            return _skip(rid, f"lab step '{step}' was not reached")
        if not outcome.ok:
            return _f(rid, "fail", outcome.error or f"step '{step}' failed", required,
                      _remedy(outcome, "Check the L1's System log for Microsoft-Windows-Hyper-V-Hypervisor event "
                              "41/42 (extensions not exposed) and expose them while the L1 is Off"),
                      step=step, error=outcome.error, **outcome.evidence)
    g = obs.guest_after
    ev = g.to_dict() if g else {}
    return _f(rid, "pass", "HypervisorPresent True after the reboot", required, **ev)


def judge_nested_network(obs: Observations) -> Finding:
    rid = "nested.network"
    if not obs.inner_image:
        return _skip(rid, "needs --nested-inner-image (an L2 without an OS has no network stack)")
    return _step_judge(rid, STEP_L2_NETWORK, "the L2 gets an IP address (Wait-VM -For IPAddress)",
                       "the L2 reported an IP address",
                       "connect the L1 to a switch with DHCP (an External switch: --nested-switch NAME) and keep "
                       "MacAddressSpoofing On on its adapter, or give the L2 NAT inside the L1 (New-NetNat)")(obs)


def judge_negative(obs: Observations) -> Finding:
    rid = "negative.no-extensions"
    outcome = obs.steps.get(STEP_NEGATIVE)
    required = ("an L1 without exposed extensions is refused cleanly: Hyper-V will not install, or an L2 will "
                "not start, with the documented error")
    if outcome is None:
        return _skip(rid, f"lab step '{STEP_NEGATIVE}' was not reached")
    ev = {"error": outcome.error, "fqid": outcome.fqid, **outcome.evidence}
    refusal = str(outcome.evidence.get("refusal") or "")
    if outcome.ok and any(text in refusal for text in NO_EXTENSIONS_TEXTS):
        return _f(rid, "pass", f"refused: {refusal}", required, **ev)
    if outcome.ok:
        return _f(rid, "fail", f"refused with an undocumented error: {refusal}", required, _NEGATIVE_REMEDY, **ev)
    return _f(rid, "fail", outcome.error or "the probe L1 was not refused", required, _NEGATIVE_REMEDY, **ev)


_NEGATIVE_REMEDY = ("Report it with the feedback bundle: the platform must refuse an L1 without exposed "
                    "extensions with the documented error")


CATALOG: tuple[Requirement, ...] = (
    Requirement("host.build", "host", "Host build supports nested virtualization", judge_host_build),
    Requirement("host.cpu", "host", "CPU vendor and virtualization features", judge_host_cpu),
    Requirement("host.hypervisor", "host", "Hypervisor running on the host", judge_host_hypervisor),
    Requirement("host.hyperv-role", "host", "Hyper-V role installed and vmms running", judge_host_role),
    Requirement("host.bcd", "host", "Boot configuration offers nesting", judge_host_bcd),
    Requirement("host.vbs", "host", "Virtualization-based security", judge_host_vbs),
    Requirement("host.config-version", "host", "Host supports a nesting configuration version",
                judge_host_config_version),
    Requirement("vm.config-version", "vm", "L1 configuration version", judge_vm_config_version),
    Requirement("vm.expose-extensions", "vm", "Virtualization extensions exposed to the L1", judge_vm_expose),
    Requirement("vm.dynamic-memory", "vm", "Static memory on the L1", judge_vm_dynamic_memory),
    Requirement("vm.memory", "vm", "L1 memory (4 GB advised)", judge_vm_memory),
    Requirement("vm.checkpoints", "vm", "No checkpoints on the L1", judge_vm_checkpoints),
    Requirement("vm.saved-state", "vm", "L1 not saved", judge_vm_saved_state),
    Requirement("vm.mac-spoofing", "vm", "MAC address spoofing for L2 networking", judge_vm_mac_spoofing),
    Requirement("vm.toggle-while-running", "vm", "Extensions cannot be toggled on a running VM", judge_vm_toggle),
    Requirement("guest.extensions-visible", "guest", "VMX/SVM and SLAT visible inside the L1",
                judge_guest_extensions),
    Requirement("guest.hyperv-install", "guest", "Hyper-V installs inside the L1",
                _step_judge("guest.hyperv-install", STEP_INSTALL, "Hyper-V installs in the L1 over PowerShell Direct",
                            "Hyper-V installed in the L1",
                            "Expose the extensions on the L1 while it is Off, then install Hyper-V again")),
    Requirement("guest.hypervisor", "guest", "Hypervisor running inside the L1", judge_guest_hypervisor),
    Requirement("nested.create", "nested", "An L2 VM can be created in the L1",
                _step_judge("nested.create", STEP_L2_CREATE, "New-VM inside the L1 succeeds", "L2 created",
                            "Make sure Hyper-V runs inside the L1 (Get-VMHost there), then New-VM again")),
    Requirement("nested.boot", "nested", "The L2 VM boots",
                _step_judge("nested.boot", STEP_L2_BOOT, "the L2 reaches Running and stays there",
                            "L2 running",
                            "Inside the L1: Get-WinEvent -LogName Microsoft-Windows-Hyper-V-Worker-Admin -MaxEvents 20 "
                            "shows why the L2 stopped")),
    Requirement("nested.network", "nested", "The L2 VM has network", judge_nested_network),
    Requirement("negative.no-extensions", "negative", "An L1 without extensions is refused cleanly", judge_negative),
)

BY_ID: Mapping[str, Requirement] = {r.id: r for r in CATALOG}
IDS: tuple[str, ...] = tuple(r.id for r in CATALOG)


def evaluate(rid: str, obs: Observations) -> Finding:
    return BY_ID[rid].evaluate(obs)
