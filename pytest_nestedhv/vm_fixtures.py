"""Public fixtures for writing your own nested tests: ``nested_l1`` and ``nested_inner_vm``.

``nested_l1`` is the nesting-enabled L1 with Hyper-V running inside, built once per host and
per shape (``@pytest.mark.nested_l1(memory=..., processors=..., version=..., generation=...)``)
on first use and removed at the end of the session. ``nested_inner_vm(...)`` creates L2s inside
it for one test and removes them when the test ends. Both hand out ``VM`` handles
(pytest_nestedhv.hyperv.machines). Loaded by the plugin; imports nothing heavy until used.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import logging
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .handover import item_failed

if TYPE_CHECKING:
    from .hyperv.lab import Lab
    from .hyperv.machines import VM, HyperVHost
    from .hyperv.names import RunNames

log = logging.getLogger("pytest_nestedhv.fixtures")

MARKER = "nested_l1"
MARKER_HELP = ("nested_l1(memory='4GB', processors=2, version=None, generation=None): the shape of the L1 this "
               "test's nested_l1 / nested_inner_vm use; tests asking for the same shape share one L1")
EXIT_BAD_INPUT = pytest.ExitCode.USAGE_ERROR
DEFAULT_L1_MEMORY = 4 * 1024**3
DEFAULT_L1_PROCESSORS = 2
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|TB)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}


def l1_ready_step() -> str:
    """The lab step after which the L1 runs Hyper-V (the one place that names it)."""
    from .hyperv.steps import GUEST_HYPERVISOR

    return GUEST_HYPERVISOR


class ShapeError(ValueError):
    """A nested_l1 marker argument that makes no sense, or a shape this host cannot have."""


def parse_size(value: Any, what: str) -> int:
    """``"8GB"``, ``"512MB"`` or a byte count, as bytes (PowerShell's units: powers of 1024)."""
    if isinstance(value, bool):
        raise ShapeError(f"{what}={value!r}: give a size such as '4GB' or '512MB'")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(str(value))
        if match is None:
            raise ShapeError(f"{what}={value!r}: give a size such as '4GB' or '512MB'")
        size = int(match.group(1)) * _UNITS[(match.group(2) or "b").lower()]
    if size <= 0:
        raise ShapeError(f"{what}={value!r}: must be more than 0")
    return size


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ShapeError(f"{what}={value!r}: give a whole number of at least 1")
    return value


@dataclasses.dataclass(frozen=True)
class L1Shape:
    """What an L1 looks like; equal shapes share one L1. None: the lab's default."""

    memory_bytes: int = DEFAULT_L1_MEMORY
    processors: int = DEFAULT_L1_PROCESSORS
    version: str | None = None
    generation: int | None = None

    @classmethod
    def from_marker(cls, marker: pytest.Mark | None) -> L1Shape:
        if marker is None:
            return cls()
        if marker.args:
            raise ShapeError("takes keyword arguments only (memory=, processors=, version=, generation=)")
        kwargs = dict(marker.kwargs)
        unknown = sorted(set(kwargs) - {"memory", "processors", "version", "generation"})
        if unknown:
            raise ShapeError(f"unknown argument {unknown[0]!r} (known: memory, processors, version, generation)")
        generation = kwargs.get("generation")
        if generation is not None and generation not in (1, 2):
            raise ShapeError(f"generation={generation!r}: 1 or 2")
        version = kwargs.get("version")
        if version is not None and not re.fullmatch(r"\d+\.\d+", str(version)):
            raise ShapeError(f"version={version!r}: a configuration version such as '9.0'")
        return cls(
            memory_bytes=parse_size(kwargs.get("memory", DEFAULT_L1_MEMORY), "memory"),
            processors=_positive_int(kwargs.get("processors", DEFAULT_L1_PROCESSORS), "processors"),
            version=None if version is None else str(version),
            generation=generation,
        )

    @property
    def is_default(self) -> bool:
        """The lab's own L1 (the one the suite builds): shared with it (shared_l1.py)."""
        return (self.memory_bytes, self.processors, self.version, self.generation or 2) == (
            DEFAULT_L1_MEMORY, DEFAULT_L1_PROCESSORS, None, 2)

    def refusal(self, facts: Any) -> str | None:
        """Why this host cannot have this shape (None: it can)."""
        if self.version is not None and facts.supported_versions and self.version not in facts.supported_versions:
            return (f"version {self.version} is not supported on {facts.computer_name} (build {facts.build_text}); "
                    f"it supports {', '.join(facts.supported_versions)}")
        capacity = facts.memory_capacity_bytes
        if capacity and self.memory_bytes > capacity:
            return (f"memory {self.memory_bytes // 1024**2}MB is more than {facts.computer_name} has "
                    f"({capacity // 1024**2}MB)")
        cpus = facts.logical_processors
        if cpus and self.processors > cpus:
            return f"processors {self.processors} is more than {facts.computer_name} has ({cpus} logical processors)"
        return None


@dataclasses.dataclass
class _Built:
    lab: Lab
    vm: VM
    error: str | None = None
    adopted: bool = False  # the suite's lab: its owner removes it


class L1Pool:
    """The L1s of one host, one per shape, built on first use and removed at the end."""

    def __init__(self, host: HyperVHost, config: pytest.Config, progress: Any = None, watch: Any = None) -> None:
        self.host = host
        self.config = config  # the default shape's Lab is shared with the suite's (shared_l1.py)
        self.progress = progress  # hyperv.waits.Progress: long lab steps report there
        self.watch = watch  # hyperv.recovery.HostRecovery: waits for a host that went away mid-step
        self.built: dict[L1Shape, _Built] = {}
        self.l2_numbers = itertools.count(1)

    def get(self, shape: L1Shape) -> _Built:
        built = self.built.get(shape)
        if built is None:
            built = self.built[shape] = self._build(shape, len(self.built) + 1)
        if built.error is None and built.lab.host_crash is not None:  # the L1 went down with its host
            built.error = f"the host went down under the run: {built.lab.host_crash.message()}"
        if built.error is None:
            from .hyperv.lab import LabBlocked

            try:
                built.lab.require(l1_ready_step())
            except LabBlocked as err:
                built.error = str(err)
        return built

    def _build(self, shape: L1Shape, index: int) -> _Built:
        from .hyperv.lab import Lab, LabConfig
        from .hyperv.machines import VM
        from .hyperv.names import shape_run_id
        from .shared_l1 import share_lab, shared_lab

        host = self.host
        if shape.is_default and (suite_lab := shared_lab(self.config, host.label)) is not None:
            return _Built(suite_lab, VM(suite_lab.names.l1, host.machine, host.guest_credential), adopted=True)
        known = {f.name for f in dataclasses.fields(LabConfig)}
        extra: dict[str, Any] = {}
        for field, value in (("version", shape.version), ("generation", shape.generation)):
            if value is not None:
                if field not in known:  # the lab of this version builds generation 2, default version only
                    raise ShapeError(f"{field}= is not supported by this version of the lab")
                extra[field] = value
        config = LabConfig(run_id=shape_run_id(host.run_id, index), base_image=host.base_image,
                           guest_cred=host.guest_credential, inner_image=host.inner_image,
                           switch=host.settings.switch, memory_bytes=shape.memory_bytes,
                           processor_count=shape.processors, progress=self.progress, **extra)
        lab = Lab(host.session, config, host=host.facts)  # the facts also name the build in the reports
        lab.on_host_lost = self.watch
        if shape.is_default:
            share_lab(self.config, host.label, lab)
        return _Built(lab, VM(lab.names.l1, host.machine, host.guest_credential))

    def cleanup(self, keep: Any, failed: bool) -> list[str]:
        removed: list[str] = []
        for built in self.built.values():
            if built.adopted:
                continue
            try:
                removed += built.lab.cleanup(keep, failed)
            except Exception as err:  # noqa: BLE001 - one L1's cleanup must not stop the others'
                log.error("cleanup of %s failed: %s", built.vm.name, err)
        return removed


# ------------------------------------------------------------------------------ hooks

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def nested_l1_pool(request: pytest.FixtureRequest, nested_host: HyperVHost) -> Iterator[L1Pool]:
    """The L1s built on this host, one per ``nested_l1`` shape; removed at the end of the session
    (also after a failure or Ctrl-C), kept as ``--nested-keep`` says."""
    if nested_host.settings.vm:
        pytest.skip(f"read-only mode (--nested-vm {nested_host.settings.vm}): no L1 is built")
    from .host_watch import host_watch
    from .reporting.verdict import notes_for
    from .terminal import terminal_progress

    pool = L1Pool(nested_host, request.config, terminal_progress(request.config, nested_host.label,
                                                 nested_host.settings.progress_interval_s),
                  watch=host_watch(request.config, nested_host))
    try:
        yield pool
    finally:
        removed = pool.cleanup(nested_host.settings.keep, request.session.testsfailed > 0)
        if removed:
            log.info("cleanup on %s removed %s", nested_host.label, ", ".join(removed))
        if pool.built:  # the verdict says what was cleaned up
            notes = notes_for(request.config, nested_host.label)
            notes.lab, notes.cleaned = True, True
            notes.removed = [*notes.removed, *(name for name in removed if name not in notes.removed)]
            notes.survived += [c.message() for b in pool.built.values() if not b.adopted
                               for c in b.lab.survived if c.message() not in notes.survived]


@pytest.fixture
def nested_l1(request: pytest.FixtureRequest, nested_host: HyperVHost, nested_l1_pool: L1Pool) -> VM:
    """The nesting-enabled L1 VM with Hyper-V running inside, as a ``VM`` handle; one per host and
    per ``@pytest.mark.nested_l1(memory="8GB", processors=4, version="9.0", generation=2)`` shape.

    The default shape is 4GB and 2 processors. Tests asking for the same shape share one L1, built
    on first use and removed at the end of the session. ``nested_l1.run("Get-Service", Name="vmms")``
    runs a cmdlet inside it over PowerShell Direct. A shape the host cannot have is an error naming
    the marker; a lab step that failed is an error naming the step.
    """
    from .hyperv.lab import LabConfigError

    marker = request.node.get_closest_marker(MARKER)
    problem = None
    try:
        shape = L1Shape.from_marker(marker)
        refusal = shape.refusal(nested_host.facts) if marker is not None else None
        if refusal:
            raise ShapeError(refusal)
        built = nested_l1_pool.get(shape)
    except ShapeError as err:
        problem = f"{_marker_text(marker) if marker else MARKER}: {err}"
    except LabConfigError as err:
        pytest.exit(f"{nested_host.label}: {err}", returncode=EXIT_BAD_INPUT)
    if problem is not None:  # outside the except: one line, no chained traceback
        _fail(problem)
    if built.error is not None:
        _fail(f"nested_l1 on {nested_host.label}: the L1 could not be built: {built.error}")
    return built.vm.refresh()  # the handle is shared between tests: each starts with today's state


def _marker_text(marker: pytest.Mark) -> str:
    args = [repr(a) for a in marker.args] + [f"{k}={v!r}" for k, v in marker.kwargs.items()]
    return f"@pytest.mark.{marker.name}({', '.join(args)})"


@dataclasses.dataclass
class _Created:
    vm: VM
    disk: str | None


class InnerVMFactory:
    """``nested_inner_vm(...)``: creates L2s in the L1 and remembers them for removal."""

    def __init__(self, l1: VM, host: HyperVHost, names: RunNames, numbers: Iterator[int]) -> None:
        self.l1 = l1
        self.host = host
        self.names = names  # the L1's lab: names and Notes tag of everything made in it
        self.tag = names.tag
        self.numbers = numbers
        self.created: list[_Created] = []

    def __call__(self, generation: int = 2, memory: str | int = "512MB", processors: int = 1,
                 image: str | None = None, name: str | None = None, start: bool = True,
                 switch: str | None = None) -> VM:
        """Create an L2 in the L1 and return its ``VM`` handle.

        ``image``: a VHDX the L1 can read (default ``--nested-inner-image``; without one the L2
        boots to firmware); the L2 runs on a differencing disk beside it. ``name`` is prefixed with
        the run's name (``nestedhv-<run>-<name>``). ``switch``: a virtual switch inside the L1 to
        connect it to. ``start``: Start-VM at once (wait with ``wait_heartbeat``)."""
        from .hyperv.machines import VM
        from .hyperv.names import join_path, parent_dir
        from .remote.commands import SWITCH, Cmd

        if generation not in (1, 2):
            raise ValueError(f"nested_inner_vm(generation={generation!r}): 1 or 2")
        memory_bytes = parse_size(memory, "nested_inner_vm(memory")
        processors = _positive_int(processors, "nested_inner_vm(processors")
        suffix = name if name is not None else f"l2-{next(self.numbers)}"
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", suffix):
            raise ValueError(f"nested_inner_vm(name={name!r}): letters, digits, '.', '_' and '-' only (up to 40)")
        vm_name = self.names.vm(suffix)
        inside = self.l1.inside
        image = image or self.host.inner_image
        params: dict[str, Any] = {"Name": vm_name, "Generation": generation, "MemoryStartupBytes": memory_bytes}
        disk = None
        if image:
            disk = join_path(parent_dir(image), f"{vm_name}.vhdx")
            inside.run(Cmd.of("New-VHD", Path=disk, ParentPath=image, Differencing=SWITCH))
            params["VHDPath"] = disk
        else:
            params["NoVHD"] = SWITCH
        if switch:
            params["SwitchName"] = switch
        vm = VM(vm_name, inside, self.l1.guest_cred)
        try:
            inside.run(Cmd.of("New-VM", **params))
        except BaseException:
            self.created.append(_Created(vm, disk))  # the disk is ours: removed with the rest
            raise
        self.created.append(_Created(vm, disk))
        # tag first, so even a half-configured VM is ours to remove
        inside.run(Cmd.of("Set-VM", Name=vm_name, Notes=self.tag))
        if processors != 1:
            inside.run(Cmd.of("Set-VMProcessor", VMName=vm_name, Count=processors))
        if start:
            vm.start()
        else:
            vm.refresh()
        return vm

    def events(self, since: datetime.datetime, mask: Any, test: str) -> list[Any]:
        """The event-log records inside the L1 that name the L2s this factory made, since ``since``,
        as reporting's EventRecords (calls tagged so that repro.ps1 never replays them)."""
        from .remote.errors import RemoteError
        from .reporting.events import CLOCK_MARGIN, STEP, to_record

        records: list[Any] = []
        transcript = getattr(self.host.session, "transcript", None)
        with transcript.step(STEP) if transcript is not None else contextlib.nullcontext():
            for created in self.created:
                try:
                    found = created.vm.events(since=since - CLOCK_MARGIN)
                except RemoteError as err:  # the L1 may be gone with the failure: fewer events, no error
                    log.info("events of %s: %s", created.vm.name, mask.mask(str(err)))
                    continue
                machine = f"guest:{self.l1.name}"
                records += [r for r in (to_record(e, machine, mask, test) for e in found) if r is not None]
        return records

    def cleanup(self, keep: bool) -> list[str]:
        """Remove (or, keeping, mark as kept) what this factory created, newest first; only VMs
        whose Notes carry this run's tag. Errors are logged: the other VMs still go."""
        from .hyperv.names import KEPT_TAG, is_own_disk
        from .hyperv.ports import prop
        from .remote.commands import SWITCH, Cmd
        from .remote.errors import RemoteError

        done: list[str] = []
        for created in reversed(self.created):
            vm, inside = created.vm, created.vm.host
            try:
                found = inside.run(Cmd.of("Get-VM", Name=vm.name), check=False)
                if found and self.tag in str(prop(found[0], "Notes", "") or "").split():
                    if keep:
                        log.warning("keeping L2 %s in %s (--nested-keep)", vm.name, self.l1.name)
                        inside.run(Cmd.of("Set-VM", Name=vm.name, Notes=f"{self.tag} {KEPT_TAG}"))
                        continue
                    inside.run(Cmd.of("Stop-VM", Name=vm.name, TurnOff=SWITCH, Force=SWITCH), check=False)
                    inside.run(Cmd.of("Remove-VM", Name=vm.name, Force=SWITCH))
                    done.append(vm.name)
                if created.disk and is_own_disk(created.disk) and not keep:
                    inside.run(Cmd.of("Remove-Item", Path=created.disk, Force=SWITCH), check=False)
            except RemoteError as err:
                log.error("could not remove L2 %s in %s: %s", vm.name, self.l1.name, err)
        self.created.clear()
        return done


@pytest.fixture
def nested_inner_vm(request: pytest.FixtureRequest, nested_host: HyperVHost, nested_l1: VM,
                    nested_l1_pool: L1Pool) -> Iterator[Callable[..., VM]]:
    """A factory of L2 VMs inside ``nested_l1``: ``nested_inner_vm(generation=2, memory="512MB",
    processors=1, image=None, name=None, start=True, switch=None)`` returns the new L2's ``VM``.

    Several per test are fine. Everything it created is removed when the test ends, also after a
    failure or Ctrl-C; ``--nested-keep=always`` (or ``failed`` when the test failed) keeps them.
    Names carry the run id and Notes the run's tag, so only these VMs are ever removed."""
    lab = next(b.lab for b in nested_l1_pool.built.values() if b.vm is nested_l1)
    factory = InnerVMFactory(nested_l1, nested_host, lab.names, nested_l1_pool.l2_numbers)
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        yield factory
    finally:
        failed = item_failed(request.node)  # the setup or the call (teardown has not reported yet)
        if failed and factory.created:
            _hand_events_to_reports(request, factory, started)
        keep = nested_host.settings.keep
        kept = keep == "always" or (keep == "failed" and failed)
        with contextlib.suppress(Exception):  # cleanup logs its own errors; never mask the test's result
            factory.cleanup(kept)


def _hand_events_to_reports(request: pytest.FixtureRequest, factory: InnerVMFactory,
                            started: datetime.datetime) -> None:
    from .handover import TEST_KEY
    from .plugin import get_state

    state = get_state(request.config)
    if state is None:
        return
    try:
        records = factory.events(started, state.mask, request.node.nodeid)
    except Exception as err:  # noqa: BLE001 - events are an extra: never change the test's result
        log.info("could not read the L2s' events: %s", state.mask.mask(str(err)))
        return
    record = request.node.stash.get(TEST_KEY, None)
    if record is not None:
        record.events += records
