"""Worker side: what a test ran and judged, read from the item and its fixtures.

Runs in pytest_runtest_makereport on whichever process ran the test (an xdist worker or
the only process) and puts a JSON-able payload on the report, which xdist carries to the
controller. Fixture values are found by what they are (a HostFacts, a Lab, an object with
``.target`` and ``.session``), not by fixture names, so the suite can name them freely.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterable
from typing import Any

import pytest

from ..hyperv.facts import GuestFacts, HostFacts, VMFacts
from ..remote.secrets import SecretMask
from . import events as event_logs
from .records import EventRecord
from .wire import encode_entry, encode_phase, jsonable

PAYLOAD_ATTR = "nestedhv"
# item.stash: event-log records a fixture collected itself when its test failed (nested_inner_vm
# reads the logs inside the L1 about the L2s it made); sent with the next report of that test
EVENTS_KEY = pytest.StashKey[list[EventRecord]]()
PAYLOAD_VERSION = 1
FINDING_KEYS = ("status", "found", "required", "remedy", "evidence")
GUEST_STEP = "guest-reachable"


@dataclasses.dataclass
class HostContext:
    label: str
    session: Any = None
    lab: Any = None
    host_facts: HostFacts | None = None
    vm_facts: VMFacts | None = None
    guest_facts: GuestFacts | None = None
    description: str = ""
    spec: str = ""  # the --nested-host value as the user wrote it

    def merge(self, other: HostContext) -> None:
        for field in ("session", "lab", "host_facts", "vm_facts", "guest_facts"):
            if getattr(other, field) is not None:
                setattr(self, field, getattr(other, field))
        self.description = other.description or self.description
        self.spec = other.spec or self.spec

    @property
    def facts(self) -> HostFacts | None:
        return self.host_facts or getattr(self.lab, "host", None)

    @property
    def vm(self) -> VMFacts | None:
        return getattr(self.lab, "vm_facts", None) or self.vm_facts

    @property
    def guest(self) -> GuestFacts | None:
        lab = self.lab
        return getattr(lab, "guest_after", None) or getattr(lab, "guest_before", None) or self.guest_facts

    @property
    def transcript(self) -> Any:
        session = self.session or getattr(self.lab, "session", None)
        return getattr(session, "transcript", None)


@dataclasses.dataclass
class WorkerState:
    """Per-process bookkeeping of what was already sent to the controller (lives in config.stash)."""

    contexts: dict[str, HostContext] = dataclasses.field(default_factory=dict)
    cursors: dict[int, int] = dataclasses.field(default_factory=dict)  # id(transcript) -> entries sent
    sent_info: dict[str, str] = dataclasses.field(default_factory=dict)
    sent_phases: dict[str, int] = dataclasses.field(default_factory=dict)
    test_start: dict[str, float] = dataclasses.field(default_factory=dict)
    sent_crashes: dict[str, int] = dataclasses.field(default_factory=dict)  # label -> host outages sent


def _target_label(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    target = getattr(value, "target", value)
    label = getattr(target, "label", None)
    return label if isinstance(label, str) else None


def discover(item: pytest.Item) -> HostContext | None:
    """The host this test ran against, and whatever of its session/lab/facts the fixtures hold."""
    values: list[Any] = list(getattr(item, "funcargs", {}).values())
    callspec = getattr(item, "callspec", None)
    label = None
    if callspec is not None:
        param = callspec.params.get("nested_host")
        label = param if isinstance(param, str) else _target_label(param)
    ctx = HostContext(label or "")
    for value in values:
        if isinstance(value, HostFacts):
            ctx.host_facts = value
        elif isinstance(value, VMFacts):
            ctx.vm_facts = value
        elif isinstance(value, GuestFacts):
            ctx.guest_facts = value
        elif hasattr(value, "timeline") and hasattr(value, "outcomes") and hasattr(value, "session"):
            ctx.lab = value
        elif hasattr(value, "observe") and hasattr(value, "lab") and hasattr(value, "session"):
            # the suite's observer: its lab (None with --nested-vm) and the facts it read
            ctx.lab = value.lab or ctx.lab
            for attr in ("_host", "_vm"):
                inner = getattr(value, attr, None)
                if isinstance(inner, HostFacts):
                    ctx.host_facts = inner
                elif isinstance(inner, VMFacts):
                    ctx.vm_facts = inner
            ctx.session = ctx.session or value.session
        elif hasattr(value, "target") and hasattr(value, "session") and _target_label(value):
            ctx.label = ctx.label or _target_label(value) or ""
            ctx.session = value.session
            describe = getattr(value.target, "describe", None)
            ctx.description = describe() if callable(describe) else ""
            ctx.spec = str(getattr(value.target, "spec", "") or "")
            for attr, kind in (("facts", HostFacts), ("host_facts", HostFacts), ("lab", None)):
                # stored values only: a property (HyperVHost.facts) would call the host
                inner = vars(value).get(attr) if hasattr(value, "__dict__") else getattr(value, attr, None)
                if inner is not None and (kind is None or isinstance(inner, kind)):
                    setattr(ctx, "lab" if kind is None else "host_facts", inner)
    if not ctx.label and ctx.lab is not None:
        ctx.label = _target_label(getattr(ctx.lab, "session", None)) or ""
    return ctx if ctx.label else None


def _parse(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def requirement_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("requirement")
    if marker is not None and marker.args:
        return str(marker.args[0])
    return next((str(v) for k, v in item.user_properties if k == "requirement"), None)


def _finding_key() -> Any:
    """The suite's item.stash key for its Finding, when the fixtures module is loaded."""
    import sys

    fixtures = sys.modules.get("pytest_nestedhv.fixtures")
    return getattr(fixtures, "FINDING_KEY", None)


def pending_crashes(config: pytest.Config, state: WorkerState, mask: SecretMask) -> dict[str, list[dict[str, Any]]]:
    """Host outages the fixtures recorded in config.stash (hyperv.crash.HostCrash.to_dict()) and not
    yet sent, by host label; marks them sent."""
    import sys

    key = getattr(sys.modules.get("pytest_nestedhv.fixtures"), "HOST_CRASH_KEY", None)
    out: dict[str, list[dict[str, Any]]] = {}
    for label, crashes in (config.stash.get(key, {}) if key is not None else {}).items():
        sent = state.sent_crashes.get(label, 0)
        if len(crashes) > sent:
            out[label] = [jsonable(c, mask) for c in crashes[sent:]]
            state.sent_crashes[label] = len(crashes)
    return out


def finding_of(item: pytest.Item, call: pytest.CallInfo[Any] | None, mask: SecretMask) -> dict[str, Any]:
    """found/required/remedy/evidence from user properties, or from an exception that carries a finding."""
    found: dict[str, Any] = {}
    for key, value in item.stash.get(_finding_key(), {}).items() if _finding_key() else ():
        found[key] = value
    for key, value in item.user_properties:
        if key == "finding":
            parsed = _parse(value)
            value = parsed.to_dict() if hasattr(parsed, "to_dict") else parsed
            if isinstance(value, dict):
                found.update(value)
        elif key in FINDING_KEYS:
            found[key] = _parse(value)
    exc = call.excinfo.value if call is not None and call.excinfo is not None else None
    carried = getattr(exc, "finding", None)
    if carried is not None and hasattr(carried, "to_dict"):
        found = {**carried.to_dict(), **found}
    found.pop("requirement", None)
    return jsonable(found, mask) if found else {}


def _user_property(item: pytest.Item, name: str) -> Any:
    return next((v for k, v in item.user_properties if k == name), None)


def set_junit_properties(item: pytest.Item, state: WorkerState, finding: dict[str, Any]) -> None:
    """requirement/host/build/severity on every suite test; call it just before the teardown
    report is made (pytest's junit.xml reads the teardown report's user_properties)."""
    requirement = requirement_of(item)
    ctx = discover(item)
    if requirement is None or ctx is None:
        return
    known = state.contexts.get(ctx.label)
    facts = (known.facts if known else None) or ctx.facts
    severity = _user_property(item, "severity") or ("warning" if finding.get("status") == "warning" else "error")
    wanted = {"requirement": requirement, "host": ctx.label,
              "build": facts.build_text if facts else "unknown", "severity": str(severity)}
    recorded = {k for k, _ in item.user_properties}
    item.user_properties += [(k, v) for k, v in wanted.items() if k not in recorded]


def _info(ctx: HostContext, mask: SecretMask) -> dict[str, Any]:
    facts, vm, guest = ctx.facts, ctx.vm, ctx.guest
    lab_config = getattr(ctx.lab, "config", None)
    cred = getattr(lab_config, "guest_cred", None)
    return {
        "build": getattr(facts, "build", None),
        "ubr": getattr(facts, "ubr", None),
        "facts": jsonable(facts, mask) if facts else {},
        "vm": jsonable(vm, mask) if vm else {},
        "guest": jsonable(guest, mask) if guest else {},
        "guest_user": mask.mask(str(cred.user)) if getattr(cred, "user", None) else None,
        "description": mask.mask(ctx.description),
        "spec": mask.mask(ctx.spec),
    }


def _drain(ctx: HostContext, state: WorkerState, mask: SecretMask, test: str, when: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    info = _info(ctx, mask)
    digest = json.dumps(info, sort_keys=True, default=str)
    if state.sent_info.get(ctx.label) != digest:
        state.sent_info[ctx.label] = digest
        out["info"] = info
    timeline = list(getattr(ctx.lab, "timeline", None) or [])
    sent = state.sent_phases.get(ctx.label, 0)
    if len(timeline) > sent:
        out["phases"] = [dataclasses.asdict(encode_phase(p, mask)) for p in timeline[sent:]]
        state.sent_phases[ctx.label] = len(timeline)
    transcript = ctx.transcript
    entries = list(getattr(transcript, "entries", None) or [])
    key = id(transcript)
    done = state.cursors.get(key, 0)
    if len(entries) > done:
        out["entries"] = [dataclasses.asdict(encode_entry(e, mask, test, when)) for e in entries[done:]]
        state.cursors[key] = len(entries)
    return out


def collect_events(ctx: HostContext, state: WorkerState, mask: SecretMask, test: str) -> list[dict[str, Any]]:
    session = ctx.session or getattr(ctx.lab, "session", None)
    if session is None:
        return []
    started = state.test_start.get(test)
    since = datetime.datetime.fromtimestamp(started, datetime.timezone.utc) if started else \
        datetime.datetime.now(datetime.timezone.utc)
    for phase in getattr(ctx.lab, "timeline", None) or []:
        if not phase.ok and phase.started is not None:
            began = phase.started if phase.started.tzinfo else phase.started.replace(tzinfo=datetime.timezone.utc)
            since = min(since, began)
    guest_vm = guest_cred = None
    lab = ctx.lab
    outcome = (getattr(lab, "outcomes", None) or {}).get(GUEST_STEP)
    if lab is not None and outcome is not None and outcome.ok:
        guest_vm = getattr(getattr(lab, "names", None), "l1", None)
        guest_cred = getattr(getattr(lab, "config", None), "guest_cred", None)
    records = event_logs.collect(session, since, mask, test, guest_vm=guest_vm, guest_cred=guest_cred)
    return [dataclasses.asdict(r) for r in records]


def _learn_secrets(ctx: HostContext, item: pytest.Item, mask: SecretMask) -> None:
    """Guest passwords the fixtures hold (a sim scenario's, for one) join the mask."""
    creds = [getattr(getattr(ctx.lab, "config", None), "guest_cred", None)]
    creds += [getattr(v, "guest_credential", None) for v in getattr(item, "funcargs", {}).values()]
    for cred in creds:
        if cred is not None and getattr(cred, "password", None) is not None:
            mask.add(cred.password)


def build_payload(item: pytest.Item, call: pytest.CallInfo[Any], report: pytest.TestReport,
                  state: WorkerState, mask: SecretMask) -> dict[str, Any]:
    ctx = discover(item)
    if ctx is not None:
        _learn_secrets(ctx, item, mask)
        if ctx.label in state.contexts:
            state.contexts[ctx.label].merge(ctx)
        else:
            state.contexts[ctx.label] = ctx
    if report.when == "setup":
        state.test_start[item.nodeid] = call.start
    finding = finding_of(item, call, mask)
    payload: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "host": ctx.label if ctx else None,
        "requirement": requirement_of(item),
        "severity": _user_property(item, "severity"),
        "finding": finding,
        "start": state.test_start.get(item.nodeid, call.start),
        "hosts": {},
    }
    events: list[dict[str, Any]] = []
    if ctx is not None and report.failed and report.when in ("setup", "call"):
        events = collect_events(state.contexts[ctx.label], state, mask, item.nodeid)
    if ctx is not None and item.stash.get(EVENTS_KEY, None):
        events += [dataclasses.asdict(r) for r in item.stash[EVENTS_KEY]]
        del item.stash[EVENTS_KEY]
    for label, known in state.contexts.items():
        part = _drain(known, state, mask, item.nodeid, report.when)
        if label == (ctx.label if ctx else None) and events:
            part["events"] = events
        if part:
            payload["hosts"][label] = part
    for label, crashes in pending_crashes(item.config, state, mask).items():
        payload["hosts"].setdefault(label, {})["crashes"] = crashes
    if report.when == "teardown":
        state.test_start.pop(item.nodeid, None)
    return payload


def iter_payload_hosts(payload: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    return (payload.get("hosts") or {}).items()
