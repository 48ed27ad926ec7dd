"""The requirement catalog: every id of the issue, each judged from facts and lab outcomes.

Semantics follow docs/requirements.md (a section per id). A judge never talks to a machine: it reads an
``Observations`` bundle and returns a ``Finding`` (found / required / remedy / evidence).
When what it needs was never observed it returns status "skip" saying why. Each id is
spelled once, where its judge is registered (``@requirement`` or ``step_requirement``),
with the lab step it needs and the earlier requirements whose failure blocks it.

A check that cannot pass because an earlier requirement failed is a skip, always: its
message says "blocked by <id>" and gives no fix of its own, so the one fix to apply is the
root cause's. (A skip rather than a fail so that one cause is counted once; the run still
fails through the root cause.)
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
from .steps import Step

Status = Literal["pass", "fail", "warning", "skip"]
GIB = 1024**3

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
    blocked_by: str | None = None  # the root cause's requirement id when an earlier failure decides this one

    @property
    def severity(self) -> str:
        return {"fail": "error", "warning": "warning"}.get(self.status, "info")

    def message(self) -> str:
        """One clear line for the user: what was found, what is required, how to fix it."""
        if self.blocked_by:
            return f"{self.requirement}: {self.found}"
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
            "blocked_by": self.blocked_by,
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
    """One catalog entry. ``needs``: the lab step whose results the judge reads (None: host facts
    only). ``after``: earlier requirements whose failure means this one cannot pass; when one of
    them failed, a failure here is reported as "blocked by" it, without a fix of its own."""

    id: str
    title: str
    judge: Judge
    needs: Step | None = None
    after: tuple[str, ...] = ()

    @property
    def area(self) -> str:  # host, vm, guest, nested, negative
        return self.id.split(".", 1)[0]

    def evaluate(self, obs: Observations) -> Finding:
        return dataclasses.replace(self.judge(obs), requirement=self.id)


_REGISTERED: list[Requirement] = []
# what each judge cannot do without, and what it says when that was never observed
_MISSING = {
    "host": "host facts not gathered",
    "vm": "no L1 VM to judge (the lab did not create one)",
    "guest_before": "the L1 guest was never reachable before Hyper-V was installed",
}


Earlier = Callable[..., Finding]  # a registered judge stands for its requirement in ``after``


def _ids(after: tuple[Earlier, ...]) -> tuple[str, ...]:
    return tuple(_ID_OF[judge] for judge in after)


_ID_OF: dict[Callable[..., Finding], str] = {}


def requirement(rid: str, title: str, *, needs: Step | None = None, after: tuple[Earlier, ...] = (),
                reads: str | None = None) -> Callable[[Callable[..., Finding]], Callable[..., Finding]]:
    """Register the decorated judge as catalog entry ``rid``. With ``reads`` the judge gets that
    observation as its first argument and is not called when it is missing (the finding is a skip)."""

    def register(fn: Callable[..., Finding]) -> Callable[..., Finding]:
        def judge(obs: Observations) -> Finding:
            if reads is None:
                return fn(obs)
            value = getattr(obs, reads)
            return skipped(_MISSING[reads]) if value is None else fn(value, obs)

        _REGISTERED.append(Requirement(rid, title, judge, needs, _ids(after)))
        _ID_OF[fn] = rid
        return fn

    return register


# ---------------------------------------------------------------- helpers (the id is filled in by evaluate)


def passed(found: str, required: str, **evidence: Any) -> Finding:
    return Finding("", "pass", found, required, "", evidence)


def failed(found: str, required: str, remedy: str, **evidence: Any) -> Finding:
    return Finding("", "fail", found, required, remedy, evidence)


def advisory(found: str, required: str, remedy: str, **evidence: Any) -> Finding:
    return Finding("", "warning", found, required, remedy, evidence)


def skipped(why: str) -> Finding:
    return Finding("", "skip", why, "n/a")


def blocked(rid: str, cause: Finding, detail: str | None = None) -> Finding:
    """``rid`` cannot pass because ``cause`` failed (or was itself blocked): a skip naming the root
    cause, with no fix of its own (the root cause's fix is the one to apply)."""
    root = cause.blocked_by or cause.requirement
    if cause.blocked_by:
        detail = str(cause.evidence.get("detail", ""))  # the root's own words, not the chain
    elif detail is None:
        detail = f"found {cause.found}"
    return Finding(rid, "skip", f"blocked by {root} ({detail})", "n/a", "",
                   {"blocked_by": root, "detail": detail}, blocked_by=root)


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


@requirement("host.build", "Host build supports nested virtualization", reads="host")
def judge_host_build(h: HostFacts, obs: Observations) -> Finding:
    required = f"build >= {FIRST_NESTED_BUILD} (>= {GA_BUILD} for supported nesting)"
    ev = {"build": h.build, "ubr": h.ubr, "build_lab_ex": h.build_lab_ex, "product_name": h.product_name}
    e = era(h.build)
    if e is Era.NONE:
        return failed(f"build {h.build_text} ({h.product_name}): no nested virtualization before "
                  f"build {FIRST_NESTED_BUILD}", required,
                  "Upgrade the host to Windows Server 2016 / Windows 10 1607 (build 14393) or later", **ev)
    if e is Era.PREVIEW:
        bug = (" Builds 14352-14361 also need VBS opted out for Set-VMProcessor to work."
               if h.build in VBS_BUG_BUILDS else "")
        return advisory(f"Insider preview build {h.build_text}: L0 and L1 should run the same build; "
                  "runtime memory resize, checkpoints on a running L1, live migration and save/restore fail." + bug,
                  required, "Upgrade the host to build 14393 or later for supported nesting", **ev)
    return passed(f"build {h.build_text} ({h.product_name})", required, **ev)


@requirement("host.cpu", "CPU vendor and virtualization features", reads="host")
def judge_host_cpu(h: HostFacts, obs: Observations) -> Finding:
    ev = {"vendor": h.cpu_vendor, "name": h.cpu_name, "hypervisor_present": h.hypervisor_present,
          "virtualization_firmware_enabled": h.virtualization_firmware_enabled, "slat": h.slat,
          "vm_monitor_mode_extensions": h.vm_monitor_mode_extensions}
    if h.cpu_vendor == AMD:
        required = f"AMD-V nesting needs build >= {FIRST_AMD_BUILD} (Windows 11 22000+ / Server 2022 20348+)"
        if h.build < FIRST_AMD_BUILD:
            return failed(f"AMD CPU ({h.cpu_name}) on build {h.build_text}: this build cannot nest on AMD",
                      required, "Upgrade the host to Windows 11 or Windows Server 2022 (build 20348) or later", **ev)
    elif h.cpu_vendor == INTEL:
        required = "Intel VT-x" + (" with EPT (SLAT)" if era(h.build) is Era.GA else "")
    else:
        return failed(f"CPU vendor '{h.cpu_vendor}' ({h.cpu_name})", "Intel VT-x or AMD-V",
                  "Use a host with an Intel or AMD processor", **ev)
    if h.hypervisor_present:
        # Win32_Processor hides the virtualization flags while a hypervisor runs: vendor is all we can judge.
        return passed(f"{h.cpu_vendor} {h.cpu_name} (virtualization flags hidden by the running "
                  "hypervisor)", required, **ev)
    missing = []
    if h.virtualization_firmware_enabled is False:
        missing.append("virtualization disabled in firmware")
    if h.vm_monitor_mode_extensions is False:
        missing.append("no VM monitor mode extensions")
    if h.slat is False and (h.cpu_vendor == AMD or era(h.build) is Era.GA):
        missing.append("no second level address translation")
    if missing:
        return failed(f"{h.cpu_vendor} {h.cpu_name}: " + ", ".join(missing), required,
                  "Enable Intel VT-x / AMD-V (and EPT / RVI) in the host's firmware settings", **ev)
    return passed(f"{h.cpu_vendor} {h.cpu_name}", required, **ev)


@requirement("host.hypervisor", "Hypervisor running on the host", reads="host")
def judge_host_hypervisor(h: HostFacts, obs: Observations) -> Finding:
    required = "the Hyper-V hypervisor running on the host (Win32_ComputerSystem.HypervisorPresent True)"
    if h.hypervisor_present:
        return passed("HypervisorPresent True", required, hypervisor_present=True)
    remedy = (fix(_native("bcdedit", "/set", "hypervisorlaunchtype", "auto"), RESTART) if h.hyperv_role_installed
              else _role_remedy(h))
    return failed("HypervisorPresent False", required, remedy,
              hypervisor_present=False, hyperv_role_installed=h.hyperv_role_installed)


@requirement("host.hyperv-role", "Hyper-V role installed and vmms running", reads="host")
def judge_host_role(h: HostFacts, obs: Observations) -> Finding:
    query = ("Get-WindowsFeature Hyper-V" if h.is_server
             else "Get-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V")
    required = f"Hyper-V role installed ({query}) and the vmms service running"
    ev = {"installation_type": h.installation_type, "role_installed": h.hyperv_role_installed,
          "vmms_running": h.vmms_running}
    if not h.hyperv_role_installed:
        return failed("Hyper-V role not installed", required, _role_remedy(h), **ev)
    if not h.vmms_running:
        return failed("Hyper-V role installed but the vmms service is not running", required,
                  fix(Cmd.of("Start-Service", Name="vmms")), **ev)
    return passed("Hyper-V role installed, vmms running", required, **ev)


@requirement("host.bcd", "Boot configuration offers nesting", reads="host")
def judge_host_bcd(h: HostFacts, obs: Observations) -> Finding:
    required = "no OFFERNESTEDVIRT=FALSE in the boot entry's hypervisorloadoptions"
    if h.bcd_offer_nested is None:
        return skipped("could not read the boot configuration (bcdedit /enum)")
    if h.bcd_offer_nested:
        return passed(f"hypervisorloadoptions '{h.bcd_load_options or ''}'", required,
                  hypervisorloadoptions=h.bcd_load_options)
    return failed(f"hypervisorloadoptions '{h.bcd_load_options}' disables nesting", required,
              fix(_native("bcdedit", "/deletevalue", "{current}", "hypervisorloadoptions"), RESTART),
              hypervisorloadoptions=h.bcd_load_options)


_VBS_NAMES = {0: "off", 1: "enabled, not running", 2: "running"}


@requirement("host.vbs", "Virtualization-based security", reads="host")
def judge_host_vbs(h: HostFacts, obs: Observations) -> Finding:
    status = h.vbs_status or 0
    ev = {"vbs_status": h.vbs_status, "security_services_running": list(h.vbs_services_running)}
    found = f"VBS {_VBS_NAMES.get(status, str(status))}"
    if status == 0:
        return passed(found, "VBS off, or build >= 14393", **ev)
    remedy = fix(Cmd.of("Set-ItemProperty", Path="HKLM:\\System\\CurrentControlSet\\Control\\DeviceGuard",
                        Name="EnableVirtualizationBasedSecurity", Value=0), RESTART)
    if h.build < GA_BUILD:
        return failed(f"{found} on preview build {h.build_text}: the host cannot expose the "
                  "virtualization extensions", "VBS off on builds before 14393", remedy, **ev)
    # Since 14393 VBS no longer blocks nesting: report it, don't fail on it.
    return advisory(found + " (advisory: does not block nesting since build 14393)",
              "VBS off, or build >= 14393", remedy, **ev)


@requirement("host.config-version", "Host supports a nesting configuration version", reads="host")
def judge_host_config_version(h: HostFacts, obs: Observations) -> Finding:
    if not h.supported_versions:
        return skipped("Get-VMHostSupportedVersion returned nothing (no Hyper-V module on the host)")
    need = required_vm_version(h.build, h.cpu_vendor)
    highest = max((parse_version(v) for v in h.supported_versions if parse_version(v)), default=None)
    ev = {"supported_versions": list(h.supported_versions), "default_version": h.default_version}
    found = f"host supports configuration versions {', '.join(h.supported_versions)}"
    if need is None:
        return passed(found, "no minimum on preview builds", **ev)
    required = f"host supports configuration version >= {format_version(need)} ({'AMD' if h.is_amd else 'GA'})"
    if highest is None or highest < need:
        remedy = ("Upgrade the host to Windows 11 or Windows Server 2022 or later" if h.is_amd
                  else "Upgrade the host to Windows Server 2016 / Windows 10 1607 or later")
        return failed(found, required, remedy, **ev)
    return passed(found, required, **ev)


# what must hold before a VM can be created at all, and before anything can nest in it
HOST_INFRA = (judge_host_hypervisor, judge_host_role)
NESTING = (*HOST_INFRA, judge_host_build, judge_host_cpu, judge_host_bcd, judge_host_vbs)
VM_SETTINGS = (*HOST_INFRA, judge_host_vbs)  # on preview builds VBS refuses the L1's processor settings


# ---------------------------------------------------------------- vm.*


@requirement("vm.config-version", "L1 configuration version", needs=Step.L1_CREATED, after=VM_SETTINGS,
             reads="vm")
def judge_vm_config_version(vm: VMFacts, obs: Observations) -> Finding:
    h = obs.host
    need = required_vm_version(h.build, h.cpu_vendor) if h else None
    have = parse_version(vm.version)
    ev = {"vm": vm.name, "version": vm.version}
    if need is None:
        return passed(f"VM '{vm.name}' version {vm.version}", "no minimum on this build", **ev)
    required = f"configuration version >= {format_version(need)}" + (" on AMD" if h and h.is_amd else "")
    if have is None or have < need:
        remedy = fix(*off_first(vm), Cmd.of("Update-VMVersion", Name=vm.name, Force=SWITCH))
        if h and h.supported_versions and max(parse_version(v) or (0, 0) for v in h.supported_versions) < need:
            remedy += " (the host must be upgraded first: it cannot run that version)"
        return failed(f"VM '{vm.name}' version {vm.version}", required, remedy, **ev)
    return passed(f"VM '{vm.name}' version {vm.version}", required, **ev)


@requirement("vm.expose-extensions", "Virtualization extensions exposed to the L1", needs=Step.L1_CREATED,
             after=VM_SETTINGS, reads="vm")
def judge_vm_expose(vm: VMFacts, obs: Observations) -> Finding:
    required = "ExposeVirtualizationExtensions True (set while the VM is Off)"
    ev = {"vm": vm.name, "expose_virtualization_extensions": vm.expose_virtualization_extensions, "state": vm.state}
    if vm.expose_virtualization_extensions:
        return passed("ExposeVirtualizationExtensions True", required, **ev)
    return failed(f"ExposeVirtualizationExtensions False on VM '{vm.name}'", required,
              _vm_fix(vm, Cmd.of("Set-VMProcessor", VMName=vm.name, ExposeVirtualizationExtensions=True)),
              **ev)


@requirement("vm.dynamic-memory", "Static memory on the L1", needs=Step.L1_CREATED, after=VM_SETTINGS,
             reads="vm")
def judge_vm_dynamic_memory(vm: VMFacts, obs: Observations) -> Finding:
    ev = {"vm": vm.name, "dynamic_memory_enabled": vm.dynamic_memory_enabled}
    required = "static memory (DynamicMemoryEnabled False)"
    if not vm.dynamic_memory_enabled:
        return passed("DynamicMemoryEnabled False", required, **ev)
    why = ("it prevents the L1 from booting on preview builds" if obs.host and obs.host.build < GA_BUILD
           else "while Hyper-V runs in the L1 its memory is fixed and resizing a running L1 fails")
    return failed(f"DynamicMemoryEnabled True on VM '{vm.name}' ({why})", required,
              _vm_fix(vm, Cmd.of("Set-VMMemory", VMName=vm.name, DynamicMemoryEnabled=False)), **ev)


@requirement("vm.memory", "L1 memory (4 GB advised)", needs=Step.L1_CREATED, after=VM_SETTINGS,
             reads="vm")
def judge_vm_memory(vm: VMFacts, obs: Observations) -> Finding:
    gib = vm.memory_startup_bytes / GIB
    ev = {"vm": vm.name, "memory_startup_bytes": vm.memory_startup_bytes}
    required = "at least 4 GB startup memory (advised)"
    if vm.memory_startup_bytes >= ADVISED_MEMORY_BYTES:
        return passed(f"{gib:g} GB startup memory", required, **ev)
    # Microsoft's checker warns below 4 GB; it is not a failure.
    return advisory(f"{gib:g} GB startup memory on VM '{vm.name}'", required,
              _vm_fix(vm, Cmd.of("Set-VMMemory", VMName=vm.name, StartupBytes=ADVISED_MEMORY_BYTES)), **ev)


@requirement("vm.checkpoints", "No checkpoints on the L1", needs=Step.L1_CREATED, after=VM_SETTINGS,
             reads="vm")
def judge_vm_checkpoints(vm: VMFacts, obs: Observations) -> Finding:
    ev = {"vm": vm.name, "parent_checkpoint_id": vm.parent_checkpoint_id, "checkpoints": list(vm.checkpoints)}
    required = "no checkpoints (ParentCheckpointId null)"
    if vm.parent_checkpoint_id is None and not vm.checkpoints:
        return passed("no checkpoints", required, **ev)
    return failed(f"{len(vm.checkpoints) or 1} checkpoint(s) on VM '{vm.name}'", required,
              fix((Cmd.of("Get-VMSnapshot", VMName=vm.name), Cmd.of("Remove-VMSnapshot"))), **ev)


@requirement("vm.saved-state", "L1 not saved", needs=Step.L1_CREATED, after=VM_SETTINGS,
             reads="vm")
def judge_vm_saved_state(vm: VMFacts, obs: Observations) -> Finding:
    ev = {"vm": vm.name, "state": vm.state}
    required = "not in the Saved state"
    if vm.state != "Saved":
        return passed(f"state {vm.state}", required, **ev)
    return failed(f"VM '{vm.name}' is Saved", required,
              fix(Cmd.of("Remove-VMSavedState", VMName=vm.name)), **ev)


@requirement("vm.mac-spoofing", "MAC address spoofing for L2 networking", needs=Step.L1_CREATED, after=VM_SETTINGS,
             reads="vm")
def judge_vm_mac_spoofing(vm: VMFacts, obs: Observations) -> Finding:
    ev = {"vm": vm.name, "adapters": [dataclasses.asdict(a) for a in vm.adapters]}
    required = "MacAddressSpoofing On on the L1's network adapters (or NAT inside the L1) for L2 networking"
    if not vm.adapters:
        return advisory(f"VM '{vm.name}' has no network adapter", required,
                  fix(Cmd.of("Add-VMNetworkAdapter", VMName=vm.name)), **ev)
    off = [a.name for a in vm.adapters if a.mac_address_spoofing != "On"]
    if not off:
        return passed("MacAddressSpoofing On", required, **ev)
    return failed(f"MacAddressSpoofing Off on VM '{vm.name}' adapter(s) {', '.join(off)}", required,
              fix(Cmd.of("Set-VMNetworkAdapter", VMName=vm.name, MacAddressSpoofing="On")), **ev)


@requirement("vm.toggle-while-running", "Extensions cannot be toggled on a running VM", needs=Step.TOGGLE,
             after=NESTING)
def judge_vm_toggle(obs: Observations) -> Finding:
    t = obs.toggle
    if t is None:
        why = "read-only mode (--nested-vm): nothing is changed" if obs.vm_mode else "the L1 was never running"
        return skipped(why)
    required = "the platform refuses to change ExposeVirtualizationExtensions while the VM is not Off"
    ev = {"vm": t.vm_name, "state": t.state, "error": t.error, "fqid": t.fqid, "category": t.category}
    if t.refused:
        return passed(f"refused on {t.state} VM: {t.error}", required, **ev)
    return failed(f"Set-VMProcessor changed extensions on the {t.state} VM '{t.vm_name}' without error",
                  required, f"turn the VM off before Set-VMProcessor ({fix(Cmd.of('Stop-VM', Name=t.vm_name))}) and "
                  "report this regression to Microsoft", **ev)


# ---------------------------------------------------------------- guest.*, nested.*, negative.*

IN_L1 = (*NESTING, judge_vm_expose)


@requirement("guest.extensions-visible", "VMX/SVM and SLAT visible inside the L1", needs=Step.GUEST_REACHABLE,
             after=IN_L1, reads="guest_before")
def judge_guest_extensions(g: GuestFacts, obs: Observations) -> Finding:
    required = "VMMonitorModeExtensions and SLAT visible in the L1 (Win32_Processor) before Hyper-V is installed"
    ev = g.to_dict()
    if g.vm_monitor_mode_extensions and g.slat:
        return passed("VMMonitorModeExtensions True, SLAT True", required, **ev)
    name = obs.vm.name if obs.vm else g.vm_name
    return failed(f"in the L1: VMMonitorModeExtensions {g.vm_monitor_mode_extensions}, SLAT {g.slat}",
                  required, fix(Cmd.of("Stop-VM", Name=name, Force=SWITCH),
                                Cmd.of("Set-VMProcessor", VMName=name, ExposeVirtualizationExtensions=True)), **ev)


@dataclasses.dataclass(frozen=True)
class Cause:
    """A failure cause recognised by its error text or FQID fragments, and its remedy."""

    name: str
    signs: tuple[str, ...]  # any of these in the step's error or FQID (case-insensitive)
    remedy: Callable[[Observations, StepOutcome], str]

    def matches(self, outcome: StepOutcome) -> bool:
        text = f"{outcome.error or ''} {outcome.fqid or ''}".lower()
        return any(sign.lower() in text for sign in self.signs)


HOST_CRASH_FQID = "NestedHv.HostCrash"  # a step the host went down under (hyperv/recovery.py)
HOST_CRASH_REMEDY = ("the host itself went down (a bugcheck or a restart): on the host, Get-WinEvent "
                     "-FilterHashtable @{LogName='System'; Id=1001,41,6008,1074} -MaxEvents 10 shows why; attach "
                     "the dump that event 1001 names and this report to a bug report")
# a step's own remedy does not apply when the host crashed or restarted under it
HOST_CRASH = Cause("host-crash", (HOST_CRASH_FQID,), lambda obs, outcome: HOST_CRASH_REMEDY)


def _remedy(causes: tuple[Cause, ...], obs: Observations, outcome: StepOutcome) -> tuple[str, str]:
    """The first matching cause's (name, remedy); the last cause is the fallback and matches anything.
    A host crash comes before every step's own causes."""
    cause = next((c for c in (HOST_CRASH, *causes) if c.matches(outcome)), causes[-1])
    return cause.name, cause.remedy(obs, outcome)


def step_requirement(rid: str, title: str, steps: tuple[Step, ...], required: str, ok_text: str,
                     causes: tuple[Cause, ...], *, after: tuple[Earlier, ...] = IN_L1,
                     applies: Callable[[Observations], str | None] = lambda obs: None) -> None:
    """Register a requirement judged from lab step outcomes: it passes when every step in ``steps``
    succeeded; otherwise the first failed one is its finding, with the remedy for its cause."""

    def judge(obs: Observations) -> Finding:
        why_not = applies(obs)
        if why_not:
            return skipped(why_not)
        outcome = None
        for step in steps:
            outcome = obs.steps.get(step)
            if outcome is None:
                return skipped(f"lab step '{step}' was not reached")
            if not outcome.ok:
                cause, remedy = _remedy(causes, obs, outcome)
                return failed(outcome.error or f"step '{step}' failed", required, remedy, step=str(step),
                              cause=cause, error=outcome.error, fqid=outcome.fqid, **outcome.evidence)
        assert outcome is not None
        return passed(ok_text, required, step=str(steps[-1]), **outcome.evidence)

    judge.__name__ = f"judge_{rid.replace('.', '_').replace('-', '_')}"
    _REGISTERED.append(Requirement(rid, title, judge, steps[-1], _ids(after)))


def _text(remedy: str) -> Callable[[Observations, StepOutcome], str]:
    return lambda obs, outcome: remedy


def _install_from_source(obs: Observations, outcome: StepOutcome) -> str:
    # 0x800F081F: the image has no payload for the feature. Windows looks for it in -Source
    # (mounted installation media of the same build), then Windows Update unless -LimitAccess.
    server = obs.guest_before is None or obs.guest_before.is_server
    cmd = (Cmd.of("Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=SWITCH,
                  Source="wim:D:\\sources\\install.wim:4") if server
           else Cmd.of("Enable-WindowsOptionalFeature", Online=SWITCH, FeatureName="Microsoft-Hyper-V", All=SWITCH,
                       Source="D:\\sources\\sxs", LimitAccess=SWITCH))
    return ("the L1's image lacks the Hyper-V payload (0x800F081F, source files not found): attach the installation "
            f"media of the L1's build (D: here) and install from it: {fix(cmd)}; or build the L1 from an image that "
            "has the feature, or let the L1 reach Windows Update")


def _install_expose(obs: Observations, outcome: StepOutcome) -> str:
    name = obs.vm.name if obs.vm else "<L1>"
    return fix(*off_first(obs.vm) if obs.vm else (), Cmd.of("Set-VMProcessor", VMName=name,
                                                            ExposeVirtualizationExtensions=True)) + \
        "; then install Hyper-V in the L1 again"


def _install_log(obs: Observations, outcome: StepOutcome) -> str:
    return ("install Hyper-V in the L1 by hand and read the cause in its C:\\Windows\\Logs\\DISM\\dism.log "
            "(client) or C:\\Windows\\Logs\\CBS\\CBS.log")


step_requirement(
    "guest.hyperv-install", "Hyper-V installs inside the L1", (Step.HYPERV_INSTALLED,),
    "Hyper-V installs in the L1 over PowerShell Direct", "Hyper-V installed in the L1",
    (Cause("source-files-missing", ("0x800f081f", "source files could not be found"), _install_from_source),
     Cause("no-virtualization", ("required virtualization capabilities", "prerequisite check"), _install_expose),
     Cause("other", (), _install_log)))


def _reboot_remedy(obs: Observations, outcome: StepOutcome) -> str:
    name = obs.vm.name if obs.vm else "<L1>"
    return (f"the L1 did not come back from the reboot after the install: look at its console (vmconnect localhost "
            f"'{name}') and at the host's Worker-Admin log: "
            + fix(Cmd.of("Get-WinEvent", LogName="Microsoft-Windows-Hyper-V-Worker-Admin", MaxEvents=20)))


step_requirement(
    "guest.hypervisor", "Hypervisor running inside the L1", (Step.GUEST_REBOOTED, Step.GUEST_HYPERVISOR),
    "after the reboot (LastBootUpTime changed) HypervisorPresent True in the L1",
    "HypervisorPresent True after the reboot",
    (Cause("no-reboot", ("LastBootUpTime did not change", "turned Off", "not reached within"), _reboot_remedy),
     Cause("hypervisor-absent", (), _text(
         "Check the L1's System log for Microsoft-Windows-Hyper-V-Hypervisor event 41/42 (extensions not exposed) "
         "and expose them while the L1 is Off"))))


def _tools_remedy(obs: Observations, outcome: StepOutcome) -> str:
    # CommandNotFoundException for New-VM / New-VHD: the role runs, its PowerShell module is not installed
    server = obs.guest_before is None or obs.guest_before.is_server
    cmd = (Cmd.of("Install-WindowsFeature", Name="Hyper-V-PowerShell") if server
           else Cmd.of("Enable-WindowsOptionalFeature", Online=SWITCH,
                       FeatureName="Microsoft-Hyper-V-Management-PowerShell"))
    return f"install the Hyper-V management tools (its PowerShell module) in the L1: {fix(cmd)}"


step_requirement(
    "nested.create", "An L2 VM can be created in the L1", (Step.L2_CREATED,), "New-VM inside the L1 succeeds",
    "L2 created",
    (Cause("no-management-tools", ("CommandNotFoundException", "is not recognized as the name of a cmdlet"),
           _tools_remedy),
     Cause("other", (), _text("Make sure Hyper-V runs inside the L1 (Get-VMHost there), then New-VM again"))))

_WORKER_LOG = fix(Cmd.of("Get-WinEvent", LogName="Microsoft-Windows-Hyper-V-Worker-Admin", MaxEvents=20))

step_requirement(
    "nested.boot", "The L2 VM boots", (Step.L2_BOOTED,), "the L2 reaches Running and stays there", "L2 running",
    (Cause("hang", ("not reached within",), _text(
        "the L2 is running but its OS never reported a heartbeat (a hang, not a stop): watch its console inside the "
        "L1 (vmconnect localhost <L2>), check that the inner image boots as a Generation 2 VM with Secure Boot "
        "matching its OS, and that its integration services run (Get-VMIntegrationService inside the L1)")),
     Cause("stopped", (), _text(f"inside the L1, {_WORKER_LOG} shows why the L2 stopped (its bugcheck code)"))))

step_requirement(
    "nested.network", "The L2 VM has network", (Step.L2_NETWORK,), "the L2 gets an IP address (Wait-VM -For IPAddress)",
    "the L2 reported an IP address",
    (Cause("no-address", (), _text(
        "connect the L1 to a switch with DHCP (an External switch: --nested-switch NAME) and keep MacAddressSpoofing "
        "On on its adapter, or give the L2 NAT inside the L1 (New-NetNat)")),),
    applies=lambda obs: None if obs.inner_image else
    "needs --nested-inner-image (an L2 without an OS has no network stack)")


@requirement("negative.no-extensions", "An L1 without extensions is refused cleanly", needs=Step.NEGATIVE,
             after=HOST_INFRA)
def judge_negative(obs: Observations) -> Finding:
    outcome = obs.steps.get(Step.NEGATIVE)
    required = ("an L1 without exposed extensions is refused cleanly: Hyper-V will not install, or an L2 will "
                "not start, with the documented error")
    if outcome is None:
        return skipped(f"lab step '{Step.NEGATIVE}' was not reached")
    ev = {"error": outcome.error, "fqid": outcome.fqid, **outcome.evidence}
    refusal = str(outcome.evidence.get("refusal") or "")
    if outcome.ok and any(text in refusal for text in NO_EXTENSIONS_TEXTS):
        return passed(f"refused: {refusal}", required, **ev)
    if outcome.ok:
        return failed(f"refused with an undocumented error: {refusal}", required, _NEGATIVE_REMEDY, **ev)
    return failed(outcome.error or "the probe L1 was not refused", required, _NEGATIVE_REMEDY, **ev)


_NEGATIVE_REMEDY = ("Report it with the feedback bundle: the platform must refuse an L1 without exposed "
                    "extensions with the documented error")


# the catalog in the order of the lab: host, vm, guest, nested, negative
CATALOG: tuple[Requirement, ...] = tuple(_REGISTERED)
BY_ID: Mapping[str, Requirement] = {r.id: r for r in CATALOG}
IDS: tuple[str, ...] = tuple(r.id for r in CATALOG)


def _check_catalog() -> None:
    """``after`` names only earlier requirements (so causes resolve without cycles)."""
    for i, r in enumerate(CATALOG):
        unknown = [a for a in r.after if a not in IDS[:i]]
        if unknown:
            raise AssertionError(f"{r.id}: after={unknown} must name earlier catalog ids")


_check_catalog()


def reporter(step: Step) -> str:
    """The requirement that reports a failure of ``step``: the first one in the catalog whose
    lab path includes it (later ones are blocked by it)."""
    return next(r.id for r in CATALOG if r.needs is not None and step in r.needs.path())


def evaluate(rid: str, obs: Observations) -> Finding:
    return BY_ID[rid].evaluate(obs)
