"""The feedback bundle of one host: feedback.md, repro.ps1, transcript.ps1, facts.json,
events/*.json and junit.xml under reports/feedback/<host>/, zipped beside it."""
from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..remote.secrets import SecretMask
from .facts_view import host_rows
from .junit import render_junit
from .powershell import render_repro, render_transcript
from .records import SKIPPED, EventRecord, HostRecord, RunRecord, TestRecord
from .timeline import STEP_LABELS

ATTACHMENTS = {
    "repro.ps1": "run elevated on the host: replays the run with fresh names up to the first failure, checks it "
                 "again and throws the run's message; removes what it created unless -Keep",
    "transcript.ps1": "every PowerShell call the run made, in order, with timestamps",
    "facts.json": "host, L1 VM and guest facts as read by the run",
    "events": "event-log entries collected from host and guest when a test failed (events/*.json)",
    "junit.xml": "the results of this host as JUnit XML",
}


@dataclasses.dataclass(frozen=True)
class Bundle:
    folder: Path
    zip_path: Path
    files: tuple[str, ...]


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _md_code(text: str) -> str:
    return "`" + str(text).replace("`", "'") + "`"


def event_groups(events: Sequence[EventRecord]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        name = f"{event.machine}-{event.log}".replace(":", "-").replace("/", "-").replace("\\", "-")
        groups.setdefault(name, []).append(dataclasses.asdict(event))
    return groups


def _crash_section(crashes: Sequence[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for crash in crashes:
        bugcheck = crash.get("bugcheck") or {}
        out += ["## Host crash", "", f"- {_md_cell(crash.get('message', ''))}"]
        if bugcheck:
            out.append(f"- Bugcheck: {_md_code(bugcheck.get('code'))} parameters "
                       f"{_md_code(', '.join(bugcheck.get('params') or []))}; dump {_md_code(bugcheck.get('dump_path'))}"
                       + (f"; report id {_md_code(bugcheck['report_id'])}" if bugcheck.get("report_id") else ""))
        if crash.get("boot_time"):
            out.append(f"- The host booted again at {_md_cell(crash['boot_time'])}"
                       + (f", {float(crash['downtime_s']):.0f} s after it stopped answering"
                          if crash.get("downtime_s") is not None else ""))
        kinds = ", ".join(crash.get("event_kinds") or [])
        out += [f"- Its System log after the reboot: {_md_cell(kinds or 'no crash or restart events')} "
                "(`events/host-crash.json`)", ""]
    return out
def result_counts(tests: Sequence[TestRecord], collected: int | None) -> dict[str, int]:
    """passed / failed / skipped / not run: a test that errored failed; one that was selected
    but never reported (Ctrl-C, -x) did not run."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for test in tests:
        counts["failed" if test.failed else "skipped" if test.outcome == SKIPPED else "passed"] += 1
    counts["not run"] = max(0, (collected or 0) - len(tests))
    return counts


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "nothing ran"


def render_feedback(host: HostRecord, tests: Sequence[TestRecord], run: RunRecord, files: Sequence[str]) -> str:
    failing = [t for t in tests if t.failed]
    warnings = [t for t in tests if t.severity == "warning" and not t.failed]
    product = str(host.facts.get("product_name") or "Windows")
    counts = result_counts(tests, run.collected.get(host.label))
    total = sum(counts.values())
    where = f"on {product} build {host.build_text}"
    if host.crashes:  # the host went down under the run: that is the news, whatever else failed
        ids = ", ".join(dict.fromkeys(t.requirement or t.name for t in failing))
        title = f"Nested virtualization: {host.crash} {where}"
        title += f"; {len(failing)} of {total} check(s) fail: {ids}" if failing else ""
    elif failing:
        ids = ", ".join(dict.fromkeys(t.requirement or t.name for t in failing))
        title = f"Nested virtualization: {len(failing)} of {total} check(s) fail {where}: {ids}"
    elif tests and counts["passed"] == total:
        title = f"Nested virtualization: all {total} checks pass {where}"
    elif tests:
        title = f"Nested virtualization: no check fails {where} ({_counts_text(counts)})"
    else:
        title = f"Nested virtualization: no checks ran {where}"
    out = [f"# {_md_cell(title)}", "", f"Results: {_counts_text(counts)} (of {total}).", ""]
    if run.interrupted:
        out += ["> The run was interrupted: only the checks that finished are reported.", ""]
    out += ["## Environment", "", "| | |", "|---|---|", f"| Host | {_md_cell(host.label)} |"]
    out += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in host_rows(host)]
    out += [f"| Run | {_md_cell(run.run_id)} started {_md_cell(run.started)} |", ""]
    out += _crash_section(host.crashes)
    out += ["## Failing requirements", ""]
    if not failing:
        out += ["None.", ""]
    for test in failing:
        f = test.finding
        out.append(f"### {_md_cell(test.requirement or test.name)} ({_md_code(test.nodeid)})")
        out.append("")
        if f:
            out.append(f"- Expected: {_md_cell(f.get('required', ''))}")
            out.append(f"- Found: {_md_cell(f.get('found', ''))}")
            if f.get("remedy"):
                out.append(f"- Remedy: {_md_code(f['remedy'])}")
        if test.message:
            out.append(f"- Reported: {_md_cell(test.message)}")
        out.append("")
        evidence = f.get("evidence") if f else None
        if evidence:
            out += ["Evidence:", "", "```json", json.dumps(evidence, indent=2, sort_keys=True, default=str), "```", ""]
        events = [e for e in host.events if e.test == test.nodeid]
        if events:
            out += ["Events:", "", "| time | machine | log | id | level | message |", "|---|---|---|---|---|---|"]
            out += [f"| {_md_cell(e.time or '')} | {_md_cell(e.machine)} | {_md_cell(e.log)} | {e.id} | "
                    f"{_md_cell(e.level)} | {_md_cell(e.message)} |" for e in events]
            out.append("")
    if warnings:
        out += ["## Warnings", ""]
        out += [f"- {_md_cell(t.requirement or t.name)}: {_md_cell(t.finding.get('found', '') if t.finding else '')}"
                for t in warnings]
        out.append("")
    out += ["## Steps to reproduce", ""]
    out.append("1. On the Hyper-V host, in an elevated PowerShell, run the attached `repro.ps1` "
               "(it asks for the guest credentials and stops at the first error).")
    again = run.reproduce.get(host.label) or {
        "command": f"pytest --pyargs pytest_nestedhv.suites --nested-host={host.spec or host.label}", "env": []}
    env = " ".join(f"`{name}`" for name in again.get("env") or [])
    out.append("2. Or run the validation suite with the options this run used: `pip install pytest-nestedhv`, "
               + (f"put the passwords in the environment variables {env}, " if env else "")
               + f"then `{again['command']}`.")
    if host.phases:
        out += ["", "The run's lab steps:", ""]
        for phase in host.phases:
            state = "ok" if phase.ok else f"FAILED: {_md_cell(phase.error or '')}"
            out.append(f"- {STEP_LABELS.get(phase.step, phase.step)} ({phase.duration_s:.1f} s): {state}")
    out += ["", "## Attached files", ""]
    out += [f"- `{name}`: {ATTACHMENTS.get(name.split('/')[0], '')}" for name in files]
    return "\n".join(out) + "\n"


def write_bundle(root: Path, host: HostRecord, run: RunRecord, mask: SecretMask) -> Bundle:
    tests = run.tests_of(host.label)
    folder = root / "feedback" / host.safe_label
    (folder / "events").mkdir(parents=True, exist_ok=True)
    texts: dict[str, str] = {
        "repro.ps1": render_repro(host, tests, run.run_id),
        "transcript.ps1": render_transcript(host),
        "facts.json": json.dumps({"host": host.label, "build": host.build_text, "run_id": run.run_id,
                                  "facts": host.facts, "vm": host.vm, "guest": host.guest},
                                 indent=2, sort_keys=True, default=str) + "\n",
        "junit.xml": render_junit(host, tests, mask, timestamp=run.started, run_id=run.run_id),
    }
    for name, events in sorted(event_groups(host.events).items()):
        texts[f"events/{name}.json"] = json.dumps(events, indent=2, default=str) + "\n"
    if host.crashes:  # one outage ends the lab; should there be more, all of them
        crash = host.crashes[0] if len(host.crashes) == 1 else host.crashes
        texts["events/host-crash.json"] = json.dumps(crash, indent=2, sort_keys=True, default=str) + "\n"
    files = ["repro.ps1", "transcript.ps1", "facts.json", *sorted(n for n in texts if n.startswith("events/")),
             "junit.xml"]
    texts["feedback.md"] = render_feedback(host, tests, run, files)
    for name, text in texts.items():
        (folder / name).write_text(mask.mask(text), encoding="utf-8", newline="\n")
    zip_path = root / f"feedback-{host.safe_label}-{host.build_text}.zip"
    arc_root = zip_path.stem
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in ["feedback.md", *files]:
            archive.write(folder / name, f"{arc_root}/{name}")
    return Bundle(folder, zip_path, tuple(["feedback.md", *files]))
