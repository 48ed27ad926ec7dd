"""The world: the host node, the guest image, the scaled clock, the lock, persistence, waits."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..powershell.errors import PSError
from ..scenario import Scenario, VMSpec
from . import events, lifecycle, outage, persist, rules, state
from .clock import Clock, utc_now
from .state import VM, DiskFile, HardDisk, NetAdapter, Node, OSFacts, Secret, Snapshot, Switch

GB = 1024**3
STATE_FORMAT = 1
SERVER_HYPERV_FEATURES = ["Hyper-V", "RSAT-Hyper-V-Tools", "Hyper-V-Tools", "Hyper-V-PowerShell"]


@dataclasses.dataclass
class GuestImage:
    """The OS installed on the base images: what a VM booted from one runs."""

    build: int
    ubr: int
    edition: str
    installation_type: str
    product_name: str
    admin_user: str
    admin_secret: Secret
    boot_seconds: float
    hyperv_install: str  # "ok" | "fail" | "no-tools"
    hyperv_install_seconds: float
    base_images: list[str]


@dataclasses.dataclass
class NestedBehaviour:
    boot: str = "ok"  # "ok" | "crash" | "hang" | "host-bugcheck"
    crash_after_seconds: float = 20.0


@dataclasses.dataclass
class Faults:
    time_scale: float = 100.0
    latency_ms: int = 0
    drop_rate: float = 0.0
    accept_toggle_while_running: bool = False  # regression: Set-VMProcessor changes extensions on a running VM
    ignore_expose_extensions: bool = False  # regression: L1s get VT-x/AMD-V whether or not it is exposed
    refuse_nested_checkpoint: bool = False  # regression: Checkpoint-VM of a running L1 fails on a build that allows it
    accept_memory_change_while_running: bool = False  # regression: Set-VMMemory -DynamicMemoryEnabled on a running VM
    host_reboot_seconds: float = 240.0  # a crashed or restarted host answers again after this long
    host_restart_at: str = ""  # the lab step during which the host restarts once ("" never)
    host_restart_kind: str = "unexpected"  # or "planned"


class World:
    def __init__(self, host: Node, guest_image: GuestImage, nested: NestedBehaviour, faults: Faults,
                 clock: Clock, scenario_name: str = "") -> None:
        self.host = host
        self.guest_image = guest_image
        self.nested = nested
        self.faults = faults
        self.clock = clock
        self.scenario_name = scenario_name
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.on_change: Callable[[], None] | None = None
        self.waited_s = 0.0  # modelled seconds callers spent blocked in waits (benchmarks' critical path)
        self.outage: outage.Outage | None = None  # the host is (or will soon be) down until it ends
        self.last_outage: outage.Outage | None = None

    # -- time --
    def now(self) -> dt.datetime:
        return self.clock.now()

    def refresh(self) -> dt.datetime:
        """Bring every lazy transition up to date; returns the modelled now. Holds the lock."""
        with self.lock:
            now = self.now()
            if self.outage is not None and not self.outage.gone_down and now >= self.outage.at:
                outage.go_down(self)
            if self.outage is not None and now >= self.outage.back_at:
                outage.come_back(self)
                self.notify_change()
            before = lifecycle.next_due(self.host)
            lifecycle.refresh(self, self.host, now)
            if before is not None and before <= now:
                self.notify_change()
            return now

    @property
    def host_down(self) -> bool:
        """The host is crashed or restarting: nothing on it answers. Holds the lock. Applies no
        transition (the server asks all the time; VMs change only when somebody looks)."""
        with self.lock:
            return self.outage is not None and self.outage.at <= self.now() < self.outage.back_at

    def notify_change(self) -> None:
        with self.lock:
            self.changed.notify_all()
        if self.on_change is not None:
            self.on_change()

    def wait_until(self, done: Callable[[], bool], *, timeout: float | None, cancel: threading.Event) -> bool:
        """Block until ``done()`` (True), the modelled ``timeout`` passes (False), or ``cancel``
        is set (PSError PipelineStopped). The real time spent is the modelled time remaining
        divided by the time scale."""
        with self.lock:
            started = self.now()
            deadline = None if timeout is None else started + dt.timedelta(seconds=timeout)
        try:
            return self._wait(done, deadline, cancel)
        finally:
            with self.lock:
                self.waited_s += (self.now() - started).total_seconds()

    def _wait(self, done: Callable[[], bool], deadline: dt.datetime | None, cancel: threading.Event) -> bool:
        while True:
            if cancel.is_set():
                raise pipeline_stopped()
            with self.lock:
                now = self.refresh()
                if done():
                    return True
                if deadline is not None and now >= deadline:
                    return False
                targets = [t for t in (deadline, lifecycle.next_due(self.host)) if t is not None]
                modelled = (min(targets) - now).total_seconds() if targets else 3600.0
                # short slices: notice cancellation and changes made by other clients promptly
                self.changed.wait(min(self.clock.real_seconds(modelled) + 0.001, 0.05))

    def sleep(self, seconds: float, cancel: threading.Event) -> None:
        """Let ``seconds`` of modelled time pass (an install, a shutdown)."""
        self.wait_until(lambda: False, timeout=seconds, cancel=cancel)

    # -- structure --
    def nodes(self) -> Iterator[Node]:
        def walk(node: Node) -> Iterator[Node]:
            yield node
            for vm in node.vms:
                if vm.guest is not None:
                    yield from walk(vm.guest)
        return walk(self.host)

    def locate(self, guest: Node) -> tuple[Node, VM] | None:
        """The node and VM a guest node runs in (None for the host)."""
        for node in self.nodes():
            for vm in node.vms:
                if vm.guest is guest:
                    return node, vm
        return None

    def direct(self, node: Node, vm_name: str, user: str, password: str) -> Node:
        """PowerShell Direct from ``node`` into its VM ``vm_name``: the guest node, or PSError
        with the texts of docs/requirements.md#textpowershell-direct (as Invoke-Command -VMName writes them)."""
        with self.lock:
            self.refresh()
            matches = [vm for vm in node.vms if vm.name.lower() == vm_name.lower()]
            if len(matches) != 1:
                raise PSError("The input VMName parameter does not resolve to any virtual machine.",
                              category="InvalidArgument",
                              fqid="InvalidVMNameNotSingle,Microsoft.PowerShell.Commands.InvokeCommandCommand",
                              exception_type="System.ArgumentException", reason="ArgumentException")
            vm = matches[0]
            guest = vm.guest
            if vm.state != "Running" or guest is None or not guest.booted:
                raise PSError("An error has occurred which Windows PowerShell cannot handle. A remote session "
                              "might have ended.", category="InvalidOperation",
                              fqid="CreateRemoteRunspaceForVMFailed,Microsoft.PowerShell.Commands.InvokeCommandCommand",
                              exception_type="System.Management.Automation.PSRemotingDataStructureException",
                              reason="PSRemotingDataStructureException")
            if not self._credentials_ok(guest, user, password):
                raise PSError("The credential is invalid.", category="InvalidArgument",
                              fqid="CreateRemoteRunspaceForVMFailed,Microsoft.PowerShell.Commands.InvokeCommandCommand",
                              exception_type="System.Management.Automation.Runspaces.PSDirectException",
                              reason="PSDirectException")
            return guest

    def _credentials_ok(self, guest: Node, user: str, password: str) -> bool:
        name = user.split("\\")[-1]
        domain = user.split("\\")[0] if "\\" in user else ""
        if domain and domain.lower() not in (".", guest.os.computer_name.lower()):
            return False
        return name.lower() == self.guest_image.admin_user.lower() and self.guest_image.admin_secret.matches(password)

    # -- scenario --
    @classmethod
    def from_scenario(cls, scenario: Scenario) -> World:
        h = scenario.host
        now = utc_now()
        clock = Clock(origin=now, time_scale=scenario.faults.time_scale)
        facts = OSFacts(
            computer_name=h.computer_name, build=h.build, ubr=h.ubr, edition=h.edition,
            installation_type=h.installation_type,
            product_name=h.product_name or rules.product_name(h.build, h.installation_type, h.edition),
            cpu_vendor=h.cpu, cpu_model=h.cpu_model or rules.cpu_model(h.cpu),
            memory_bytes=h.memory_gb * GB, logical_processors=h.logical_processors,
            flight=h.flight, branch=h.branch,
        )
        boot_time = now - dt.timedelta(days=3)
        host = Node(os=facts, depth=0, vbs=h.vbs, bcd_offer_nested=h.bcd_offer_nested, last_boot=boot_time,
                    features=list(SERVER_HYPERV_FEATURES) if h.hyperv_feature else [],
                    # a host with the role but no hypervisor: hypervisorlaunchtype Off in its BCD
                    hypervisor_launch=h.hypervisor_present or not h.hyperv_feature,
                    hypervisor_running=h.hypervisor_present and h.hyperv_feature)
        host.files = [DiskFile(p, 20 * GB, base_image=True, created=boot_time) for p in h.base_images]
        if host.hypervisor_running:
            events.hypervisor_started(host, boot_time)
        if h.hyperv_feature and h.vswitch != "none":
            client = h.installation_type == "Client"
            name, kind = ("Default Switch", "Internal") if client else ("External", "External")
            if h.vswitch == "internal":
                name, kind = "Lab", "Internal"
            host.switches.append(Switch(uuid.uuid5(uuid.NAMESPACE_DNS, h.computer_name + "/switch"), name, kind))
        g = scenario.guest
        image = GuestImage(
            build=g.build, ubr=g.ubr, edition=g.edition, installation_type=g.installation_type,
            product_name=g.product_name, admin_user=g.admin_user, admin_secret=Secret.make(g.admin_password),
            boot_seconds=g.boot_seconds, hyperv_install=g.hyperv_install,
            hyperv_install_seconds=g.hyperv_install_seconds, base_images=list(g.base_images),
        )
        world = cls(host, image, NestedBehaviour(scenario.nested.boot, scenario.nested.crash_after_seconds),
                    Faults(scenario.faults.time_scale, scenario.faults.latency_ms, scenario.faults.drop_rate,
                           scenario.faults.accept_toggle_while_running, scenario.faults.ignore_expose_extensions,
                           scenario.faults.refuse_nested_checkpoint,
                           scenario.faults.accept_memory_change_while_running,
                           h.reboot_seconds, scenario.faults.host_restart_at, scenario.faults.host_restart_kind),
                    clock, scenario.name)
        for spec in scenario.vms:
            world._add_scenario_vm(spec, boot_time)
        return world

    def _add_scenario_vm(self, spec: VMSpec, boot_time: dt.datetime) -> None:
        host = self.host
        created = boot_time - dt.timedelta(days=30)
        vm = new_vm(host, spec.name, created, version=spec.version or rules.default_version(host.os.build),
                    generation=spec.generation, memory_startup=int(spec.memory_startup_gb * GB),
                    switch_name=host.switches[0].name if host.switches else None)
        vm.processor_count = spec.processor_count
        vm.expose_virtualization_extensions = spec.expose_virtualization_extensions
        vm.dynamic_memory = spec.dynamic_memory
        vm.notes = spec.notes
        vm.adapters[0].mac_spoofing = spec.mac_spoofing == "On"
        if spec.base_image:
            disk = f"{host.vhd_path}\\{spec.name}.vhdx"
            if host.file(spec.base_image) is None:
                raise ValueError(f"[[vm]] {spec.name}: base_image {spec.base_image!r} is not in [host] base_images")
            host.files.append(DiskFile(disk, 4 * GB, parent=spec.base_image, created=created))
            vm.disks.append(HardDisk(disk))
        parent: uuid.UUID | None = None
        for i in range(spec.checkpoints):
            snap = Snapshot(uuid.uuid4(), f"{spec.name} - ({created + dt.timedelta(days=i + 1):%m/%d/%Y - %I:%M:%S %p})",
                            created + dt.timedelta(days=i + 1), parent, "Off", vm.processor_count,
                            vm.memory_startup, vm.dynamic_memory, vm.notes)
            vm.snapshots.append(snap)
            parent = snap.id
        vm.parent_snapshot_id = parent
        if spec.state in ("Running", "Saved"):
            if lifecycle.has_os(host, vm):
                vm.guest = lifecycle.make_guest(self, host, vm)
                lifecycle.complete_boot(self, host, vm, boot_time + dt.timedelta(minutes=5))
            vm.state, vm.state_since = spec.state, boot_time + dt.timedelta(minutes=5)
            vm.started_at = vm.state_since if spec.state == "Running" else None

    # -- persistence --
    def to_dict(self) -> dict[str, Any]:
        """Everything, as JSON-ready data; secrets appear only as salted hashes."""
        with self.lock:
            self.refresh()
            return {
                "format": STATE_FORMAT,
                "scenario": self.scenario_name,
                "modelled_now": self.now().isoformat(),
                "time_scale": self.clock.time_scale,
                "host": persist.encode(self.host),
                "guest_image": persist.encode(self.guest_image),
                "nested": persist.encode(self.nested),
                "faults": persist.encode(self.faults),
                "outage": persist.encode(self.outage),
            }

    def save(self, path: str | Path) -> None:
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        with self.lock:  # two clients' requests may end at once: one writer of the file at a time
            tmp.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
            tmp.replace(target)  # atomic: a reader never sees half a file

    @classmethod
    def load(cls, path: str | Path) -> World:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"{path}: not a sim state file (format {data.get('format')!r})")
        ns = {**vars(state), **globals()}
        clock = Clock(origin=dt.datetime.fromisoformat(data["modelled_now"]), time_scale=data["time_scale"])
        world = cls(persist.decode(Node, data["host"], ns), persist.decode(GuestImage, data["guest_image"], ns),
                    persist.decode(NestedBehaviour, data["nested"], ns), persist.decode(Faults, data["faults"], ns),
                    clock, data.get("scenario", ""))
        world.outage = persist.decode(outage.Outage, data.get("outage"), ns)
        return world


def new_vm(node: Node, name: str, created: dt.datetime, *, version: str, generation: int, memory_startup: int,
           switch_name: str | None, path: str | None = None) -> VM:
    vm_id = uuid.uuid4()
    folder = path or node.vm_path
    vm = VM(id=vm_id, name=name, path=folder, created=created, version=version, generation=generation,
            state_since=created, memory_startup=memory_startup)
    vm.adapters.append(NetAdapter(id=f"Microsoft:{str(vm_id).upper()}\\{str(uuid.uuid4()).upper()}",
                                  switch_name=switch_name, mac_address="00155D" + vm_id.hex[:6].upper()))
    node.vms.append(vm)
    return vm


def pipeline_stopped() -> PSError:
    return PSError("The pipeline has been stopped.", category="OperationStopped", fqid="PipelineStopped",
                   exception_type="System.Management.Automation.PipelineStoppedException", terminating=True)
