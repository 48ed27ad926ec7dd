"""A hand-made run: one host, a lab that fails at the L2 boot, a secret in one command."""
from __future__ import annotations

import dataclasses
import datetime

from pytest_nestedhv.hyperv.facts import HostFacts
from pytest_nestedhv.remote.commands import Cmd
from pytest_nestedhv.remote.secrets import GuestCredential, Secret, SecretMask
from pytest_nestedhv.remote.transcript import TranscriptEntry
from pytest_nestedhv.reporting.records import EventRecord, HostRecord, PhaseRecord, RunRecord, TestRecord
from pytest_nestedhv.reporting.wire import encode_entry, iso

PASSWORD = "Sup3r-Secret-Pw!"
T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
L1 = "nestedhv-abc123-l1"
L2 = "nestedhv-abc123-l2"
DISK = r"C:\VMs\nestedhv-abc123-l1.vhdx"

FACTS = HostFacts(
    computer_name="HV01", build=26100, ubr=2033, build_lab_ex="26100.1.amd64fre.ge_release.240331-1435",
    product_name="Windows Server 2025 Datacenter", edition_id="ServerDatacenter", installation_type="Server",
    hypervisor_present=True, cpu_vendor="GenuineIntel", cpu_name="Intel(R) Xeon(R) Gold 6338",
    virtualization_firmware_enabled=None, slat=None, vm_monitor_mode_extensions=None, hyperv_role_installed=True,
    vmms_running=True, vbs_status=0, vbs_services_running=(), bcd_offer_nested=True, bcd_load_options="",
    supported_versions=("9.0", "12.0"), default_version="12.0", memory_capacity_bytes=64 * 1024**3,
    logical_processors=16,
)


def mask() -> SecretMask:
    return SecretMask([Secret(PASSWORD)])


def _entry(i: float, pipeline: tuple[Cmd, ...], step: str | None, test: str, phase: str = "setup",
           target: str = "host", error: str | None = None) -> dict:
    entry = TranscriptEntry(T0 + datetime.timedelta(seconds=i), 0.25, target, pipeline,
                            "error" if error else "ok", error, step)
    return dataclasses.asdict(encode_entry(entry, mask(), test, phase))


def run(*, fail: bool = True) -> RunRecord:
    cred = GuestCredential("Administrator", Secret(PASSWORD))
    t_host = "suites/test_host.py::test_build[hv01]"
    t_create = "suites/test_nested.py::test_create[hv01]"
    t_boot = "suites/test_nested.py::test_boot[hv01]"
    t_net = "suites/test_nested.py::test_network[hv01]"
    entries = [
        _entry(0, (Cmd.of("Get-ItemProperty", Path=r"HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion"),), None, t_host),
        _entry(1, (Cmd("bcdedit", (("", "/enum"),)),), None, t_host),
        _entry(2, (Cmd.of("New-VHD", Path=DISK, ParentPath=r"C:\Images\base.vhdx", Differencing=True),), "l1-created", t_create),
        _entry(3, (Cmd.of("New-VM", Name=L1, Generation=2, VHDPath=DISK, MemoryStartupBytes=4 * 1024**3),), "l1-created", t_create),
        _entry(4, (Cmd.of("Set-VMProcessor", VMName=L1, ExposeVirtualizationExtensions=True),), "l1-created", t_create),
        _entry(5, (Cmd.of("Start-VM", Name=L1),), "l1-booted", t_create),
        _entry(6, (Cmd.of("Wait-VM", Name=L1, For="Heartbeat", Timeout=10),), "l1-booted", t_create,
               error="This command stopped operation because the specified condition is not satisfied in the specified time-out."),
        _entry(7, (Cmd.of("Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=True),), "hyperv-installed",
               t_create, target=f"guest:{L1}"),
        _entry(8, (Cmd.of("New-VM", Name=L2, Generation=2, NoVHD=True),), "l2-created", t_create, target=f"guest:{L1}"),
        # a command that carried a secret: it must render as a variable
        _entry(9, (Cmd.of("Invoke-Command", VMName=L1, Credential=cred),), "l2-created", t_create),
        _entry(10, (Cmd.of("Start-VM", Name=L2),), "l2-booted", t_boot, target=f"guest:{L1}"),
        _entry(11, (Cmd.of("Get-VM", Name=L2),), "l2-booted", t_boot, target=f"guest:{L1}",
               error=f"the L2 '{L2}' is Off after Start-VM, not Running") if fail else
        _entry(11, (Cmd.of("Get-VM", Name=L2),), "l2-booted", t_boot, target=f"guest:{L1}"),
        _entry(12, (Cmd.of("Get-WinEvent", FilterHashtable={"LogName": "System"}, MaxEvents=5),), "report:events",
               t_boot, phase="call"),
        _entry(13, (Cmd.of("Stop-VM", Name=L1, TurnOff=True, Force=True),), None, t_net, phase="teardown"),
        _entry(14, (Cmd.of("Remove-VM", Name=L1, Force=True),), None, t_net, phase="teardown"),
    ]
    host = HostRecord("hv01", build=26100, ubr=2033, facts=FACTS.to_dict(), guest_user="Administrator",
                      vm={"name": L1, "version": "12.0", "generation": 2, "processor_count": 2,
                          "memory_startup_bytes": 4 * 1024**3, "dynamic_memory_enabled": False,
                          "expose_virtualization_extensions": True, "checkpoints": [],
                          "adapters": [{"name": "Network Adapter", "mac_address_spoofing": "On"}]},
                      guest={"build": 26100, "caption": "Microsoft Windows Server 2025 Datacenter",
                             "hypervisor_present": True})
    from pytest_nestedhv.reporting.records import EntryRecord
    host.entries = [EntryRecord.from_dict(e) for e in entries]
    steps = ["host-checked", "l1-created", "l1-booted", "hyperv-installed", "guest-rebooted", "l2-created", "l2-booted"]
    host.phases = [PhaseRecord(s, iso(T0 + datetime.timedelta(seconds=i * 30)) or "", 25.0 + i, ok=not (fail and s == "l2-booted"),
                               error="the L2 is Off" if fail and s == "l2-booted" else None) for i, s in enumerate(steps)]
    if fail:
        host.events = [EventRecord(f"guest:{L1}", "Microsoft-Windows-Hyper-V-Worker-Admin", 18590, "Error",
                                   "Microsoft-Windows-Hyper-V-Worker", iso(T0), f"'{L2}' has encountered a fatal error.",
                                   test=t_boot)]
    tests = {
        t_host: TestRecord(t_host, "hv01", "host.build", "info", "passed", 0.1, iso(T0) or ""),
        t_create: TestRecord(t_create, "hv01", "nested.create", "info", "passed", 40.0, iso(T0) or ""),
        t_boot: TestRecord(t_boot, "hv01", "nested.boot", "error", "failed" if fail else "passed", 5.0, iso(T0) or "",
                           message="nested.boot: found the L2 is Off; required Running" if fail else "",
                           longrepr="nested.boot: found the L2 is Off; required Running" if fail else "",
                           finding={"status": "fail" if fail else "pass", "found": "the L2 is Off",
                                    "required": "the L2 Running", "remedy": "Set-VMProcessor -VMName x -ExposeVirtualizationExtensions $true",
                                    "evidence": {"state": "Off", "vm": L2}}),
        t_net: TestRecord(t_net, "hv01", "nested.network", "skipped", "skipped", 0.0, iso(T0) or "",
                          message="needs --nested-inner-image"),
    }
    return RunRecord(run_id="abc123", started=iso(T0) or "", hosts={"hv01": host}, tests=tests)
