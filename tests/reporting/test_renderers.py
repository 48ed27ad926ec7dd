"""Renderers on a hand-made run: repro.ps1, transcript.ps1, the bundle, junit, timeline."""
from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import reporting_sample as sample
import xmlschema
from reporting_pscheck import commands, problems

from pytest_nestedhv.reporting.bundle import write_bundle
from pytest_nestedhv.reporting.junit import render_junit
from pytest_nestedhv.reporting.powershell import plan_repro, render_repro, render_transcript
from pytest_nestedhv.reporting.timeline import render_timeline

SCHEMA = Path(__file__).parent / "data" / "junit-common.xsd"


@pytest.fixture
def run():
    return sample.run()


def test_repro_parses_and_uses_only_known_cmdlets(run) -> None:
    host = run.hosts["hv01"]
    text = render_repro(host, list(run.tests.values()))
    assert problems(text) == []
    assert sample.PASSWORD not in text


def _body(text: str) -> tuple[str, str]:
    body, _, cleanup = text.partition("\n}\nfinally {")
    return body.split("\ntry {", 1)[1], cleanup


def test_repro_stops_at_the_first_failure_and_throws_the_runs_message(run) -> None:
    host = run.hosts["hv01"]
    text = render_repro(host, list(run.tests.values()), "abc123")
    body, cleanup = _body(text)
    calls = [line.strip() for line in body.splitlines() if line.startswith("    ") and line.strip()
             and not line.strip().startswith(("#", "Write-Step", "$created", "$disks"))]
    # the failing call is the last replayed one: when it fails again, the run's message is thrown
    assert calls[-1].startswith('try { Invoke-Command -VMName "nestedhv-${RunId}-l1" -Credential $GuestCredential '
                                '-ScriptBlock { Get-VM -Name "nestedhv-$($using:RunId)-l2" } } catch {')
    assert "throw 'nested.boot: found the L2 is Off; required the L2 Running" in calls[-1]
    # an error the run went on from is caught, so the script goes on too
    assert 'try { Wait-VM -Name "nestedhv-${RunId}-l1" -For \'Heartbeat\' -Timeout 10 } catch' in body
    # report-only calls (event collection) and the run's own teardown are not replayed
    assert "Get-WinEvent" not in body and "Remove-VM" not in body
    # fresh names: no statement names the run's own VMs or disks (comments quote the run)
    assert not [line for line in text.splitlines() if "abc123" in line and not line.strip().startswith("#")]
    assert '$created += "nestedhv-${RunId}-l1"' in body
    assert '$disks += "C:\\VMs\\nestedhv-${RunId}-l1.vhdx"' in body
    assert "foreach ($vm in $created)" in cleanup and "if ($Keep)" in cleanup
    # credentials are parameters, asked for when absent; errors stop the script
    assert "[pscredential] $GuestCredential" in text and "[switch] $Keep" in text
    assert "Get-Credential -UserName 'Administrator'" in text
    assert "$ErrorActionPreference = 'Stop'" in text


def test_repro_is_an_admin_script_with_step_messages(run) -> None:
    text = render_repro(run.hosts["hv01"], list(run.tests.values()), "abc123")
    assert text.startswith("#Requires -RunAsAdministrator\n")
    assert "Write-Step -Text 'step: l1-created'" in text and "Write-Step -Text 'step: l2-booted'" in text
    assert problems(text) == []


def test_repro_waits_as_long_as_a_real_host_needs(run) -> None:
    passing = sample.run(fail=False)
    text = render_repro(passing.hosts["hv01"], list(passing.tests.values()), "abc123")
    # the run's wait that failed and was retried stays short; no wait that must succeed is shorter than 600 s
    import re
    for timeout in re.findall(r"\$null = Wait-VM .* -Timeout (\d+)", text):
        assert int(timeout) >= 600


def test_repro_of_a_judged_failure_checks_the_condition_again(run) -> None:
    host = run.hosts["hv01"]
    bcd = dataclasses.replace(
        run.tests["suites/test_host.py::test_build[hv01]"], outcome="failed", requirement="host.bcd",
        finding={"found": "hypervisorloadoptions 'OFFERNESTEDVIRT=FALSE' disables nesting",
                 "required": "no OFFERNESTEDVIRT=FALSE", "remedy": "bcdedit /deletevalue '{current}' hypervisorloadoptions",
                 "evidence": {"hypervisorloadoptions": "OFFERNESTEDVIRT=FALSE"}})
    text = render_repro(host, [bcd, *list(run.tests.values())[1:]], "abc123")
    body, _ = _body(text)
    last = [line.strip() for line in body.splitlines() if line.strip()][-1]
    assert last.startswith("Assert-Requirement -Id 'host.bcd' -Message 'host.bcd: found hypervisorloadoptions "
                           "''OFFERNESTEDVIRT=FALSE'' disables nesting; required no OFFERNESTEDVIRT=FALSE; fix: bcdedit")
    assert "'host.bcd' { (-join (bcdedit /enum)) -match 'OFFERNESTEDVIRT=FALSE' }" in text
    assert "New-VM" not in body  # replayed only up to the failing check: nothing created
    assert problems(text) == []


def test_repro_without_failure_replays_every_step(run) -> None:
    passing = sample.run(fail=False)
    plan = plan_repro(passing.hosts["hv01"], list(passing.tests.values()))
    assert plan.failing is None and plan.failed_test is None
    assert [c for e in plan.steps for c in (p["name"] for p in e.pipeline)][-1] == "Get-VM"
    assert problems(render_repro(passing.hosts["hv01"], list(passing.tests.values()))) == []


def test_transcript_has_every_call_with_times(run) -> None:
    host = run.hosts["hv01"]
    text = render_transcript(host)
    assert problems(text) == []
    names = commands(text)
    # every recorded call, report calls included, plus Get-Credential for the guest account
    assert names.count("Stop-VM") == 1 and names.count("Get-WinEvent") == 1
    assert "# 2026-01-02T03:04:05.000+00:00 +0.250 s" in text
    assert "-> error: This command stopped operation" in text
    assert sample.PASSWORD not in text


def test_timeline_svg(run) -> None:
    svg = render_timeline({"hv01": run.hosts["hv01"].phases})
    root = ET.fromstring(svg)
    bars = root.findall(".//{http://www.w3.org/2000/svg}rect")
    assert len(bars) == 7
    assert any(b.get("fill") == "#c62828" for b in bars)  # the failed L2 boot
    for label in ("L1 create", "L1 boot", "Hyper-V install", "reboot", "L2 create", "L2 boot"):
        assert f">{label}<" in svg
    assert render_timeline({}) == ""


def test_junit_per_host_validates(run) -> None:
    text = render_junit(run.hosts["hv01"], list(run.tests.values()), sample.mask(), timestamp=run.started)
    xmlschema.XMLSchema(str(SCHEMA)).validate(text)
    root = ET.fromstring(text)
    cases = root.findall(".//testcase")
    assert len(cases) == 4
    props = {p.get("name"): p.get("value") for p in cases[2].find("properties")}
    assert props == {"requirement": "nested.boot", "host": "hv01", "build": "26100.2033", "severity": "error",
                     "nodeid": "suites/test_nested.py::test_boot[hv01]"}
    assert cases[2].find("failure") is not None and cases[3].find("skipped") is not None


def test_bundle_files_and_zip(run, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, run.hosts["hv01"], run, sample.mask())
    folder = tmp_path / "feedback" / "hv01"
    assert bundle.zip_path == tmp_path / "feedback-hv01-26100.2033.zip"
    expected = {"feedback.md", "repro.ps1", "transcript.ps1", "facts.json", "junit.xml",
                "events/guest-nestedhv-abc123-l1-Microsoft-Windows-Hyper-V-Worker-Admin.json"}
    assert {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} == expected
    with zipfile.ZipFile(bundle.zip_path) as archive:
        assert {n.split("/", 1)[1] for n in archive.namelist()} == expected
    md = (folder / "feedback.md").read_text()
    title = md.splitlines()[0]
    assert title.startswith("# ") and "nested.boot" in title and "26100.2033" in title
    assert "- Expected: the L2 Running" in md and "- Found: the L2 is Off" in md
    assert '"state": "Off"' in md and "18590" in md
    assert "| Build | 26100.2033 |" in md and "| CPU | GenuineIntel Intel(R) Xeon(R) Gold 6338 |" in md
    for name in expected - {"feedback.md"}:
        assert f"`{name}`" in md  # the attached-files list
    facts = json.loads((folder / "facts.json").read_text())
    assert facts["facts"]["build"] == 26100 and facts["vm"]["name"] == sample.L1
    for path in folder.rglob("*"):
        if path.is_file():
            assert sample.PASSWORD not in path.read_text()


def test_repro_waits_once_where_the_run_waited_in_slices() -> None:
    from pytest_nestedhv.reporting.powershell import collapse_waits
    from pytest_nestedhv.reporting.records import EntryRecord

    def rec(cmd: dict, outcome: str = "ok") -> EntryRecord:
        return EntryRecord("2026-11-26T10:00:00+00:00", 1.0, "host", [cmd], outcome, step="l1-booted")

    wait = {"name": "Wait-VM", "params": [["Name", "v"], ["For", "Heartbeat"], ["Timeout", 30]]}
    check = {"name": "Get-VM", "params": [["Name", "v"]]}
    other = {"name": "Get-VMHost", "params": []}
    entries = [rec(other), rec(wait, "error"), rec(check), rec(wait, "error"), rec(check), rec(wait), rec(other)]
    collapsed = collapse_waits(entries)
    assert [e.pipeline[0]["name"] for e in collapsed] == ["Get-VMHost", "Wait-VM", "Get-VMHost"]
    assert collapsed[1].outcome == "ok" and collapsed[1].duration_s == 5.0
    assert dict(map(tuple, collapsed[1].pipeline[0]["params"]))["Timeout"] >= 90
    # a wait that is not a run of slices stays as it was
    assert collapse_waits([rec(wait, "error"), rec(other)]) == [rec(wait, "error"), rec(other)]


def test_feedback_counts_passed_failed_skipped_and_not_run(tmp_path: Path) -> None:
    passing = sample.run(fail=False)  # one check skipped: not "all pass"
    passing.collected = {"hv01": len(passing.tests) + 3}  # three selected tests never reported (Ctrl-C)
    passing.interrupted = True
    write_bundle(tmp_path, passing.hosts["hv01"], passing, sample.mask())
    md = (tmp_path / "feedback" / "hv01" / "feedback.md").read_text()
    title, _, results = md.splitlines()[:3]
    assert "all" not in title and "pass" not in title.replace("passed", "")
    assert title.endswith("(3 passed, 1 skipped, 3 not run)"), title
    assert results == "Results: 3 passed, 1 skipped, 3 not run (of 7)."
    failing = sample.run()
    write_bundle(tmp_path, failing.hosts["hv01"], failing, sample.mask())
    title = (tmp_path / "feedback" / "hv01" / "feedback.md").read_text().splitlines()[0]
    assert "1 of 4 check(s) fail" in title


def test_feedback_reproduce_command_has_the_runs_options_and_secret_names(tmp_path: Path) -> None:
    from pytest_nestedhv.config import reproduce_command, resolve_settings

    env = {"NESTED_HOST_USER": "CONTOSO\\admin", "NESTED_HOST_PASSWORD": sample.PASSWORD,
           "NESTED_GUEST_PASSWORD": sample.PASSWORD}
    settings = resolve_settings({"nested_host": ["https://hv01:5986"], "nested_base_image": "C:\\Images\\base 1.vhdx",
                                 "nested_guest_user": "Administrator", "nested_keep": "failed",
                                 "nested_switch": "Lab"}, env, {"nested_auth": "ntlm"}, run_id="abc123")
    command, names = reproduce_command(settings, settings.targets[0])
    assert command == ("pytest --pyargs pytest_nestedhv.suites --nested-host=https://hv01:5986 "
                       "--nested-user=CONTOSO\\admin --nested-auth=ntlm --nested-base-image='C:\\Images\\base 1.vhdx' "
                       "--nested-guest-user=Administrator --nested-switch=Lab --nested-keep=failed")
    assert names == ("NESTED_HOST_PASSWORD", "NESTED_GUEST_PASSWORD")
    run = sample.run()
    run.reproduce = {"hv01": {"command": command, "env": list(names)}}
    write_bundle(tmp_path, run.hosts["hv01"], run, sample.mask())
    md = (tmp_path / "feedback" / "hv01" / "feedback.md").read_text()
    assert f"then `{command}`" in md and "`NESTED_HOST_PASSWORD` `NESTED_GUEST_PASSWORD`" in md
    assert sample.PASSWORD not in md


def test_repro_never_replays_what_remediation_changed(run) -> None:
    from pytest_nestedhv.reporting.records import EntryRecord

    host = run.hosts["hv01"]
    change = EntryRecord("2026-01-02T03:04:04.000+00:00", 0.5, "host",
                         [{"name": "Stop-VM", "params": [["Name", "myvm"], ["Force", True]]}], "ok",
                         step="remediate", test="suites/test_host.py::test_build[hv01]", phase="setup")
    host.entries.insert(0, change)
    text = render_repro(host, list(run.tests.values()), "abc123")
    body, _ = _body(text)
    assert "# --nested-remediate changed the VM in the run (not replayed): Stop-VM -Name 'myvm'" in body
    assert not [line for line in body.splitlines() if "Stop-VM" in line and not line.strip().startswith("#")]


def test_reproduce_command_carries_the_reboot_timeout_and_names_a_local_shell() -> None:
    from pytest_nestedhv.config import reproduce_command, resolve_settings

    settings = resolve_settings({"nested_host": ["local"], "nested_host_reboot_timeout": "600",
                                 "nested_base_image": "C:\\Images\\base.vhdx", "nested_guest_user": "Administrator"},
                                {"NESTED_LOCAL_SHELL": "pwsh -NoLogo -s", "NESTED_GUEST_PASSWORD": "x"}, {},
                                run_id="abc123")
    command, names = reproduce_command(settings, settings.targets[0])
    assert "--nested-host-reboot-timeout=600" in command
    assert names == ("NESTED_GUEST_PASSWORD", "NESTED_LOCAL_SHELL")
