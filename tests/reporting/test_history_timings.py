"""Lab step durations: in JUnit properties, in the history, and flagged when a build is slower."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from history_feed import nightly_runs, run_record

from pytest_nestedhv.remote.secrets import SecretMask
from pytest_nestedhv.reporting import history_store
from pytest_nestedhv.reporting.history_html import render_history_html
from pytest_nestedhv.reporting.history_view import history_json, slowdowns
from pytest_nestedhv.reporting.junit import host_properties, parse_run_properties, render_junit, run_properties
from pytest_nestedhv.reporting.writer import write_reports


def builds(*medians: float) -> list[tuple[tuple[int, int], str, list[float]]]:
    return [((1, i), f"1.{i}", [m]) for i, m in enumerate(medians)]


@pytest.mark.parametrize(("medians", "factor", "flagged"), [
    ((10, 10, 10, 10, 10, 30), 1.5, ["1.5"]),  # 3x the median of the previous five
    ((10, 10, 10, 10, 10, 15), 1.5, []),  # exactly 1.5x is not "more than"
    ((10, 10, 10, 10, 10, 15.1), 1.5, ["1.5"]),
    ((10, 10, 10, 10, 10, 30), 3.5, []),  # the threshold is configurable
    ((30,), 1.5, []),  # nothing to compare the first build with
    # slower from 1.6 on: flagged until five slower builds make it the norm (all builds' median would still be 5)
    ((5, 5, 5, 5, 5, 5, 10, 10, 10, 10, 10, 14), 1.5, ["1.6", "1.7", "1.8"]),
    ((10, 10, 10, 100, 10, 16), 1.5, ["1.3", "1.5"]),  # median, not mean: one slow build does not hide the next
    ((0.1, 0.1, 0.1, 0.1, 0.1, 0.9), 1.5, []),  # 9x, but under a second: jitter, not a regression
    ((1, 1, 1, 1, 1, 2.1), 1.5, ["1.5"]),
])
def test_slowdown_against_the_median_of_the_previous_five_builds(
        medians: tuple[float, ...], factor: float, flagged: list[str]) -> None:
    assert [s.build for s in slowdowns(builds(*medians), factor)] == flagged


def test_a_builds_value_is_the_median_of_its_runs() -> None:
    per_build = [((1, 0), "1.0", [10.0]), ((1, 1), "1.1", [10.0, 40.0, 11.0])]  # one slow run of three: no slowdown
    assert slowdowns(per_build, 1.5) == ()
    (hit,) = slowdowns([((1, 0), "1.0", [10.0]), ((1, 1), "1.1", [40.0, 11.0, 35.0])], 1.5)
    assert (hit.build, hit.seconds, hit.baseline, round(hit.ratio, 1)) == ("1.1", 35.0, 10.0, 3.5)


def test_history_records_every_steps_duration_and_flags_the_slow_build(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    for run in nightly_runs():
        write_reports(run, tmp_path / run.run_id, SecretMask(), history=db)
    history = history_store.read(db)
    assert len(history.steps) == 5 * 9
    steps = history_json(history)["hosts"]["hv01"]["steps"]
    assert list(steps) == ["host-checked", "l1-created", "l1-booted", "hyperv-installed", "l2-booted"]
    assert steps["l1-booted"]["durations"]["26100.2000"] == [10.0, 12.0]  # both runs, in run order
    assert steps["l1-booted"]["slowdowns"] == [{"build": "26100.5000", "seconds": 30.0, "baseline": 10.0,
                                                "ratio": 3.0, "baseline_builds": [
                                                    "26100.999", "26100.1000", "26100.2000", "26100.3000",
                                                    "26100.4000"]}]
    assert steps["l2-booted"]["slowdowns"] == []
    assert history_json(history, 3.5)["hosts"]["hv01"]["steps"]["l1-booted"]["slowdowns"] == []
    html = render_history_html(history)
    assert '<tr data-step="l1-booted">' in html
    assert 'class="slow" data-build="26100.5000"' in html and "slower 3.0x" in html
    assert html.count('class="slow"') == 1


def test_a_failed_steps_duration_is_kept_out_of_the_trend(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    write_reports(run_record("a", 1, {}, steps={"l2-booted": 10}), tmp_path / "a", SecretMask(), history=db)
    write_reports(run_record("b", 2, {}, steps={"l2-booted": 900}, failed_step="l2-booted"), tmp_path / "b",
                  SecretMask(), history=db)
    history = history_store.read(db)
    assert [(s.run_id, s.ok) for s in history.steps if s.step == "l2-booted"] == [("a", True), ("b", False)]
    step = history_json(history)["hosts"]["hv01"]["steps"]["l2-booted"]
    assert step == {"durations": {"26100.1": [10.0]}, "slowdowns": []}


def test_junit_properties_carry_the_run_and_every_step() -> None:
    run = run_record("abc123", 4061, {"nested.boot": "failed"}, steps={"l1-booted": 42.5}, failed_step="l2-booted")
    host = run.hosts["hv01"]
    props = run_properties(run.run_id, run.started, report="report.html") + host_properties(host, bundle="b.zip")
    names = dict(props)
    assert names["nestedhv/run_id"] == "abc123" and names["nestedhv/report"] == "report.html"
    assert names["nestedhv/hv01/build"] == "26100.4061" and names["nestedhv/hv01/flight"] == "Dev"
    assert names["nestedhv/hv01/step/l1-booted"] == "42.500 ok"
    assert names["nestedhv/hv01/step/l2-booted"] == "10.000 failed"
    parsed = parse_run_properties(props)
    assert (parsed.run_id, parsed.started, parsed.report) == ("abc123", run.started, "report.html")
    back = parsed.hosts["hv01"]
    assert (back.build, back.ubr, back.flight, back.branch, back.bundle) == (26100, 4061, "Dev", "rs_prerelease",
                                                                             "b.zip")
    assert [(s.step, s.duration_s, s.ok) for s in back.steps][2:] == [("l1-booted", 42.5, True),
                                                                     ("hyperv-installed", 10.0, True),
                                                                     ("l2-booted", 10.0, False)]
    # the bundle's per-host junit.xml carries them on its testsuite too
    text = render_junit(host, list(run.tests.values()), SecretMask(), timestamp=run.started, run_id=run.run_id)
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None
    suite_props = {p.get("name"): p.get("value") for p in suite.find("properties").findall("property")}  # type: ignore[union-attr]
    assert suite_props["nestedhv/hv01/step/l1-booted"] == "42.500 ok" and suite_props["nestedhv/run_id"] == "abc123"


def test_a_host_label_with_dots_stays_one_label() -> None:
    run = run_record("r", 1, {}, host="hv01.contoso.com")
    parsed = parse_run_properties(host_properties(run.hosts["hv01.contoso.com"]))
    assert list(parsed.hosts) == ["hv01.contoso.com"] and len(parsed.hosts["hv01.contoso.com"].steps) == 5
