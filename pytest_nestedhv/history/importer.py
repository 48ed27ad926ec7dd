"""Rebuild history entries from earlier runs' junit.xml files (pytest's, or a bundle's).

Everything comes from the file: the run's ``nestedhv/...`` testsuite properties (run id, date,
report paths, per host its build, flight and step durations; see reporting/junit.py) and each
test case's ``host``/``nodeid``/``requirement`` properties and outcome. Paths are resolved against the
junit.xml's folder. A file without a run id was not written by a pytest-nestedhv run (or by
0.1, which did not record one) and is refused. Per-test properties are an xunit1 feature (the
family the plugin picks for the junit.xml it writes); under xunit2 only runs and steps come back.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from ..reporting.history_store import HistoryRow, RunEntry, RunRow, StepRow
from ..reporting.junit import PropertyError, RunProperties, parse_build, parse_run_properties
from ..reporting.records import ERROR, FAILED, PASSED, SKIPPED


class JUnitImportError(Exception):
    """A junit.xml that cannot be imported; one line naming the file."""


def _properties(element: ET.Element) -> list[tuple[str, str]]:
    block = element.find("properties")
    if block is None:
        return []
    return [(p.get("name", ""), p.get("value", "")) for p in block.findall("property")]


def _outcome(case: ET.Element) -> str:
    if case.find("failure") is not None:
        return FAILED
    if case.find("error") is not None:
        return ERROR
    if case.find("skipped") is not None:
        return SKIPPED
    return PASSED


def _resolve(path: str | None, base: Path) -> str | None:
    return str((base / path).resolve()) if path else None


def _suites(root: ET.Element) -> list[ET.Element]:
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        return root.findall("testsuite")
    return []


def entries_from_suite(suite: ET.Element, base: Path, source: str) -> list[RunEntry]:
    try:
        run: RunProperties = parse_run_properties(_properties(suite))
    except PropertyError as err:
        raise JUnitImportError(f"{source}: {err}") from None
    if not run.run_id:
        raise JUnitImportError(f"{source}: no nestedhv/run_id property: not a junit.xml written by a "
                           "pytest-nestedhv run (0.2 or later)")
    started = run.started or suite.get("timestamp") or ""
    results: dict[str, list[HistoryRow]] = {}
    for case in suite.iter("testcase"):
        props = dict(_properties(case))
        host = props.get("host")
        if not host:
            continue  # no per-test properties (no host under test, or xunit2 dropped them)
        known = run.hosts.get(host)
        try:
            build, ubr = (known.build, known.ubr) if known else parse_build(props.get("build", ""))
        except PropertyError as err:
            raise JUnitImportError(f"{source}: test {case.get('name')}: {err}") from None
        # the node id, as a live run records it (junit.xml of 0.2 runs before it carried one: classname::name)
        test_id = props.get("nodeid") or f"{case.get('classname', '')}::{case.get('name', '')}"
        try:
            duration = round(float(case.get("time") or 0.0), 3)
        except ValueError:
            duration = 0.0
        results.setdefault(host, []).append(HistoryRow(
            run.run_id, host, build, ubr, test_id, props.get("requirement") or None, _outcome(case), duration,
            started))
    entries = []
    for label in dict.fromkeys([*run.hosts, *results]):
        host_props = run.hosts.get(label)
        rows = tuple(results.get(label, ()))
        build, ubr = (host_props.build, host_props.ubr) if host_props else (rows[0].build, rows[0].ubr)
        entries.append(RunEntry(
            RunRow(run.run_id, label, build, ubr, started,
                   flight=host_props.flight if host_props else None,
                   branch=host_props.branch if host_props else None,
                   report=_resolve(run.report, base),
                   bundle=_resolve(host_props.bundle, base) if host_props else None,
                   crash=host_props.crash if host_props else None),
            rows,
            tuple(StepRow(run.run_id, label, s.step, s.started, s.duration_s, s.ok)
                  for s in (host_props.steps if host_props else ())),
        ))
    return entries


def entries_from_file(path: Path) -> list[RunEntry]:
    """Raises JUnitImportError (one line) for a missing, unreadable or foreign file."""
    try:
        root = ET.parse(path).getroot()
    except OSError as err:
        raise JUnitImportError(f"{path}: cannot read it ({err.strerror or err})") from None
    except ET.ParseError as err:
        raise JUnitImportError(f"{path}: not an XML file ({err})") from None
    suites = _suites(root)
    if not suites:
        raise JUnitImportError(f"{path}: not a JUnit XML file (its root is <{root.tag}>, not <testsuites>/<testsuite>)")
    base = path.resolve().parent
    return [e for suite in suites for e in entries_from_suite(suite, base, str(path))]


def entries_from_files(paths: Iterable[Path]) -> tuple[list[RunEntry], list[str]]:
    """Every importable entry, and one error line per file that is not."""
    entries: list[RunEntry] = []
    errors: list[str] = []
    for path in paths:
        try:
            entries += entries_from_file(path)
        except JUnitImportError as err:
            errors.append(str(err))
    return entries, errors
