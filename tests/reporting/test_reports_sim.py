"""End to end: the suite against the emulated host writes every report, correctly."""
from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import xmlschema
from reporting_pscheck import problems
from reporting_runs import DEFAULT_GUEST_PASSWORD, INNER_IMAGE, Run, run_suite, scenario

SCHEMA = Path(__file__).parent / "data" / "junit-common.xsd"
REQUIREMENT_PROPS = {"requirement", "host", "build", "severity"}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = run_suite(tmp_path_factory.mktemp("default"), "--nested-host=sim")
    assert run.returncode == 0, run.output[-3000:]
    return run


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_every_file_is_written(default_run: Run) -> None:
    r = default_run.reports
    for name in ("report.html", "junit.xml", "history.sqlite", "history.html"):
        assert (r / name).is_file(), name
    (zip_path,) = r.glob("feedback-sim-26100.*.zip")
    folder = r / "feedback" / "sim"
    for name in ("feedback.md", "repro.ps1", "transcript.ps1", "facts.json", "junit.xml"):
        assert (folder / name).is_file(), name
    assert (folder / "events").is_dir()
    with zipfile.ZipFile(zip_path) as archive:
        assert {n.split("/", 1)[1] for n in archive.namelist()} >= {"feedback.md", "repro.ps1", "facts.json"}


def test_html_holds_facts_ids_transcripts_and_timeline(default_run: Run) -> None:
    html = (default_run.reports / "report.html").read_text()
    assert "Hyper-V nested virtualization: sim (build 26100.1742)" in html
    assert "26100.1.amd64fre.ge_release.240331-1435" in html  # BuildLabEx in the environment table
    assert "Supported configuration versions" in html and "GenuineIntel" in html
    for rid in ("host.build", "vm.expose-extensions", "guest.hypervisor", "nested.boot"):
        assert f"Requirement: <b>{rid}</b>" in html.replace("\\u003c", "<").replace("\\u003e", ">").replace('\\"', '"') \
            or f"Requirement: &lt;b&gt;{rid}" in html or rid in html
    assert "Set-VMProcessor -VMName" in html  # a transcript line
    assert "nestedhv-timeline" in html and "L2 boot" in html
    assert '<link rel="stylesheet"' not in html  # self-contained


def test_junit_has_properties_on_every_suite_test_and_validates(default_run: Run) -> None:
    text = (default_run.reports / "junit.xml").read_text()
    xmlschema.XMLSchema(str(SCHEMA)).validate(text)
    cases = ET.fromstring(text).findall(".//testcase")
    assert len(cases) >= 20
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert REQUIREMENT_PROPS <= set(props), case.get("name")
        assert props["host"] == "sim" and props["build"] == "26100.1742"
    per_host = (default_run.reports / "feedback" / "sim" / "junit.xml").read_text()
    xmlschema.XMLSchema(str(SCHEMA)).validate(per_host)


def test_scripts_parse_and_use_only_known_cmdlets(default_run: Run) -> None:
    folder = default_run.reports / "feedback" / "sim"
    for name in ("repro.ps1", "transcript.ps1"):
        text = (folder / name).read_text()
        assert problems(text) == [], name
    repro = (folder / "repro.ps1").read_text()
    assert "Invoke-Command -VMName" in repro and "Get-Credential" in repro
    assert '$created += "nestedhv-${RunId}-l1"' in repro and "Remove-VM -Name $vm -Force" in repro.split("finally {")[1]


def test_no_secret_in_any_file(default_run: Run) -> None:
    for path in _all_files(default_run.reports):
        data = path.read_bytes()
        assert DEFAULT_GUEST_PASSWORD.encode() not in data, path
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    assert DEFAULT_GUEST_PASSWORD.encode() not in archive.read(name), name


def test_three_builds_pass_fail_pass(tmp_path: Path) -> None:
    """History over three scenario builds of the same host: matrix, first failing build, flaky."""
    password = "Hist0ry-Guest-Secret"
    builds = [(1000, "ok"), (2000, "crash"), (3000, "ok")]
    runs = []
    for ubr, boot in builds:
        toml = scenario(tmp_path / f"b{ubr}" / "lab.toml", ubr=ubr, boot=boot, password=password)
        runs.append(run_suite(tmp_path, f"--nested-host=sim:{toml}", f"--nested-inner-image={INNER_IMAGE}",
                              select="suites/test_nested.py"))
    assert [r.returncode for r in runs] == [0, 1, 0], runs[1].output[-3000:]
    reports = tmp_path / "reports"
    # the failing build's bundle names nested.boot with its evidence and the crash event
    md = (reports / "feedback" / "sim-lab" / "feedback.md").read_text()  # the folder holds run 3's bundle
    assert "all 3 checks pass" in md.splitlines()[0]
    with zipfile.ZipFile(reports / "feedback-sim-lab-26100.2000.zip") as archive:
        failing_md = archive.read("feedback-sim-lab-26100.2000/feedback.md").decode()
        names = archive.namelist()
    assert "nested.boot" in failing_md.splitlines()[0]
    assert "### nested.boot" in failing_md and "Evidence:" in failing_md
    assert "18590" in failing_md  # the L2's crash in the L1's Hyper-V-Worker log
    assert any(n.endswith(".json") and "/events/" in n for n in names)
    # the middle run's report said it newly fails, naming the previous build
    with sqlite3.connect(reports / "history.sqlite") as db:
        rows = db.execute("SELECT ubr, outcome FROM results WHERE requirement = 'nested.boot' ORDER BY id").fetchall()
    assert rows == [(1000, "passed"), (2000, "failed"), (3000, "passed")]
    assert "newly failing since build 26100.2000" in runs[1].output
    history = (reports / "history.html").read_text()
    boot_row = next(line for line in history.split("<tr ") if 'data-key="nested.boot"' in line)
    assert 'data-build="26100.2000" data-verdict="failed"' in boot_row
    # one failing build between two passing ones is a regression window, not a flake (issue 10)
    assert "broke in 26100.2000, fixed in 26100.3000" in boot_row and "class=flaky" not in boot_row
    for path in _all_files(reports):
        assert password.encode() not in path.read_bytes(), path


def test_unwritable_report_dir_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    run = run_suite(tmp_path, "--nested-host=sim", reports="afile/reports")
    assert run.returncode == 4
    lines = [line for line in run.output.splitlines() if "nested-report-dir" in line]
    assert len(lines) == 1 and "cannot write there" in lines[0]
    assert "Traceback" not in run.output


def test_foreign_history_is_refused_not_overwritten(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    with sqlite3.connect(reports / "history.sqlite") as db:
        db.execute("CREATE TABLE accounts (name TEXT)")
    before = (reports / "history.sqlite").read_bytes()
    run = run_suite(tmp_path, "--nested-host=sim")
    assert run.returncode == 4 and "belongs to another program" in run.output
    assert "Traceback" not in run.output
    assert (reports / "history.sqlite").read_bytes() == before


REPORT_FILES = ("report.html", "junit.xml", "history.sqlite", "history.html")


def _snapshot(reports: Path) -> dict[str, bytes]:
    return {str(p.relative_to(reports)): p.read_bytes() for p in _all_files(reports)}


@pytest.mark.parametrize("args", [
    ("--collect-only",),
    ("-k", "no_such_test_anywhere"),
    ("--nested-host=sim:no-such-scenario",),  # a start-up error
    ("--nested-host=http://127.0.0.1:1", "--nested-base-image=C:\\b.vhdx"),  # the host does not answer
    ("--nested-host=sim", "--nested-vm=nosuch"),  # the first test's setup ends the run
], ids=["collect-only", "all-deselected", "bad-scenario", "unreachable", "no-such-vm"])
def test_a_run_without_tests_leaves_the_last_reports_alone(tmp_path: Path, args: tuple[str, ...],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_suite(tmp_path, "--nested-host=sim", select="suites/test_host.py")
    assert first.returncode == 0, first.output[-2000:]
    before = _snapshot(first.reports)
    assert {name for name in REPORT_FILES} <= set(before)
    for name in ("NESTED_HOST_USER", "NESTED_HOST_PASSWORD", "NESTED_GUEST_USER", "NESTED_GUEST_PASSWORD"):
        monkeypatch.setenv(name, "x")
    host = () if any(a.startswith("--nested-host") for a in args) else ("--nested-host=sim",)
    again = run_suite(tmp_path, *host, *args, select="suites/test_host.py")
    assert again.returncode != 0 or "--collect-only" in args, again.output[-2000:]
    assert "INTERNALERROR" not in again.output
    assert _snapshot(first.reports) == before


def test_without_pytest_html_the_run_works_and_writes_no_html(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--nested-host=sim", "-p", "no:html", select="suites/test_host.py")
    assert run.returncode == 0, run.output[-2000:]
    assert "INTERNALERROR" not in run.output
    assert not (run.reports / "report.html").exists()
    assert (run.reports / "junit.xml").is_file() and (run.reports / "feedback" / "sim" / "feedback.md").is_file()


def test_requirement_ids_in_verbose_output_and_k(tmp_path: Path) -> None:
    # run_suite passes -q: -vv makes it plain -v
    run = run_suite(tmp_path, "--nested-host=sim", "-vv", "-k", "host.bcd", select="suites/test_host.py")
    assert run.returncode == 0, run.output[-2000:]
    assert "suites/test_host.py::test_bcd[sim-host.bcd] PASSED" in run.output
    assert "1 passed, 6 deselected" in run.output
    collected = run_suite(tmp_path, "--nested-host=sim", "-v", "--collect-only", "-k", "vm.dynamic-memory")
    assert "<Function test_dynamic_memory[sim-vm.dynamic-memory]>" in collected.output, collected.output[-1500:]
    assert "1/22 tests collected (21 deselected)" in collected.output


def test_interrupted_run_reports_what_finished(tmp_path: Path) -> None:
    (tmp_path / "interrupt_at_boot.py").write_text(
        "def pytest_runtest_setup(item):\n"
        "    if 'test_boot' in item.nodeid:\n"
        "        raise KeyboardInterrupt\n"
    )
    run = run_suite(tmp_path, "--nested-host=sim", "-p", "interrupt_at_boot", select="suites/test_nested.py")
    assert run.returncode == 2, run.output[-2000:]
    md = (run.reports / "feedback" / "sim" / "feedback.md").read_text()
    assert "interrupted" in md
    # not "all 1 pass": two of the three selected checks never ran
    assert md.splitlines()[0].endswith("(1 passed, 2 not run)"), md.splitlines()[0]
    assert "Results: 1 passed, 2 not run (of 3)." in md
    junit = ET.fromstring((run.reports / "feedback" / "sim" / "junit.xml").read_text())
    names = [c.get("name") for c in junit.iter("testcase")]
    assert names == ["test_create[sim-nested.create]"]
    with sqlite3.connect(run.reports / "history.sqlite") as db:
        assert db.execute("SELECT requirement, outcome FROM results").fetchall() == [("nested.create", "passed")]


def test_a_failing_user_test_gets_its_events_from_the_fixture_finalizer(tmp_path: Path) -> None:
    """A test of the user's own against a host: reporting gets the host and the test through the
    records the fixtures hand over (config.stash / item.stash), the events included; nothing else."""
    (tmp_path / "test_mine.py").write_text(
        "from pytest_nestedhv.handover import HOSTS_KEY, TEST_KEY\n"
        "from pytest_nestedhv.remote.commands import Cmd\n\n"
        "def test_host_answers(nested_host, request):\n"
        "    assert nested_host.session.run(Cmd.of('Get-VMHost'))\n"
        "    record = request.node.stash[TEST_KEY]\n"
        "    assert record.host == 'sim' and record.events == []\n"
        "    assert request.config.stash[HOSTS_KEY]['sim'].transcript is nested_host.session.transcript\n\n"
        "def test_fails(nested_host):\n"
        "    nested_host.session.run(Cmd.of('New-VM', Name='mine', NoVHD=True, Generation=2))\n"
        "    nested_host.session.run(Cmd.of('Start-VM', Name='mine'))\n"
        "    assert False, 'my own failure'\n"
    )
    run = run_suite(tmp_path, "--nested-host=sim", select="test_mine.py")
    assert run.returncode == 1, run.output[-3000:]
    html = (run.reports / "report.html").read_text()
    assert "my own failure" in html and "Event log (" in html  # collected by the finalizer, rendered
    junit = ET.fromstring((run.reports / "junit.xml").read_text())
    assert {c.get("name"): c.find("failure") is None for c in junit.iter("testcase")} == {
        "test_host_answers[sim]": True, "test_fails[sim]": False}
    with zipfile.ZipFile(next(run.reports.glob("feedback-sim-*.zip"))) as archive:
        assert any("/events/" in n and n.endswith(".json") for n in archive.namelist())
