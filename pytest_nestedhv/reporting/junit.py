"""JUnit XML: the properties every suite test carries, the run's properties, and a per-host
file for the bundle.

The run's reports/junit.xml is pytest's own (xmlpath set by the plugin); per-test properties
reach it through ``item.user_properties``, the run's through the testsuite's properties block
(pytest's ``record_testsuite_property`` place: it is kept under xunit1 and xunit2 alike, and
CI test viewers show it as the suite's properties). The per-host file is written here in the
same shape: testsuites > testsuite > testcase with a properties block per test case.

Run properties (what ``python -m pytest_nestedhv.history import`` rebuilds a history from;
paths are relative to the folder of the junit.xml that carries them):

    nestedhv/run_id               the run id (names every VM the run created)
    nestedhv/started              when the run started, ISO 8601 UTC
    nestedhv/report               report.html
    nestedhv/LABEL/build          BUILD.UBR of host LABEL
    nestedhv/LABEL/flight         its Windows Insider channel, when enrolled
    nestedhv/LABEL/branch         its build's branch (from BuildLabEx)
    nestedhv/LABEL/bundle         its feedback bundle (.zip)
    nestedhv/LABEL/crash          what brought the host down under the run, when it went down
    nestedhv/LABEL/step/STEP      "SECONDS ok" or "SECONDS failed": one per lab step
"""
from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

from ..hyperv.facts import branch_of
from ..remote.secrets import SecretMask
from .records import ERROR, FAILED, SKIPPED, HostRecord, TestRecord
from .timings import StepTiming, steps_of

PROPERTY_NAMES = ("requirement", "host", "build", "severity", "nodeid")
# characters XML 1.0 cannot carry (terminal colour codes in a traceback, for one)
_BAD_XML = dict.fromkeys([c for c in range(32) if c not in (9, 10, 13)] + [0xFFFE, 0xFFFF])


def xml_text(text: str) -> str:
    return text.translate(_BAD_XML)


def junit_properties(test: TestRecord, host: HostRecord | None) -> list[tuple[str, str]]:
    props = {
        "requirement": test.requirement or "",
        "host": test.host or "",
        "build": host.build_text if host else "unknown",
        "severity": test.severity or "error",
        "nodeid": test.nodeid,  # history keys a test by it (import)
    }
    return [(name, props[name]) for name in PROPERTY_NAMES]


RUN_PREFIX = "nestedhv/"


def run_properties(run_id: str, started: str, *, report: str | None = None) -> list[tuple[str, str]]:
    props = [(RUN_PREFIX + "run_id", run_id), (RUN_PREFIX + "started", started)]
    return props + ([(RUN_PREFIX + "report", report)] if report else [])


def host_properties(host: HostRecord, *, bundle: str | None = None) -> list[tuple[str, str]]:
    """Build, flight, branch, bundle, crash and every lab step's duration of one host."""
    p = f"{RUN_PREFIX}{host.label}/"
    props = [(p + "build", host.build_text)]
    flight = host.facts.get("flight")
    branch = branch_of(str(host.facts.get("build_lab_ex") or ""))
    props += [(p + "flight", str(flight))] if flight else []
    props += [(p + "branch", branch)] if branch else []
    props += [(p + "bundle", bundle)] if bundle else []
    props += [(p + "crash", host.crash)] if host.crash else []
    return props + [(f"{p}step/{s.step}", f"{s.duration_s:.3f} {'ok' if s.ok else 'failed'}") for s in steps_of(host)]


@dataclasses.dataclass
class HostProperties:
    build: int | None = None
    ubr: int | None = None
    flight: str | None = None
    branch: str | None = None
    bundle: str | None = None
    crash: str | None = None
    steps: list[StepTiming] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class RunProperties:
    run_id: str | None = None
    started: str | None = None
    report: str | None = None
    hosts: dict[str, HostProperties] = dataclasses.field(default_factory=dict)


class PropertyError(ValueError):
    """A nestedhv/ property that cannot be read; one line."""


def parse_build(text: str) -> tuple[int | None, int | None]:
    """BUILD.UBR (or BUILD, or "unknown") as numbers."""
    if text in ("", "unknown"):
        return None, None
    build, _, ubr = text.partition(".")
    try:
        return int(build), int(ubr) if ubr else None
    except ValueError:
        raise PropertyError(f"build {text!r} is not BUILD.UBR") from None


def parse_run_properties(props: Iterable[tuple[str, str]]) -> RunProperties:
    """The nestedhv/ properties of one testsuite (others are ignored)."""
    run = RunProperties()
    for name, value in props:
        if not name.startswith(RUN_PREFIX):
            continue
        parts = name[len(RUN_PREFIX):].split("/")
        if len(parts) == 1 and parts[0] in ("run_id", "started", "report"):
            setattr(run, parts[0], value)
            continue
        if len(parts) < 2 or not parts[0]:
            continue
        host = run.hosts.setdefault(parts[0], HostProperties())
        field = parts[1]
        if field == "build" and len(parts) == 2:
            host.build, host.ubr = parse_build(value)
        elif field in ("flight", "branch", "bundle", "crash") and len(parts) == 2:
            setattr(host, field, value or None)
        elif field == "step" and len(parts) == 3:
            seconds, _, state = value.partition(" ")
            try:
                duration = float(seconds)
            except ValueError:
                raise PropertyError(f"{name} = {value!r} is not 'SECONDS ok' or 'SECONDS failed'") from None
            host.steps.append(StepTiming(parts[2], None, duration, state.strip() != "failed"))
    return run


def _time(seconds: float) -> str:
    return f"{max(0.0, seconds):.3f}"


def render_junit(host: HostRecord, tests: Sequence[TestRecord], mask: SecretMask, *, timestamp: str = "",
                 run_id: str = "") -> str:
    failures = sum(1 for t in tests if t.outcome == FAILED)
    errors = sum(1 for t in tests if t.outcome == ERROR)
    skipped = sum(1 for t in tests if t.outcome == SKIPPED)
    total = sum(t.duration_s for t in tests)
    root = ET.Element("testsuites", name=f"pytest-nestedhv {host.label}", tests=str(len(tests)),
                      failures=str(failures), errors=str(errors), time=_time(total))
    suite = ET.SubElement(root, "testsuite", name=f"pytest-nestedhv {host.label}", tests=str(len(tests)),
                          failures=str(failures), errors=str(errors), skipped=str(skipped), time=_time(total),
                          timestamp=timestamp, hostname=host.label)
    props = ET.SubElement(suite, "properties")
    for name, value in (("host", host.label), ("build", host.build_text),
                        ("build_lab_ex", str(host.facts.get("build_lab_ex", ""))),
                        *(run_properties(run_id, timestamp) if run_id else []), *host_properties(host)):
        ET.SubElement(props, "property", name=name, value=mask.mask(value))
    for test in tests:
        case = ET.SubElement(suite, "testcase", classname=test.classname, name=test.name, time=_time(test.duration_s))
        case_props = ET.SubElement(case, "properties")
        for name, value in junit_properties(test, host):
            ET.SubElement(case_props, "property", name=name, value=mask.mask(value))
        message = xml_text(mask.mask(test.message))
        if test.outcome == FAILED:
            ET.SubElement(case, "failure", message=message).text = xml_text(mask.mask(test.longrepr))
        elif test.outcome == ERROR:
            ET.SubElement(case, "error", message=message).text = xml_text(mask.mask(test.longrepr))
        elif test.outcome == SKIPPED:
            ET.SubElement(case, "skipped", type="pytest.skip", message=message)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
