"""The persisted data of the Hyper-V world: plain dataclasses, no behaviour beyond lookups.

Behaviour lives next door: ``lifecycle`` (VM state machine), ``guest`` (the OS inside a VM),
``rules`` (nested-virtualization requirements), ``world`` (clock, lock, persistence).
Timestamps are modelled time (see ``clock``), so a saved world can be resumed later.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import hashlib
import hmac
import os
import uuid

@dataclasses.dataclass
class Secret:
    """A password kept only as a salted hash, so state files and reprs never hold it."""

    salt: str
    digest: str

    @classmethod
    def make(cls, password: str) -> Secret:
        salt = os.urandom(16).hex()
        return cls(salt, cls._hash(salt, password))

    @staticmethod
    def _hash(salt: str, password: str) -> str:
        return hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), 1000).hex()

    def matches(self, password: str) -> bool:
        return hmac.compare_digest(self.digest, self._hash(self.salt, password))

    def __repr__(self) -> str:
        return "Secret(***)"


@dataclasses.dataclass
class OSFacts:
    computer_name: str
    build: int
    ubr: int
    edition: str  # EditionID
    installation_type: str  # "Server" | "Client"
    product_name: str
    cpu_vendor: str  # "GenuineIntel" | "AuthenticAMD"
    cpu_model: str
    memory_bytes: int
    logical_processors: int
    flight: str = ""  # Windows Insider channel (WindowsSelfHost\Applicability BranchName); "": not enrolled
    branch: str = "ge_release"  # the build's branch, as BuildLab/BuildLabEx/BuildBranch name it


@dataclasses.dataclass
class DiskFile:
    """A file the node's file system knows: a virtual disk (maybe differencing) or another file."""

    path: str
    size_bytes: int = 0
    parent: str | None = None  # differencing disks: the parent's path
    base_image: bool = False  # a disk holding an installed OS
    created: dt.datetime | None = None


@dataclasses.dataclass
class EventRecord:
    record_id: int
    log_name: str
    provider: str
    event_id: int
    level: int  # 1 critical, 2 error, 3 warning, 4 information
    message: str
    time_created: dt.datetime


@dataclasses.dataclass
class NetAdapter:
    id: str
    name: str = "Network Adapter"
    switch_name: str | None = None
    mac_address: str = "000000000000"
    dynamic_mac: bool = True
    mac_spoofing: bool = False


@dataclasses.dataclass
class IPAddress:
    """A static address set inside a guest (New-NetIPAddress) on one of its interfaces."""

    interface_alias: str  # "Ethernet", "Ethernet 2"... (see interface_alias)
    address: str
    prefix_length: int


def interface_alias(position: int) -> str:
    """The name Windows gives a VM's n-th network adapter inside the guest."""
    return "Ethernet" if position == 0 else f"Ethernet {position + 1}"


@dataclasses.dataclass
class HardDisk:
    path: str
    controller_type: str = "SCSI"
    controller_number: int = 0
    controller_location: int = 0


@dataclasses.dataclass
class Snapshot:
    id: uuid.UUID
    name: str
    created: dt.datetime
    parent_id: uuid.UUID | None
    state: str  # the VM's state when taken
    processor_count: int
    memory_startup: int
    dynamic_memory: bool
    notes: str


@dataclasses.dataclass
class Switch:
    id: uuid.UUID
    name: str
    switch_type: str  # "Private" | "Internal" | "External"
    notes: str = ""
    allow_management_os: bool = True


@dataclasses.dataclass
class Nat:
    name: str
    internal_prefix: str = ""
    external_prefix: str = ""


@dataclasses.dataclass
class VM:
    id: uuid.UUID
    name: str
    path: str  # configuration folder
    created: dt.datetime
    version: str
    generation: int
    state: str = "Off"  # a VMState name
    state_since: dt.datetime | None = None
    started_at: dt.datetime | None = None  # for Uptime
    processor_count: int = 1
    expose_virtualization_extensions: bool = False
    memory_startup: int = 1024**3
    dynamic_memory: bool = False
    memory_minimum: int = 512 * 1024**2
    memory_maximum: int = 1024**4
    notes: str = ""
    adapters: list[NetAdapter] = dataclasses.field(default_factory=list)
    disks: list[HardDisk] = dataclasses.field(default_factory=list)
    snapshots: list[Snapshot] = dataclasses.field(default_factory=list)
    parent_snapshot_id: uuid.UUID | None = None
    automatic_checkpoints: bool = True
    checkpoint_type: str = "Production"
    automatic_start_action: str = "StartIfRunning"  # what the host does with it when it boots (New-VM's default)
    guest: Node | None = None  # the OS on the VM's disk; created at first boot
    boot_due: dt.datetime | None = None  # when the guest OS finishes (re)booting
    crash_due: dt.datetime | None = None  # when the guest crashes (an L2 under [nested] boot = "crash")
    hangs: bool = False  # the guest never finishes booting
    last_off_reason: str = ""  # why it last turned off on its own


@dataclasses.dataclass
class Node:
    """A machine that can hold VMs: the physical host, or a guest OS inside a VM."""

    os: OSFacts
    depth: int = 0  # 0 the host, 1 an L1 guest, 2 an L2 guest
    features: list[str] = dataclasses.field(default_factory=list)  # installed and effective
    pending_features: list[str] = dataclasses.field(default_factory=list)  # installed, reboot needed
    hypervisor_launch: bool = True  # BCD hypervisorlaunchtype Auto
    hypervisor_running: bool = False
    bcd_offer_nested: bool = True
    vbs: str = "off"  # "off" | "enabled" | "running"
    booted: bool = True  # a guest is up (PowerShell Direct answers); the host always is
    last_boot: dt.datetime | None = None
    boot_count: int = 1
    files: list[DiskFile] = dataclasses.field(default_factory=list)
    vms: list[VM] = dataclasses.field(default_factory=list)
    switches: list[Switch] = dataclasses.field(default_factory=list)
    nats: list[Nat] = dataclasses.field(default_factory=list)
    addresses: list[IPAddress] = dataclasses.field(default_factory=list)  # static ones (New-NetIPAddress)
    events: list[EventRecord] = dataclasses.field(default_factory=list)
    next_record_id: int = 1
    vm_path: str = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"
    vhd_path: str = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks"

    # -- lookups (case-insensitive, wildcards as PowerShell's -like) --
    def find_vms(self, pattern: str) -> list[VM]:
        return [vm for vm in self.vms if wildcard_match(pattern, vm.name)]

    def vm_by_id(self, vm_id: uuid.UUID) -> VM | None:
        return next((vm for vm in self.vms if vm.id == vm_id), None)

    def file(self, path: str) -> DiskFile | None:
        key = normalize_path(path)
        return next((f for f in self.files if normalize_path(f.path) == key), None)

    def has_feature(self, name: str) -> bool:
        return name.lower() in (f.lower() for f in self.features)

    def has_pending_feature(self, name: str) -> bool:
        return name.lower() in (f.lower() for f in self.pending_features)

def has_wildcard(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def wildcard_match(pattern: str, name: str) -> bool:
    if not has_wildcard(pattern):
        return pattern.lower() == name.lower()
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


def normalize_path(path: str) -> str:
    return path.replace("/", "\\").rstrip("\\").lower()
