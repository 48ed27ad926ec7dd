"""What the plugin did on each machine, renderable as a runnable PowerShell repro script."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from .commands import Cmd, Pipeline, Switch
from .errors import one_line
from ..secrets import GuestCredential, Secret

Outcome = Literal["ok", "error"]
_MB, _GB = 1024**2, 1024**3
_BARE_WORD = re.compile(r"[A-Za-z0-9/][A-Za-z0-9/_.:=-]*")
HOST = "host"
GUEST_PREFIX = "guest:"
NESTED_SEP = "/"  # "guest:<l1>/<l2>": a call inside an L2, through its L1


@dataclasses.dataclass(frozen=True)
class TranscriptEntry:
    started: datetime.datetime
    duration_s: float
    target: str  # "host", "guest:<vm>" or "guest:<vm>/<inner vm>"
    pipeline: Pipeline
    outcome: Outcome
    error: str | None = None
    step: str | None = None

    @property
    def vm_name(self) -> str | None:
        return self.target[len(GUEST_PREFIX):] if self.target.startswith(GUEST_PREFIX) else None


class Transcript:
    """An append-only list of entries; ``step(name)`` tags what runs inside it.

    Several threads may record into one transcript (the lab runs a side branch on a session of
    its own): each thread has its own current step."""

    def __init__(self) -> None:
        self.entries: list[TranscriptEntry] = []
        self._local = threading.local()

    @property
    def _steps(self) -> list[str]:
        steps: list[str] | None = getattr(self._local, "steps", None)
        if steps is None:
            steps = self._local.steps = []
        return steps

    @property
    def current_step(self) -> str | None:
        return self._steps[-1] if self._steps else None

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._steps.append(name)
        try:
            yield
        finally:
            self._steps.pop()

    def record(self, entry: TranscriptEntry) -> None:
        self.entries.append(entry)

    def for_step(self, name: str) -> list[TranscriptEntry]:
        return [e for e in self.entries if e.step == name]

    def render(self) -> str:
        return render_powershell(self.entries)


# rendering -------------------------------------------------------------------------------
class _Names:
    """Variable names for credentials, one per guest user (secrets are never written)."""

    def __init__(self) -> None:
        self.credentials: dict[str, str] = {}
        self.secrets = False

    def credential(self, user: str) -> str:
        if user not in self.credentials:
            n = len(self.credentials) + 1
            self.credentials[user] = "$GuestCredential" if n == 1 else f"$GuestCredential{n}"
        return self.credentials[user]


def ps_quote(text: str) -> str:
    """A single-quoted PowerShell string (quotes, including typographic ones, doubled)."""
    out = []
    for ch in text:
        out.append(ch * 2 if ch in "'\u2018\u2019\u201a\u201b" else ch)
    return "'" + "".join(out) + "'"


def ps_literal(value: Any, names: _Names) -> str:
    if isinstance(value, Secret):
        names.secrets = True
        return "$Password"
    if isinstance(value, GuestCredential):
        return names.credential(value.user)
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int) and value and value % _MB == 0:
        # 4GB reads better than 4294967296 and is the same PowerShell literal
        return f"{value // _GB}GB" if value % _GB == 0 else f"{value // _MB}MB"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return ps_quote(value)
    if isinstance(value, (list, tuple)):
        return "@(" + ", ".join(ps_literal(v, names) for v in value) + ")"
    if isinstance(value, dict):
        body = "; ".join(f"{ps_quote(str(k))} = {ps_literal(v, names)}" for k, v in value.items())
        return "@{" + body + "}"
    return ps_quote(str(value))


def render_cmd(cmd: Cmd, names: _Names | None = None) -> str:
    names = names or _Names()
    parts = [cmd.name]
    for key, value in cmd.params:
        if key == "":
            # a positional argument (native commands: bcdedit /enum); plain words stay unquoted
            bare = isinstance(value, str) and _BARE_WORD.fullmatch(value)
            parts.append(value if bare else ps_literal(value, names))
        elif isinstance(value, Switch):
            parts.append(f"-{key}")
        elif isinstance(value, bool):
            # -Name:$true binds a switch and a Boolean parameter alike; "-Name $true" would not
            parts.append(f"-{key}:{ps_literal(value, names)}")
        else:
            parts.append(f"-{key} {ps_literal(value, names)}")
    return " ".join(parts)


def render_pipeline(pipeline: Pipeline, names: _Names | None = None) -> str:
    names = names or _Names()
    return " | ".join(render_cmd(cmd, names) for cmd in pipeline)


def render_entry(entry: TranscriptEntry, names: _Names, credential_user: str | None = None) -> str:
    line = render_pipeline(entry.pipeline, names)
    vm = entry.vm_name
    if vm is not None:
        cred = names.credential(credential_user or "")
        outer, _, inner = vm.partition(NESTED_SEP)
        if inner:
            line = (f"Invoke-Command -VMName {ps_quote(inner)} -Credential $c -ScriptBlock {{ {line} }}")
            line = f"Invoke-Command -VMName {ps_quote(outer)} -Credential {cred} -ScriptBlock {{ param($c) {line} }} " \
                   f"-ArgumentList {cred}"
        else:
            line = f"Invoke-Command -VMName {ps_quote(vm)} -Credential {cred} -ScriptBlock {{ {line} }}"
    return line


def render_powershell(entries: Iterable[TranscriptEntry], *, guest_users: dict[str, str] | None = None) -> str:
    """Each pipeline as one PowerShell line, steps and errors as comments.

    ``guest_users`` maps a VM name to the guest account used there, so the script can ask
    for that account's password (it is never written).
    """
    entries = list(entries)
    guest_users = guest_users or {}
    names = _Names()
    body: list[str] = []
    step: str | None = None
    for entry in entries:
        if entry.step != step:
            step = entry.step
            body.append("")
            body.append(f"# --- step: {step or '(no step)'}")
        body.append(render_entry(entry, names, guest_users.get(entry.vm_name or "")))
        if entry.outcome == "error":
            body.append(f"#   -> failed after {entry.duration_s:.1f} s: {one_line(entry.error or 'error')}")
    head = ["# Commands run by pytest-nestedhv, in order. Passwords are prompted for, never stored."]
    if names.secrets:
        head.append("$Password = Read-Host -AsSecureString -Prompt 'password'")
    for user, var in names.credentials.items():
        who = f" -UserName {ps_quote(user)}" if user else ""
        head.append(f"{var} = Get-Credential{who} -Message 'guest administrator'")
    return "\n".join(head + body) + "\n"

