"""repro.ps1 and transcript.ps1, rendered from the structured command records.

Both use remote.transcript's renderer for each call, so a command reads exactly as the
plugin sent it. Credentials are script parameters (Get-Credential when absent); no
password is ever written. Every cmdlet used here besides the recorded ones
(Get-Credential, Stop-VM, Remove-VM, Remove-Item) is in cmdlets.json.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from ..remote.errors import one_line
from ..remote.transcript import TranscriptEntry, _Names, ps_quote, render_entry
from .records import EntryRecord, HostRecord, TestRecord
from .wire import decode_pipeline, parse_iso

REPORT_STEP_PREFIX = "report:"  # calls the reporting itself made (event logs): never replayed
DEFAULT_GUEST_USER = "Administrator"  # assumption: the usual local admin when the run did not say
REPLAY_WAIT_MIN_S = 600  # a replay may run on a slower host: a collapsed wait gets at least the lab's boot timeout


@dataclasses.dataclass(frozen=True)
class ReproPlan:
    steps: list[EntryRecord]
    failing: EntryRecord | None  # the call that failed (the script stops there)
    failed_test: TestRecord | None
    cleanup: list[str]  # rendered cleanup commands


def to_entry(record: EntryRecord) -> TranscriptEntry:
    started = parse_iso(record.started)
    assert started is not None, "records always carry a start time"
    return TranscriptEntry(
        started=started, duration_s=record.duration_s, target=record.target,
        pipeline=decode_pipeline(record.pipeline), outcome="error" if record.outcome == "error" else "ok",
        error=record.error, step=record.step,
    )


def replayable(entries: Iterable[EntryRecord]) -> list[EntryRecord]:
    return collapse_waits([e for e in entries if not (e.step or "").startswith(REPORT_STEP_PREFIX)])


def _wait_of(record: EntryRecord) -> tuple[str, str, str] | None:
    """(target, VM, condition) of a one-command Wait-VM call."""
    (cmd, *rest) = decode_pipeline(record.pipeline) or (None,)
    if cmd is None or rest or cmd.name.lower() != "wait-vm":
        return None
    return record.target, str(cmd.param("Name")), str(cmd.param("For"))


def _is_state_check(record: EntryRecord, target: str, vm: str) -> bool:
    pipeline = decode_pipeline(record.pipeline)
    return (record.target == target and len(pipeline) == 1 and pipeline[0].name.lower() == "get-vm"
            and str(pipeline[0].param("Name")) == vm)


def collapse_waits(entries: list[EntryRecord]) -> list[EntryRecord]:
    """The run waits in slices (Wait-VM, then Get-VM to notice a VM that turned off); a person
    waits once: each run of slices becomes one Wait-VM with the slices' timeouts added up."""
    out: list[EntryRecord] = []
    i = 0
    while i < len(entries):
        key = _wait_of(entries[i])
        j, total = i, 0
        while key is not None and j < len(entries) and _wait_of(entries[j]) == key:
            total += int(decode_pipeline(entries[j].pipeline)[0].param("Timeout") or 0)
            if entries[j].outcome != "error":
                break
            if j + 1 < len(entries) and _is_state_check(entries[j + 1], key[0], key[1]) \
                    and j + 2 < len(entries) and _wait_of(entries[j + 2]) == key:
                j += 2
                continue
            break
        if key is None or j == i:
            out.append(entries[i])
            i += 1
            continue
        last = entries[j]
        timeout = max(total, REPLAY_WAIT_MIN_S)
        params = [[k, timeout if k == "Timeout" else v] for k, v in last.pipeline[0]["params"]]
        out.append(dataclasses.replace(last, pipeline=[{**last.pipeline[0], "params": params}],
                                       duration_s=sum(e.duration_s for e in entries[i:j + 1]),
                                       started=entries[i].started))
        i = j + 1
    return out


# ------------------------------------------------------------------ transcript.ps1


def render_transcript(host: HostRecord, entries: Sequence[EntryRecord] | None = None, *,
                      title: str | None = None) -> str:
    """Every call, in order, with its time, duration, step and outcome as comments."""
    entries = list(host.entries if entries is None else entries)
    names = _Names()
    body: list[str] = []
    for record in entries:
        entry = to_entry(record)
        where = f" [{record.step}]" if record.step else ""
        test = f" ({record.test.rsplit('::', 1)[-1]})" if record.test else ""
        body.append(f"# {record.started} +{record.duration_s:.3f} s{where}{one_line(test)} {record.outcome}")
        body.append(render_entry(entry, names, host.guest_user or DEFAULT_GUEST_USER))
        if record.outcome == "error":
            body.append(f"#   -> error: {one_line(record.error or 'error')}")
    head = [
        f"# {one_line(title or f'pytest-nestedhv transcript of {host.label} (build {host.build_text})')}",
        "# A record of every call the run made, in order; it is not meant to be run as a whole",
        "# (use repro.ps1). Passwords were never stored: credentials are parameters.",
    ]
    head += _param_block(names)
    return "\n".join(head + [""] + body) + "\n"


# ------------------------------------------------------------------ repro.ps1


def plan_repro(host: HostRecord, tests: Sequence[TestRecord]) -> ReproPlan:
    entries = replayable(host.entries)
    cleanup_records = [e for e in entries if e.phase == "teardown" and e.step is None]
    steps = [e for e in entries if not (e.phase == "teardown" and e.step is None)]
    failed = next((t for t in tests if t.failed), None)
    failing: EntryRecord | None = None
    if failed is not None:
        order = {t.nodeid: i for i, t in enumerate(tests)}
        limit = order[failed.nodeid]
        own = [e for e in steps if e.test == failed.nodeid]
        failed_steps = {p.step for p in host.phases if not p.ok}
        failing = next((e for e in own if e.outcome == "error" and e.step in failed_steps), None) \
            or next((e for e in own if e.outcome == "error"), None)
        if failing is not None:
            steps = steps[: steps.index(failing) + 1]
        else:
            last = max((i for i, e in enumerate(steps) if order.get(e.test or "", limit + 1) <= limit), default=-1)
            steps = steps[: last + 1]
    del cleanup_records  # the run's own cleanup is in transcript.ps1; repro removes what it made
    return ReproPlan(steps, failing, failed, _cleanup_for(steps))


def _cleanup_for(steps: Sequence[EntryRecord]) -> list[str]:
    """Remove what the replayed host calls create (VMs, then disks), newest first."""
    vms: list[str] = []
    disks: list[str] = []
    for record in steps:
        if record.target != "host":
            continue  # VMs inside the L1 go away with the L1
        for cmd in decode_pipeline(record.pipeline):
            if cmd.name.lower() == "new-vm" and isinstance(cmd.param("Name"), str):
                vms.append(cmd.param("Name"))
            elif cmd.name.lower() == "new-vhd" and isinstance(cmd.param("Path"), str):
                disks.append(cmd.param("Path"))
    lines: list[str] = []
    for vm in reversed(vms):
        lines.append(f"Stop-VM -Name {ps_quote(vm)} -TurnOff -Force")
        lines.append(f"Remove-VM -Name {ps_quote(vm)} -Force")
    for disk in reversed(disks):
        lines.append(f"Remove-Item -Path {ps_quote(disk)} -Force")
    return lines


def render_repro(host: HostRecord, tests: Sequence[TestRecord]) -> str:
    plan = plan_repro(host, tests)
    names = _Names()
    body: list[str] = []
    step: str | None = None
    for record in plan.steps:
        if record.step != step:
            step = record.step
            body.append(f"    # --- step: {step or '(checks)'}")
        line = render_entry(to_entry(record), names, host.guest_user or DEFAULT_GUEST_USER)
        if record is plan.failing:
            body.append(f"    # the call that failed in the run: {one_line(record.error or 'error')}")
            body.append(f"    {line}")
        elif record.outcome == "error":
            # the run got this error and went on (a probe or an expected refusal): so does the script
            body.append(f"    try {{ {line} }} catch {{ \"expected error, the run went on: $($_.Exception.Message)\" }}")
        else:
            body.append(f"    {line}")
    if not plan.steps:
        body.append("    # the run recorded no calls on this host")
    head = [f"# Reproduces the pytest-nestedhv run on {one_line(host.label)} (build {host.build_text})."]
    if plan.failed_test is not None:
        t = plan.failed_test
        head.append(f"# It stops at the first failure: {one_line(t.nodeid)}"
                    + (f" (requirement {t.requirement})" if t.requirement else ""))
        if t.message:
            head.append(f"# The run reported: {one_line(t.message)}")
    else:
        head.append("# No test failed on this host: it replays every step.")
    head.append("# Run it as administrator on the Hyper-V host. Passwords are asked for, never stored.")
    head += _param_block(names)
    head.append("$ErrorActionPreference = 'Stop'")
    cleanup = ["    $ErrorActionPreference = 'Continue'"] + [f"    {line}" for line in plan.cleanup]
    if not plan.cleanup:
        cleanup.append("    # nothing to remove: the replayed steps create no VM or disk")
    return "\n".join(head + ["", "try {"] + body + ["}", "finally {", "    # cleanup: remove what this script created"]
                     + cleanup + ["}"]) + "\n"


def _param_block(names: _Names) -> list[str]:
    params: list[str] = [f"    [pscredential] {var}" for var in names.credentials.values()]
    if names.secrets:
        params.append("    [securestring] $Password")
    lines = ["[CmdletBinding()]", "param(" + ("" if params else ")")]
    if params:
        lines += [p + ("," if i < len(params) - 1 else "") for i, p in enumerate(params)] + [")"]
    for user, var in names.credentials.items():
        who = f" -UserName {ps_quote(user)}" if user else ""
        lines.append(f"if (-not {var}) {{ {var} = Get-Credential{who} -Message 'L1 guest administrator' }}")
    if names.secrets:
        lines.append("if (-not $Password) { $Password = (Get-Credential -UserName 'password'"
                     " -Message 'the password the run used').Password }")
    return lines
