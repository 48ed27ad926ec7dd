"""Host facts as labelled rows: the environment table of report.html and of feedback.md."""
from __future__ import annotations

from typing import Any

from .records import HostRecord

VBS_NAMES = {0: "off", 1: "enabled, not running", 2: "running"}
GIB = 1024**3


def _yes(value: Any) -> str:
    if value is None:
        return "unknown"
    return "yes" if value else "no"


def _gib(value: Any) -> str:
    try:
        return f"{int(value) / GIB:g} GB"
    except (TypeError, ValueError):
        return "unknown"


def host_rows(host: HostRecord) -> list[tuple[str, str]]:
    """(label, value) rows, in the order a Hyper-V engineer reads them."""
    f = host.facts
    rows: list[tuple[str, str]] = []
    if host.description:
        rows.append(("Target", host.description))
    if f:
        rows += [
            ("Build", host.build_text),
            ("BuildLabEx", str(f.get("build_lab_ex") or "")),
            *([("Windows Insider flight", str(f["flight"]))] if f.get("flight") else []),
            ("Edition", " / ".join(str(x) for x in (f.get("product_name"), f.get("edition_id"),
                                                      f.get("installation_type")) if x)),
            ("CPU", " ".join(str(x) for x in (f.get("cpu_vendor"), f.get("cpu_name")) if x)),
            ("Hypervisor present", _yes(f.get("hypervisor_present"))),
            ("Hyper-V role", _yes(f.get("hyperv_role_installed"))),
            ("VBS", VBS_NAMES.get(f.get("vbs_status"), "unknown")),
            ("BCD hypervisorloadoptions", str(f.get("bcd_load_options") or "(none)")),
            ("Supported configuration versions",
             ", ".join(f.get("supported_versions") or []) + (f" (default {f['default_version']})"
                                                            if f.get("default_version") else "")),
        ]
    vm = host.vm
    if vm:
        spoofing = ", ".join(f"{a.get('name')}: {a.get('mac_address_spoofing')}" for a in vm.get("adapters") or [])
        rows.append(("L1 VM", (
            f"{vm.get('name')}: version {vm.get('version')}, generation {vm.get('generation')}, "
            f"{vm.get('processor_count')} vCPU, {_gib(vm.get('memory_startup_bytes'))} "
            f"{'dynamic' if vm.get('dynamic_memory_enabled') else 'static'} memory, "
            f"extensions exposed: {_yes(vm.get('expose_virtualization_extensions'))}, "
            f"MAC spoofing: {spoofing or 'no adapter'}, checkpoints: {len(vm.get('checkpoints') or [])}"
        )))
    guest = host.guest
    if guest:
        rows.append(("Guest", (
            f"build {guest.get('build')}, {guest.get('caption') or 'unknown OS'}, "
            f"hypervisor present: {_yes(guest.get('hypervisor_present'))}"
        )))
    return rows
