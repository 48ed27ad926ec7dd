"""The Hyper-V access check: only Windows' permission refusal stops the run (table-driven, fake session)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_nestedhv.config import parse_host
from pytest_nestedhv.hyperv.access import check_access
from pytest_nestedhv.remote.errors import ConnectionFailed, RemoteError

DENIED = RemoteError("You do not have the required permission to complete this task. Contact the administrator of "
                     "the authorization policy for the computer 'PC1'.", category="PermissionDenied",
                     fqid="Unspecified,Microsoft.HyperV.PowerShell.Commands.GetVMHost")
NOT_INSTALLED = RemoteError("The term 'Get-VMHost' is not recognized as the name of a cmdlet, function, script file, "
                            "or operable program.", category="ObjectNotFound", fqid="CommandNotFoundException")


class FakeSession:
    def __init__(self, spec: str, errors: list[RemoteError]) -> None:
        self.target = parse_host(spec)
        self.errors = errors
        self.last_errors: list[RemoteError] = []
        self.calls: list[tuple[Any, ...]] = []
        self.transcript = self

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        yield

    def run(self, *cmds: Any, timeout: float | None = None, check: bool = True) -> list[Any]:
        self.calls.append(tuple(c.name for c in cmds))
        self.last_errors = self.errors
        return []


@pytest.mark.parametrize(("spec", "errors", "refused", "why"), [
    ("local", [DENIED], True, "this prompt is not elevated"),
    ("hostA", [DENIED], True, "the account is not an administrator"),
    ("local", [], False, ""),
    ("local", [NOT_INSTALLED], False, ""),  # no Hyper-V at all: the requirements say so, test by test
])
def test_only_the_permission_refusal_stops(spec: str, errors: list[RemoteError], refused: bool, why: str) -> None:
    session = FakeSession(spec, errors)
    if refused:
        with pytest.raises(ConnectionFailed) as info:
            check_access(session)
        assert str(info.value) == (f"{session.target.label}: Hyper-V refused access ({why}): run from an elevated "
                                   "prompt (Run as administrator), or join the \"Hyper-V Administrators\" group and "
                                   "sign in again")
    else:
        check_access(session)
    assert session.calls == [("Get-VMHost",)]  # one read-only call, nothing else
