"""Rebuilding a history from earlier runs' junit.xml files: the same verdicts, idempotent, bad files refused."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from history_feed import nightly_runs
from reporting_runs import DEFAULT_GUEST_PASSWORD, INNER_IMAGE, Run, run_suite

from pytest_nestedhv.history.__main__ import main as history_main
from pytest_nestedhv.remote.secrets import SecretMask
from pytest_nestedhv.reporting import history_store
from pytest_nestedhv.reporting.history_view import history_json
from pytest_nestedhv.reporting.writer import write_reports


def json_of(db: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert history_main(["--db", str(db), "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_bundle_junit_files_rebuild_the_same_verdicts_and_steps(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    live = tmp_path / "live.sqlite"
    files = []
    for run in nightly_runs():
        written = write_reports(run, tmp_path / run.run_id, SecretMask(), history=live)
        files.append(written.bundles[0].folder / "junit.xml")
    rebuilt = tmp_path / "ci" / "rebuilt.sqlite"
    assert history_main(["import", "--db", str(rebuilt), *map(str, files)]) == 0
    assert "9 run(s) added with 18 test result(s), 0 already there" in capsys.readouterr().out
    expected = history_json(history_store.read(live))
    got = history_json(history_store.read(rebuilt))
    for host in (expected, got):  # a bundle's junit.xml does not link report.html; pytest's does (e2e test)
        for build in host["hosts"]["hv01"]["builds"].values():
            for run in build["runs"]:
                run.pop("report"), run.pop("bundle")
    assert got == expected
    assert got["hosts"]["hv01"]["requirements"]["nested.boot"]["regressions"][0] == {
        "broke": "26100.2000", "fixed": "26100.4000", "after": "26100.1000"}
    assert got["hosts"]["hv01"]["steps"]["l1-booted"]["slowdowns"][0]["build"] == "26100.5000"
    # the same runs again: nothing added
    assert history_main(["import", "--db", str(rebuilt), *map(str, files)]) == 0
    assert "0 run(s) added with 0 test result(s), 9 already there" in capsys.readouterr().out
    assert len(history_store.read(rebuilt).results) == 18


def test_bad_files_are_named_in_one_line_each_and_nothing_is_imported(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    run = nightly_runs()[0]
    good = write_reports(run, tmp_path / "r", SecretMask(), history=tmp_path / "live.sqlite").bundles[0].folder
    not_xml = tmp_path / "notes.xml"
    not_xml.write_text("hello")
    not_junit = tmp_path / "other.xml"
    not_junit.write_text("<html><body/></html>")
    foreign = tmp_path / "foreign.xml"
    foreign.write_text('<testsuites><testsuite name="x"><testcase classname="a" name="b"/></testsuite></testsuites>')
    bad_step = tmp_path / "bad-step.xml"
    bad_step.write_text('<testsuite name="x"><properties><property name="nestedhv/run_id" value="r"/>'
                        '<property name="nestedhv/h/step/l1-booted" value="fast ok"/></properties></testsuite>')
    db = tmp_path / "new.sqlite"
    args = ["import", "--db", str(db), str(good / "junit.xml"), str(not_xml), str(not_junit), str(foreign),
            str(bad_step), str(tmp_path / "missing.xml")]
    assert history_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"error: {not_xml}: not an XML file")
    assert err[1].startswith(f"error: {not_junit}: not a JUnit XML file")
    assert err[2] == (f"error: {foreign}: no nestedhv/run_id property: not a junit.xml written by a "
                      "pytest-nestedhv run (0.2 or later)")
    assert "nestedhv/h/step/l1-booted = 'fast ok' is not 'SECONDS ok'" in err[3]
    assert err[4].startswith(f"error: {tmp_path / 'missing.xml'}: cannot read it")
    assert err[5] == "error: nothing was imported; fix or leave out the files above"
    assert not db.exists()
    with sqlite3.connect(tmp_path / "theirs.sqlite") as other:
        other.execute("CREATE TABLE t (x)")
    assert history_main(["import", "--db", str(tmp_path / "theirs.sqlite"), str(good / "junit.xml")]) == 2
    assert "belongs to another program" in capsys.readouterr().err


# ---------------------------------------------------------------- end to end, with the plugin


def nightly_scenario(where: Path, *, ubr: int, boot: str, flight: str) -> Path:
    """The same emulated host (one label) on another build each night: the file name stays nightly.toml."""
    path = where / "nightly.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'description = "history e2e: build 26100.{ubr}"\n\n[host]\nbuild = 26100\nubr = {ubr}\n'
        f'flight = "{flight}"\nbranch = "rs_prerelease"\n\n'
        f'[guest]\nadmin_password = "{DEFAULT_GUEST_PASSWORD}"\nbase_images = [\'{INNER_IMAGE}\']\n\n'
        f'[nested]\nboot = "{boot}"\ncrash_after_seconds = 20\n\n[faults]\ntime_scale = 100\n',
        encoding="utf-8")
    return path


# night, UBR, L2 boot: 2000 breaks the L2 boot, 3000 flakes (crash, then ok), 4000 fixes it
NIGHTS = [(1, 1000, "ok"), (2, 2000, "crash"), (3, 3000, "crash"), (4, 3000, "ok"), (5, 4000, "ok")]


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Run]]:
    """Five nightly runs of the nested suite, each in a fresh work folder, one history kept outside them."""
    root = tmp_path_factory.mktemp("nightly")
    db = root / "agent-state" / "history.sqlite"
    runs = []
    for night, ubr, boot in NIGHTS:
        work = root / f"night{night}"
        toml = nightly_scenario(work, ubr=ubr, boot=boot, flight="CanaryChannel")
        run = run_suite(work, f"--nested-host=sim:{toml}", f"--nested-history={db}", select="suites/test_nested.py")
        assert run.returncode in (0, 1), run.output[-3000:]
        assert (run.returncode == 1) == (boot == "crash"), run.output[-3000:]
        runs.append(run)
    return db, runs


def test_nightly_runs_tell_a_regression_window_from_a_same_build_flake(
        nightly: tuple[Path, list[Run]], capsys: pytest.CaptureFixture[str]) -> None:
    db, runs = nightly
    assert not (runs[-1].reports / "history.sqlite").exists()  # the history lives outside the report folder
    host = json_of(db, capsys)["hosts"]["sim-nightly"]
    boot = host["requirements"]["nested.boot"]
    assert boot["regressions"] == [{"broke": "26100.2000", "fixed": "26100.4000", "after": "26100.1000"}]
    assert boot["flaky_builds"] == ["26100.3000"] and boot["first_failing_build"] is None
    assert [o["outcome"] for o in boot["outcomes"]["26100.3000"]] == ["failed", "passed"]
    assert host["builds"]["26100.4000"]["flight"] == "CanaryChannel"
    assert host["builds"]["26100.4000"]["branch"] == "rs_prerelease"
    assert {"host-checked", "l1-booted", "hyperv-installed", "l2-booted"} <= set(host["steps"])
    assert all(len(host["steps"]["l1-booted"]["durations"][b]) == n
               for b, n in (("26100.1000", 1), ("26100.3000", 2), ("26100.4000", 1)))
    facts = json.loads((runs[-1].reports / "feedback" / "sim-nightly" / "facts.json").read_text())
    assert facts["facts"]["flight"] == "CanaryChannel"  # read from the host's registry over PSRP
    html = (runs[-1].reports / "history.html").read_text()
    assert "broke in 26100.2000, fixed in 26100.4000" in html
    assert 'data-build="26100.3000" data-verdict="flaky"' in html
    assert "Windows Insider flight: CanaryChannel" in html
    assert 'href="../../night1/reports/report.html"' in html  # an earlier night's report, from this one's folder
    assert 'href="../../night1/reports/feedback-sim-nightly-26100.1000.zip"' in html


def test_import_of_the_nights_junit_files_rebuilds_the_same_history(
        nightly: tuple[Path, list[Run]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, runs = nightly
    rebuilt = tmp_path / "fresh-agent" / "history.sqlite"
    files = [str(run.reports / "junit.xml") for run in runs]
    assert history_main(["import", "--db", str(rebuilt), *files]) == 0
    assert json_of(rebuilt, capsys) == json_of(db, capsys)  # test ids too: junit.xml carries node ids
    # pytest's junit.xml and the bundles' are the same runs: importing both adds nothing
    bundles = [str(p) for run in runs for p in (run.reports / "feedback").glob("*/junit.xml")]
    assert len(bundles) == len(runs)
    capsys.readouterr()
    assert history_main(["import", "--db", str(rebuilt), *files, *bundles]) == 0
    assert "0 run(s) added with 0 test result(s), 10 already there" in capsys.readouterr().out
