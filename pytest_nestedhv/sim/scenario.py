"""Scenario files: the TOML description of an emulated host (schema in scenarios/README.md).

``load_scenario("default")`` reads a shipped scenario, ``load_scenario("x.toml")`` a file.
Every problem is a ``ScenarioError`` whose message is one line naming the file and the key.
"""
from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).with_name("scenarios")
# lab steps (names shared with the plugin as constants) during which [faults] host_restart_at can restart the host
RESTART_POINTS = ("l1-created", "l1-booted", "hyperv-installed", "guest-rebooted", "l2-booted")


class ScenarioError(ValueError):
    """An invalid or unknown scenario; the message is one line."""


def _choice(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _range(low: float | None = None, high: float | None = None, *, low_open: bool = False) -> dict[str, Any]:
    return {"range": (low, high, low_open)}


@dataclasses.dataclass(frozen=True)
class HostSpec:
    build: int = 26100
    ubr: int = 1742
    cpu: str = dataclasses.field(default="GenuineIntel", metadata=_choice("GenuineIntel", "AuthenticAMD"))
    cpu_model: str = ""  # empty: a model name typical for the vendor
    hypervisor_present: bool = True
    hyperv_feature: bool = True
    vbs: str = dataclasses.field(default="off", metadata=_choice("off", "enabled", "running"))
    bcd_offer_nested: bool = True
    memory_gb: int = dataclasses.field(default=64, metadata=_range(1))
    logical_processors: int = dataclasses.field(default=16, metadata=_range(1))
    base_images: tuple[str, ...] = ("C:\\Images\\ws2025.vhdx",)
    computer_name: str = "HV-HOST01"
    edition: str = "ServerDatacenter"  # EditionID
    installation_type: str = dataclasses.field(default="Server", metadata=_choice("Server", "Client"))
    product_name: str = ""  # empty: derived from build and installation_type
    # the host's virtual switch: "default" (External on Server, the NAT "Default Switch" on Client),
    # "internal" (an Internal switch without NAT: its VMs get no address), "none"
    vswitch: str = dataclasses.field(default="default", metadata=_choice("default", "internal", "none"))
    # Windows Insider channel: "" (not enrolled: no WindowsSelfHost\Applicability key) or the BranchName
    flight: str = dataclasses.field(default="", metadata=_choice("", "CanaryChannel", "Dev", "Beta", "ReleasePreview"))
    branch: str = "ge_release"  # BuildBranch, and the branch part of BuildLab/BuildLabEx
    # false: the prompt that runs PowerShell is not elevated and the user is not in "Hyper-V
    # Administrators": every Hyper-V cmdlet on the host answers with Windows' permission error
    elevated: bool = True
    # modelled seconds from a crash or restart of the host until WinRM answers again
    reboot_seconds: float = dataclasses.field(default=240.0, metadata=_range(0))


@dataclasses.dataclass(frozen=True)
class GuestSpec:
    build: int = 26100
    ubr: int = 1742
    edition: str = "ServerDatacenter"
    installation_type: str = dataclasses.field(default="Server", metadata=_choice("Server", "Client"))
    product_name: str = ""
    admin_user: str = "Administrator"
    admin_password: str = dataclasses.field(default="", repr=False)
    boot_seconds: float = dataclasses.field(default=45.0, metadata=_range(0))
    # no-tools: the role installs but the image lacks the Hyper-V management tools (no Hyper-V module)
    hyperv_install: str = dataclasses.field(default="ok", metadata=_choice("ok", "fail", "no-tools"))
    hyperv_install_seconds: float = dataclasses.field(default=180.0, metadata=_range(0))
    base_images: tuple[str, ...] = ("C:\\Images\\ws2025.vhdx",)  # images inside the guest, for L2 VMs


@dataclasses.dataclass(frozen=True)
class NestedSpec:
    # host-bugcheck: starting an L2 bugchecks the physical host (it reboots, every VM comes back Off)
    boot: str = dataclasses.field(default="ok", metadata=_choice("ok", "crash", "hang", "host-bugcheck"))
    crash_after_seconds: float = dataclasses.field(default=20.0, metadata=_range(0))


@dataclasses.dataclass(frozen=True)
class VMSpec:
    name: str
    state: str = dataclasses.field(default="Off", metadata=_choice("Off", "Running", "Saved"))
    version: str = ""  # empty: the host's default configuration version
    generation: int = dataclasses.field(default=2, metadata=_choice(1, 2))
    expose_virtualization_extensions: bool = False
    dynamic_memory: bool = False
    memory_startup_gb: float = dataclasses.field(default=4.0, metadata=_range(0, low_open=True))
    processor_count: int = dataclasses.field(default=2, metadata=_range(1))
    checkpoints: int = dataclasses.field(default=0, metadata=_range(0))
    mac_spoofing: str = dataclasses.field(default="Off", metadata=_choice("On", "Off"))
    notes: str = ""
    base_image: str = ""  # a differencing disk on this base image is attached; empty: no disk (no OS)


@dataclasses.dataclass(frozen=True)
class FaultSpec:
    time_scale: float = dataclasses.field(default=100.0, metadata=_range(0, low_open=True))
    latency_ms: int = dataclasses.field(default=0, metadata=_range(0))
    drop_rate: float = dataclasses.field(default=0.0, metadata=_range(0, 1))
    # platform regressions, for showing that the suite catches them (see scenarios/README.md)
    accept_toggle_while_running: bool = False
    ignore_expose_extensions: bool = False
    refuse_nested_checkpoint: bool = False
    accept_memory_change_while_running: bool = False
    # the host restarts once, during this lab step (the points are in sim/model/outage.py); "" never
    host_restart_at: str = dataclasses.field(default="", metadata=_choice("", *RESTART_POINTS))
    host_restart_kind: str = dataclasses.field(default="unexpected", metadata=_choice("unexpected", "planned"))


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    source: str = ""  # the file it came from
    host: HostSpec = HostSpec()
    guest: GuestSpec = GuestSpec()
    nested: NestedSpec = NestedSpec()
    vms: tuple[VMSpec, ...] = ()
    faults: FaultSpec = FaultSpec()


_TABLES: dict[str, type] = {"host": HostSpec, "guest": GuestSpec, "nested": NestedSpec, "faults": FaultSpec}
_TOP_LEVEL = {"description"}


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


SHIPPED_SCENARIOS: tuple[str, ...] = tuple(shipped_scenarios())


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name, or a scenario file by path."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.exists() or "/" in text or "\\" in text):
        if text not in SHIPPED_SCENARIOS:
            raise ScenarioError(f"unknown scenario {text!r}; shipped scenarios: {', '.join(SHIPPED_SCENARIOS)}")
        path = SCENARIO_DIR / f"{text}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: invalid TOML: {exc}") from None
    return parse_scenario(raw, source=str(path), name=path.stem)


def parse_scenario(raw: dict[str, Any], *, source: str, name: str) -> Scenario:
    for key in raw:
        if key not in _TABLES and key not in _TOP_LEVEL and key != "vm":
            raise ScenarioError(f"{source}: unknown key {key!r} (allowed: {', '.join(sorted([*_TABLES, *_TOP_LEVEL, 'vm']))})")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(f"{source}: description: expected a string")
    tables: dict[str, Any] = {}
    for table, cls in _TABLES.items():
        section = raw.get(table, {})
        if not isinstance(section, dict):
            raise ScenarioError(f"{source}: [{table}]: expected a table")
        tables[table] = _build(cls, section, source, f"[{table}]")
    vms_raw = raw.get("vm", [])
    if not isinstance(vms_raw, list) or not all(isinstance(v, dict) for v in vms_raw):
        raise ScenarioError(f"{source}: [[vm]]: expected an array of tables")
    vms = tuple(_build(VMSpec, v, source, f"[[vm]] #{i + 1}") for i, v in enumerate(vms_raw))
    seen: set[str] = set()
    for i, vm in enumerate(vms):
        if vm.name.lower() in seen:
            raise ScenarioError(f"{source}: [[vm]] #{i + 1} name: duplicate VM name {vm.name!r}")
        seen.add(vm.name.lower())
    return Scenario(name=name, description=description, source=source, vms=vms, **tables)


def _build(cls: type, section: dict[str, Any], source: str, where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in fields:
            raise ScenarioError(f"{source}: {where} unknown key {key!r} (allowed: {', '.join(fields)})")
        values[key] = _check(value, hints[key], fields[key].metadata, f"{source}: {where} {key}")
    for f in fields.values():
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ScenarioError(f"{source}: {where} {f.name}: missing required key")
    return cls(**values)


def _check(value: Any, hint: Any, meta: typing.Mapping[str, Any], where: str) -> Any:
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ScenarioError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(hint if not isinstance(hint, types.UnionType) else str, False)
    if not ok:
        raise ScenarioError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {type(value).__name__} {value!r}")
    if "choices" in meta and value not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        raise ScenarioError(f"{where}: expected one of {allowed}, got {value!r}")
    if "range" in meta:
        low, high, low_open = meta["range"]
        if (low is not None and (value < low or (low_open and value == low))) or (high is not None and value > high):
            bound = f"> {low}" if low_open else f">= {low}"
            if high is not None:
                bound += f" and <= {high}"
            raise ScenarioError(f"{where}: must be {bound}, got {value!r}")
    return float(value) if hint is float else value
