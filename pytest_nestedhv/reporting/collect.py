"""Worker side: what a test ran and judged, read from the records the fixtures handed over.

Runs in pytest_runtest_makereport on whichever process ran the test (an xdist worker or
the only process) and puts a JSON-able payload on the report, which xdist carries to the
controller. It reads only ``handover`` records (config.stash per host, item.stash per test):
never a fixture's objects, never the host.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from ..handover import HOSTS_KEY, TEST_KEY, HostEvidence, TestEvidence
from ..remote.secrets import SecretMask
from .wire import encode_entry, encode_phase, jsonable

PAYLOAD_ATTR = "nestedhv"
PAYLOAD_VERSION = 1
FINDING_KEYS = ("status", "found", "required", "remedy", "evidence")


@dataclasses.dataclass
class WorkerState:
    """Per-process bookkeeping of what was already sent to the controller."""

    cursors: dict[int, int] = dataclasses.field(default_factory=dict)  # id(transcript) -> entries sent
    sent_info: dict[str, str] = dataclasses.field(default_factory=dict)
    info_seen: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)  # label -> identities sent
    sent_phases: dict[str, int] = dataclasses.field(default_factory=dict)
    sent_crashes: dict[str, int] = dataclasses.field(default_factory=dict)  # label -> host outages sent
    sent_events: set[str] = dataclasses.field(default_factory=set)  # tests whose events were sent


def _hosts(item: pytest.Item) -> dict[str, HostEvidence]:
    return item.config.stash.get(HOSTS_KEY, {})


def _test(item: pytest.Item) -> TestEvidence | None:
    return item.stash.get(TEST_KEY, None)


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


def finding_of(item: pytest.Item, call: pytest.CallInfo[Any] | None, mask: SecretMask) -> dict[str, Any]:
    """found/required/remedy/evidence from user properties, or from an exception that carries a finding."""
    test = _test(item)
    found: dict[str, Any] = dict(test.finding) if test is not None and test.finding else {}
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


def set_junit_properties(item: pytest.Item, finding: dict[str, Any]) -> None:
    """host/build/nodeid on every test against a host, requirement/severity on a suite test: what
    ``python -m pytest_nestedhv.history import`` rebuilds the history from, keyed by node id as a
    live run keys it. Call it just before the teardown report is made (pytest's junit.xml reads
    the teardown report's user_properties)."""
    test = _test(item)
    if test is None or test.host is None:
        return
    requirement = requirement_of(item)
    host = _hosts(item).get(test.host)
    facts = host.facts if host else None
    wanted = {"host": test.host, "build": facts.build_text if facts else "unknown", "nodeid": item.nodeid}
    if requirement is not None:
        severity = _user_property(item, "severity") or ("warning" if finding.get("status") == "warning" else "error")
        wanted.update(requirement=requirement, severity=str(severity))
    recorded = {k for k, _ in item.user_properties}
    item.user_properties += [(k, v) for k, v in wanted.items() if k not in recorded]


def _info(host: HostEvidence, mask: SecretMask) -> dict[str, Any]:
    facts, vm, guest = host.facts, host.vm, host.guest
    return {
        "build": getattr(facts, "build", None),
        "ubr": getattr(facts, "ubr", None),
        "facts": jsonable(facts, mask) if facts else {},
        "vm": jsonable(vm, mask) if vm else {},
        "guest": jsonable(guest, mask) if guest else {},
        "guest_user": mask.mask(host.guest_user) if host.guest_user else None,
        "description": mask.mask(host.description),
        "spec": mask.mask(host.spec),
    }


def _new_crashes(host: HostEvidence, state: WorkerState, mask: SecretMask) -> list[dict[str, Any]]:
    """The host outages recorded since the last payload (hyperv.crash.HostCrash.to_dict()); marks them sent."""
    sent = state.sent_crashes.get(host.label, 0)
    state.sent_crashes[host.label] = len(host.crashes)
    return [jsonable(c, mask) for c in host.crashes[sent:]]


def pending_crashes(config: pytest.Config, state: WorkerState, mask: SecretMask) -> dict[str, list[dict[str, Any]]]:
    """Host outages no report carried yet (a host that never came back ended the run inside a test)."""
    out = {label: _new_crashes(host, state, mask) for label, host in config.stash.get(HOSTS_KEY, {}).items()}
    return {label: crashes for label, crashes in out.items() if crashes}


def _drain(host: HostEvidence, state: WorkerState, mask: SecretMask, test: str, when: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if crashes := _new_crashes(host, state, mask):
        out["crashes"] = crashes
    # facts are frozen values: the same objects need no second look (this runs three times a test)
    seen = (id(host.facts), id(host.vm), id(host.guest), host.guest_user, host.description, host.spec)
    if state.info_seen.get(host.label) != seen:
        state.info_seen[host.label] = seen
        info = _info(host, mask)
        digest = json.dumps(info, sort_keys=True, default=str)
        if state.sent_info.get(host.label) != digest:
            state.sent_info[host.label] = digest
            out["info"] = info
    timeline = list(host.timeline)
    sent = state.sent_phases.get(host.label, 0)
    if len(timeline) > sent:
        out["phases"] = [dataclasses.asdict(encode_phase(p, mask)) for p in timeline[sent:]]
        state.sent_phases[host.label] = len(timeline)
    transcript = host.transcript
    entries = list(getattr(transcript, "entries", None) or [])
    key = id(transcript)
    done = state.cursors.get(key, 0)
    if len(entries) > done:
        out["entries"] = [dataclasses.asdict(encode_entry(e, mask, test, when)) for e in entries[done:]]
        state.cursors[key] = len(entries)
    return out


def build_payload(item: pytest.Item, call: pytest.CallInfo[Any], report: pytest.TestReport,
                  state: WorkerState, mask: SecretMask) -> dict[str, Any]:
    test = _test(item)
    finding = finding_of(item, call, mask)
    payload: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "host": test.host if test else None,
        "requirement": requirement_of(item),
        "severity": _user_property(item, "severity"),
        "finding": finding,
        "start": test.started if test else call.start,
        "hosts": {},
    }
    for label, host in _hosts(item).items():
        part = _drain(host, state, mask, item.nodeid, report.when)
        if test is not None and label == test.host and test.events and item.nodeid not in state.sent_events:
            # the fixture's finalizer collected them during teardown
            state.sent_events.add(item.nodeid)
            part["events"] = [dataclasses.asdict(e) for e in test.events]
        if part:
            payload["hosts"][label] = part
    return payload
