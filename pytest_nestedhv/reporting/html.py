"""What goes into pytest-html's report: title, environment rows, per-test extras, summary."""
from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from ..remote.secrets import SecretMask
from .facts_view import host_rows
from .history_view import NewlyFailing
from .powershell import render_transcript
from .records import EventRecord, HostRecord, RunRecord, TestRecord
from .timeline import render_timeline

TITLE_PREFIX = "Hyper-V nested virtualization"


def report_title(labels: Sequence[str], run: RunRecord | None = None) -> str:
    hosts = []
    for label in labels:
        host = run.hosts.get(label) if run else None
        hosts.append(f"{label} (build {host.build_text})" if host and host.build is not None else label)
    return f"{TITLE_PREFIX}: {', '.join(hosts) or 'no host'}"


def environment(run: RunRecord) -> dict[str, dict[str, str]]:
    """One environment-table row per host; pytest-html inserts values as HTML, so they are escaped."""
    return {
        f"Host {host.label}": {escape(k): escape(v) for k, v in host_rows(host)}
        for host in run.hosts.values()
    }


def _events_table(events: Sequence[EventRecord]) -> str:
    rows = "".join(
        f"<tr><td>{escape(e.time or '')}</td><td>{escape(e.machine)}</td><td>{escape(e.log)}</td>"
        f"<td>{e.id if e.id is not None else ''}</td><td>{escape(e.level)}</td><td>{escape(e.message)}</td></tr>"
        for e in events
    )
    return ('<table class="nestedhv-events"><thead><tr><th>time</th><th>machine</th><th>log</th><th>id</th>'
            f"<th>level</th><th>message</th></tr></thead><tbody>{rows}</tbody></table>")


def test_extra(test: TestRecord, host: HostRecord | None, mask: SecretMask) -> str:
    """The block shown under a test: requirement, evidence, remedy, transcript, events."""
    parts = ['<div class="nestedhv-extra">']
    if test.requirement:
        parts.append(f'<p class="nestedhv-requirement">Requirement: <b>{escape(test.requirement)}</b>'
                     f" ({escape(test.severity or 'error')})</p>")
    f = test.finding
    if f:
        if f.get("found") or f.get("required"):
            parts.append(f"<p>Found: {escape(str(f.get('found', '')))}<br>"
                         f"Required: {escape(str(f.get('required', '')))}</p>")
        if f.get("remedy") and (test.failed or test.severity == "warning"):
            parts.append(f'<p class="nestedhv-remedy">Remedy: <code>{escape(str(f["remedy"]))}</code></p>')
        if f.get("evidence"):
            evidence = json.dumps(f["evidence"], indent=2, sort_keys=True, default=str)
            parts.append(f'<details open><summary>Evidence</summary><pre class="nestedhv-evidence">'
                         f"{escape(evidence)}</pre></details>")
    if host is not None:
        own = [e for e in host.entries if e.test == test.nodeid]
        if own:
            text = render_transcript(host, own, title=f"what {test.name} ran on {host.label}")
            parts.append(f'<details><summary>PowerShell transcript ({len(own)} calls)</summary>'
                         f'<pre class="nestedhv-transcript">{escape(text)}</pre></details>')
        events = [e for e in host.events if e.test == test.nodeid]
        if events:
            parts.append(f"<details open><summary>Event log ({len(events)} entries since the step began)"
                         f"</summary>{_events_table(events)}</details>")
        elif test.failed:
            parts.append("<p>No Hyper-V event-log entries were found for this failure.</p>")
    parts.append("</div>")
    return mask.mask("".join(parts))


def summary(run: RunRecord, newly: Sequence[NewlyFailing], mask: SecretMask) -> list[str]:
    out: list[str] = []
    if run.interrupted:
        out.append('<p class="nestedhv-interrupted"><b>The run was interrupted</b>: '
                   "only the tests that finished are reported.</p>")
    if not run.tests:
        out.append('<p class="nestedhv-empty">No tests ran.</p>')
    for item in newly:
        out.append(f'<p class="nestedhv-newly-failing">{escape(item.key)} on {escape(item.host)}: '
                   f"newly failing since build {escape(item.build)} (passed on build {escape(item.passed_on)})</p>")
    svg = render_timeline({label: host.phases for label, host in run.hosts.items() if host.phases})
    if svg:
        out.append(f'<div class="nestedhv-timeline-box"><p>Lab timeline</p>{svg}</div>')
    return [mask.mask(x) for x in out]
