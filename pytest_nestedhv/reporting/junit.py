"""JUnit XML: the properties every suite test carries, and a per-host file for the bundle.

The run's reports/junit.xml is pytest's own (xmlpath set by the plugin); the properties
reach it through ``item.user_properties``. The per-host file is written here in the same
shape: testsuites > testsuite > testcase with a properties block per test case.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ..remote.secrets import SecretMask
from .records import ERROR, FAILED, SKIPPED, HostRecord, TestRecord

PROPERTY_NAMES = ("requirement", "host", "build", "severity")
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
    }
    return [(name, props[name]) for name in PROPERTY_NAMES]


def _time(seconds: float) -> str:
    return f"{max(0.0, seconds):.3f}"


def render_junit(host: HostRecord, tests: Sequence[TestRecord], mask: SecretMask, *, timestamp: str = "") -> str:
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
                        ("build_lab_ex", str(host.facts.get("build_lab_ex", "")))):
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
