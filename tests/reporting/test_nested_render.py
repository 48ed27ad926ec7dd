"""A call inside an L2 (target ``guest:<l1>/<l2>``) renders as a runnable double hop, for
transcript.ps1 and repro.ps1: PowerShell Direct into the L1, and from there into the L2."""
from __future__ import annotations

import datetime

from reporting_pscheck import problems

from pytest_nestedhv.remote.commands import Cmd
from pytest_nestedhv.remote.transcript import ScriptNames, TranscriptEntry, render_entry


def entry(target: str) -> TranscriptEntry:
    return TranscriptEntry(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc), 0.1, target,
                           (Cmd.of("Test-Connection", ComputerName="192.168.250.12", Count=2),), "ok")


def test_an_l2_call_is_a_double_hop_with_one_credential() -> None:
    line = render_entry(entry("guest:nestedhv-ab.1-l1/nestedhv-ab.1-l2-1"), ScriptNames(), "Administrator")
    assert line == ("Invoke-Command -VMName 'nestedhv-ab.1-l1' -Credential $GuestCredential -ScriptBlock { param($c) "
                    "Invoke-Command -VMName 'nestedhv-ab.1-l2-1' -Credential $c -ScriptBlock { Test-Connection "
                    "-ComputerName '192.168.250.12' -Count 2 } } -ArgumentList $GuestCredential")


def test_the_rendered_script_parses_and_uses_known_cmdlets() -> None:
    names = ScriptNames()
    lines = [render_entry(e, names, "Administrator") for e in (entry("host"), entry("guest:l1"), entry("guest:l1/l2"))]
    text = "\n".join(["param(" + ", ".join(names.parameters()) + ")", *names.prompts(), *lines])
    assert problems(text) == []
    assert text.count("Invoke-Command -VMName 'l1'") == 2 and text.count("Invoke-Command -VMName 'l2'") == 1


def test_a_replay_carries_its_fresh_names_through_both_hops() -> None:
    names = ScriptNames({"ab.1": "RunId"})
    line = render_entry(entry("guest:nestedhv-ab.1-l1/nestedhv-ab.1-l2-1"), names, "Administrator")
    assert line == ('Invoke-Command -VMName "nestedhv-${RunId}-l1" -Credential $GuestCredential -ScriptBlock '
                    '{ param($c) $RunId = $using:RunId; Invoke-Command -VMName "nestedhv-${RunId}-l2-1" -Credential $c '
                    "-ScriptBlock { Test-Connection -ComputerName '192.168.250.12' -Count 2 } } "
                    "-ArgumentList $GuestCredential")
    assert problems(line) == []
