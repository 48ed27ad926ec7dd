"""What the plugin did on each machine, renderable as a runnable PowerShell repro script."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import re
import threading
from collections.abc import Iterator
from typing import Any, Literal

from .commands import Cmd, Pipeline, Switch
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


# rendering: the one place that turns commands into PowerShell text (transcript.ps1, repro.ps1,
# remedies, error messages) ------------------------------------------------------------------
class ScriptNames:
    """The variables a script needs: a credential per guest user, $Password for a secret (never
    written), and ``variables``: literal text to write as a variable (the run id as $RunId, so a
    replay gets fresh names)."""

    def __init__(self, variables: dict[str, str] | None = None) -> None:
        self.credentials: dict[str, str] = {}
        self.secrets = False
        self.variables = {k: v for k, v in (variables or {}).items() if k}
        self.remote = False  # rendering inside Invoke-Command's script block: variables are $using:

    def reference(self, var: str) -> str:
        """A variable inside a double-quoted string, where it is read: here or in the guest."""
        return f"$($using:{var})" if self.remote else "${" + var + "}"

    def credential(self, user: str) -> str:
        if user not in self.credentials:
            n = len(self.credentials) + 1
            self.credentials[user] = "$GuestCredential" if n == 1 else f"$GuestCredential{n}"
        return self.credentials[user]

    def parameters(self) -> list[str]:
        """param() entries: credentials and the secret, asked for when not given."""
        params = [f"[pscredential] {var}" for var in self.credentials.values()]
        return params + (["[securestring] $Password"] if self.secrets else [])

    def prompts(self) -> list[str]:
        lines = []
        for user, var in self.credentials.items():
            who = f" -UserName {ps_quote(user)}" if user else ""
            lines.append(f"if (-not {var}) {{ {var} = Get-Credential{who} -Message 'L1 guest administrator' }}")
        if self.secrets:
            lines.append("if (-not $Password) { $Password = (Get-Credential -UserName 'password'"
                         " -Message 'the password the run used').Password }")
        return lines


def ps_quote(text: str) -> str:
    """A single-quoted PowerShell string (quotes, including typographic ones, doubled)."""
    out = []
    for ch in text:
        out.append(ch * 2 if ch in "'\u2018\u2019\u201a\u201b" else ch)
    return "'" + "".join(out) + "'"


def ps_expandable(text: str, names: ScriptNames) -> str:
    """A double-quoted PowerShell string in which each of ``names.variables`` is a variable."""
    out = text
    for ch in "`\"$\u201c\u201d\u201e":
        out = out.replace(ch, "`" + ch)
    for literal, var in names.variables.items():
        out = out.replace(literal, names.reference(var))
    return '"' + out + '"'


def ps_literal(value: Any, names: ScriptNames) -> str:
    if isinstance(value, Secret):
        names.secrets = True
        return "$using:Password" if names.remote else "$Password"
    if isinstance(value, GuestCredential):
        var = names.credential(value.user)
        return var.replace("$", "$using:", 1) if names.remote else var
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
        if any(literal in value for literal in names.variables):
            return ps_expandable(value, names)
        return ps_quote(value)
    if isinstance(value, (list, tuple)):
        return "@(" + ", ".join(ps_literal(v, names) for v in value) + ")"
    if isinstance(value, dict):
        body = "; ".join(f"{ps_quote(str(k))} = {ps_literal(v, names)}" for k, v in value.items())
        return "@{" + body + "}"
    return ps_quote(str(value))


def render_cmd(cmd: Cmd, names: ScriptNames | None = None) -> str:
    names = names or ScriptNames()
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


def render_pipeline(pipeline: Pipeline, names: ScriptNames | None = None) -> str:
    names = names or ScriptNames()
    return " | ".join(render_cmd(cmd, names) for cmd in pipeline)


def render_entry(entry: TranscriptEntry, names: ScriptNames, credential_user: str | None = None) -> str:
    vm = entry.vm_name
    names.remote = vm is not None
    try:
        line = render_pipeline(entry.pipeline, names)
    finally:
        names.remote = False
    if vm is not None:
        cred = names.credential(credential_user or "")
        outer, _, inner = vm.partition(NESTED_SEP)
        if inner:
            # the outer block runs in the L1: it takes the script's variables along for the inner one
            carried = [*names.variables.values(), *(["Password"] if names.secrets else [])]
            carry = "".join(f"${var} = $using:{var}; " for var in carried)
            line = f"Invoke-Command -VMName {ps_literal(inner, names)} -Credential $c -ScriptBlock {{ {line} }}"
            line = (f"Invoke-Command -VMName {ps_literal(outer, names)} -Credential {cred} -ScriptBlock "
                    f"{{ param($c) {carry}{line} }} -ArgumentList {cred}")
        else:
            line = f"Invoke-Command -VMName {ps_literal(vm, names)} -Credential {cred} -ScriptBlock {{ {line} }}"
    return line
