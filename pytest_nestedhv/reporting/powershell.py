"""repro.ps1 and transcript.ps1, rendered from the structured command records.

Every call is rendered by remote.transcript (the one PowerShell renderer), so a command
reads exactly as the plugin sent it. repro.ps1 is the package's ``templates/repro.ps1``
with the replayed calls filled in; credentials are script parameters (Get-Credential when
absent) and no password is ever written.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

from ..hyperv.remedy import REMEDIATE_STEP
from ..remote.commands import Cmd
from ..remote.errors import one_line
from ..remote.transcript import ScriptNames, TranscriptEntry, ps_literal, render_cmd, render_entry
from .records import EntryRecord, HostRecord, TestRecord
from .wire import decode_pipeline, parse_iso

REPORT_STEP_PREFIX = "report:"  # calls the reporting itself made (event logs): never replayed
DEFAULT_GUEST_USER = "Administrator"  # assumption: the usual local admin when the run did not say
REPLAY_WAIT_MIN_S = 600  # a replay may run on a slower host: a wait that succeeded gets at least the lab's boot timeout
INDENT = "    "


@dataclasses.dataclass(frozen=True)
class ReproPlan:
    steps: list[EntryRecord]
    failing: EntryRecord | None  # the call that failed (the script stops there)
    failed_test: TestRecord | None


def to_entry(record: EntryRecord) -> TranscriptEntry:
    started = parse_iso(record.started)
    assert started is not None, "records always carry a start time"
    return TranscriptEntry(
        started=started, duration_s=record.duration_s, target=record.target,
        pipeline=decode_pipeline(record.pipeline), outcome="error" if record.outcome == "error" else "ok",
        error=record.error, step=record.step,
    )


def replayable(entries: Iterable[EntryRecord]) -> list[EntryRecord]:
    kept = collapse_waits([e for e in entries if not (e.step or "").startswith(REPORT_STEP_PREFIX)])
    return [_real_host_wait(e) for e in kept]


def _real_host_wait(record: EntryRecord) -> EntryRecord:
    """A wait that succeeded in the run (perhaps on a fast or emulated host) gets a real host's time."""
    if _wait_of(record) is None or record.outcome == "error":
        return record
    params = record.pipeline[0]["params"]
    timeout = next((v for k, v in params if k == "Timeout"), None)
    if not isinstance(timeout, int) or timeout >= REPLAY_WAIT_MIN_S:
        return record
    params = [[k, REPLAY_WAIT_MIN_S if k == "Timeout" else v] for k, v in params]
    return dataclasses.replace(record, pipeline=[{**record.pipeline[0], "params": params}])


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
    names = ScriptNames()
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
        "[CmdletBinding()]",
        "param(" + ", ".join(names.parameters()) + ")",
        *names.prompts(),
    ]
    return "\n".join(head + [""] + body) + "\n"


# ------------------------------------------------------------------ repro.ps1


def plan_repro(host: HostRecord, tests: Sequence[TestRecord]) -> ReproPlan:
    """The calls to replay: the run's own, without its cleanup, up to the first failure."""
    entries = [e for e in replayable(host.entries) if not (e.phase == "teardown" and e.step is None)]
    failed = next((t for t in tests if t.failed), None)
    failing: EntryRecord | None = None
    if failed is not None:
        order = {t.nodeid: i for i, t in enumerate(tests)}
        limit = order[failed.nodeid]
        own = [e for e in entries if e.test == failed.nodeid]
        failed_steps = {p.step for p in host.phases if not p.ok}
        failing = next((e for e in own if e.outcome == "error" and e.step in failed_steps), None) \
            or next((e for e in own if e.outcome == "error"), None)
        if failing is not None:
            entries = entries[: entries.index(failing) + 1]
        else:
            last = max((i for i, e in enumerate(entries) if order.get(e.test or "", limit + 1) <= limit), default=-1)
            entries = entries[: last + 1]
    return ReproPlan(entries, failing, failed)


def failure_message(test: TestRecord) -> str:
    """What the run reported for a failed test, as one line (the Finding's message when judged)."""
    f = test.finding
    if f.get("found") and test.requirement:
        text = f"{test.requirement}: found {f['found']}; required {f.get('required', '')}"
        return one_line(text + (f"; fix: {f['remedy']}" if f.get("remedy") else ""))
    return one_line(test.message.removeprefix("Failed: ")) or f"{test.nodeid} failed"


def _created(record: EntryRecord, names: ScriptNames) -> list[str]:
    """Statements that note what a replayed host call creates, for the template's cleanup."""
    if record.target != "host":
        return []  # VMs inside the L1 go away with the L1
    out = []
    for cmd in decode_pipeline(record.pipeline):
        if cmd.name.lower() == "new-vm" and isinstance(cmd.param("Name"), str):
            out.append(f"$created += {ps_literal(cmd.param('Name'), names)}")
        elif cmd.name.lower() == "new-vhd" and isinstance(cmd.param("Path"), str):
            out.append(f"$disks += {ps_literal(cmd.param('Path'), names)}")
    return out


def _verify(test: TestRecord, host: HostRecord, names: ScriptNames) -> str:
    """The call that checks the failed requirement again (the template's Assert-Requirement)."""
    evidence = test.finding.get("evidence") if isinstance(test.finding.get("evidence"), dict) else {}
    vm = evidence.get("vm") or host.vm.get("name") or ""
    params: dict[str, Any] = {"Id": test.requirement or test.nodeid, "Message": failure_message(test),
                              "Required": str(test.finding.get("required", "")),
                              "Found": {str(k): v for k, v in evidence.items() if isinstance(v, (str, int, bool))},
                              "VMName": str(vm)}
    line = render_cmd(Cmd.of("Assert-Requirement", **params), names)
    if (test.requirement or "").startswith("guest."):  # checked inside the L1, through PowerShell Direct
        line += f" -Credential {names.credential(host.guest_user or DEFAULT_GUEST_USER)}"
    return line


def render_repro(host: HostRecord, tests: Sequence[TestRecord], run_id: str = "") -> str:
    plan = plan_repro(host, tests)
    names = ScriptNames({run_id: "RunId"} if run_id else {})
    guest_user = host.guest_user or DEFAULT_GUEST_USER
    body: list[str] = []
    step: str | None = None
    for record in plan.steps:
        if record.step != step and record.step != REMEDIATE_STEP:
            body.append(render_cmd(Cmd.of("Write-Step", Text=f"step: {record.step or 'checks'}")))
        step = record.step
        line = render_entry(to_entry(record), names, guest_user)
        if record.step == REMEDIATE_STEP:
            # a change --nested-remediate made to the user's VM: said, never made again by a replay
            body.append(f"# --nested-remediate changed the VM in the run (not replayed): {line}")
            continue
        if record is plan.failing and plan.failed_test is not None:
            message = ps_literal(failure_message(plan.failed_test), names)
            body.append(f"# the call that failed in the run: {one_line(record.error or 'error')}")
            body.append(f"try {{ {line} }} catch {{ Write-Step \"the call failed: $($_.Exception.Message)\"; "
                        f"throw {message} }}")
        elif record.outcome == "error":
            # the run got this error and went on (a probe or an expected refusal): so does the script
            body.append(f"try {{ {line} }} catch {{ Write-Step \"expected error, the run went on: "
                        f"$($_.Exception.Message)\" }}")
        else:
            body.append(f"$null = {line}")
        body += _created(record, names)
    if plan.failed_test is not None and plan.failing is None:
        what = plan.failed_test.requirement or "the failure"
        body.append(render_cmd(Cmd.of("Write-Step", Text=f"checking {what} again")))
        body.append(_verify(plan.failed_test, host, names))
    elif plan.failed_test is None:
        body.append(render_cmd(Cmd.of("Write-Step", Text="every replayed call succeeded, as in the run")))
    if not plan.steps:
        body.insert(0, "# the run recorded no calls on this host")
    header = [f"Reproduces the pytest-nestedhv run on {one_line(host.label)} (build {host.build_text})."]
    if plan.failed_test is not None:
        t = plan.failed_test
        header.append(f"It replays the run up to its first failure, {one_line(t.nodeid)}, "
                      "and throws the run's message:")
        header.append(failure_message(t))
    else:
        header.append("No test failed on this host: it replays every step.")
    params = names.parameters()
    fill = {
        "# @HEADER@": "\n".join(f"# {line}" for line in header),
        "\n    # @PARAMS@": "".join(f",\n    {p}" for p in params),
        "# @CREDENTIALS@": "\n".join(names.prompts()),
        "    # @STEPS@": "\n".join(INDENT + line for line in body),
    }
    text = _template("repro.ps1")
    for marker, value in fill.items():
        text = text.replace(marker, value)
    return text


def _template(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
