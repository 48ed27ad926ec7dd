"""Replay a recording's requests, verbatim, against the emulator and distil its answers.

Only what identifies the peer is rewritten: the wsa:To address (the emulator's URL) and the
OperationTimeout of Receives (a Receive the emulator has nothing more for then ends in one
second instead of twenty: the same TimedOut fault either way).
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import requests

from wire_facts import Defragmenter, request_facts, response_facts

VECTORS = Path(__file__).parent / "vectors"
RECEIVE_TIMEOUT = "PT1S"
_COMMAND_ID = re.compile(r'CommandId="([^"]+)"')
_SHELL_SELECTOR = re.compile(r'(<(?:wsman|w):Selector Name="ShellId">)([^<]+)(</(?:wsman|w):Selector>)')


def load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text("utf-8"))


def names(*categories: str) -> list[str]:
    return sorted(p.stem for p in VECTORS.glob("*.json") if load(p.stem)["category"] in categories)


@dataclasses.dataclass
class Exchange:
    request: dict[str, Any]
    recorded: dict[str, Any] | None
    emulated: dict[str, Any]
    status: int


def _rewrite(envelope: str, url: str, action: str) -> str:
    envelope = re.sub(r"(<wsa:To>)[^<]*(</wsa:To>)", rf"\g<1>{url}\g<2>", envelope)
    if action == "Receive":
        envelope = re.sub(r"(<wsman:OperationTimeout>)PT\d+(\.\d+)?S(</wsman:OperationTimeout>)",
                          rf"\g<1>{RECEIVE_TIMEOUT}\g<3>", envelope)
    return envelope


def replay(vector: dict[str, Any], url: str, auth: tuple[str, str], stop_at: set[str] = frozenset()) -> list[Exchange]:
    """Send every recorded request (until an action in ``stop_at``, which is sent and ends the replay)."""
    inbound, outbound = Defragmenter(), Defragmenter()
    exchanges = []
    # recorded ShellId/CommandId -> the emulator's, for clients that let the server choose them
    shells: dict[str, str] = {}
    pending: list[str] = []
    commands: dict[str, str] = {}
    pending_commands: list[str] = []
    with requests.Session() as session:
        session.auth = auth
        for entry in vector["exchanges"]:
            envelope = entry["request_envelope"]
            request = request_facts(envelope, inbound)
            sent = _rewrite(envelope, url, request["action"])
            selector = _SHELL_SELECTOR.search(sent)
            if selector:
                recorded_id = selector.group(2)
                if recorded_id in pending:
                    pending.remove(recorded_id)
                elif recorded_id not in shells and pending:  # the recorded server chose its own ShellId
                    shells[recorded_id] = pending.pop(0)
                sent = _SHELL_SELECTOR.sub(lambda m: m.group(1) + shells.get(m.group(2), m.group(2)) + m.group(3), sent)
            if request["action"] != "Command":
                for recorded_command in set(_COMMAND_ID.findall(sent)):
                    key = recorded_command.upper()
                    if key in pending_commands:
                        pending_commands.remove(key)
                    elif key not in commands and pending_commands:  # the recorded server chose its own id
                        commands[key] = pending_commands.pop(0)
                    if key in commands:
                        sent = sent.replace(recorded_command, commands[key])
            answer = session.post(url, data=sent.encode("utf-8"), timeout=30,
                                  headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
            request = {**request, "to_host": re.sub(r"^https?://([^:/\[]+).*$", r"\1", url)}
            text = answer.content.decode("utf-8")
            emulated = response_facts(text, outbound, request)
            if request["action"] == "Command" and "fault" not in emulated:
                created_command = re.search(r"<rsp:CommandId>([^<]+)<", text).group(1).upper()
                commands[created_command] = created_command
                pending_commands.append(created_command)
            if request["action"] == "Create" and "fault" not in emulated:
                created = _SHELL_SELECTOR.search(text).group(2)
                shells[created] = created
                pending.append(created)
            exchanges.append(Exchange(entry["request"], entry.get("response"), emulated, answer.status_code))
            if request["action"] in stop_at:
                break
    return exchanges


def by_target(exchanges: list[Exchange], side: str) -> dict[str, list[dict[str, Any]]]:
    """PSRP messages received per target (the pool or a CommandId), over the whole conversation:
    how many Receives carry them is the server's choice."""
    streams: dict[str, list[dict[str, Any]]] = {}
    for exchange in exchanges:
        answer = exchange.recorded if side == "recorded" else exchange.emulated
        target = exchange.request.get("receive_target")
        if target is None or answer is None:
            continue
        streams.setdefault(target, []).extend(
            {k: v for k, v in m.items() if k != "target"} for m in answer.get("psrp", []))
    return streams


def final_states(exchanges: list[Exchange], side: str) -> dict[str, list[Any]]:
    """CommandState of every Receive per command that carried one."""
    states: dict[str, list[Any]] = {}
    for exchange in exchanges:
        answer = exchange.recorded if side == "recorded" else exchange.emulated
        target = exchange.request.get("receive_target")
        if target in (None, "POOL") or answer is None or answer.get("command_state") is None:
            continue
        states.setdefault(target, []).append(answer["command_state"])
    return states


def walk_members(shape: Any, name: str) -> list[Any]:
    """Every value of a member called ``name`` anywhere in a CLIXML shape."""
    found: list[Any] = []
    if isinstance(shape, dict):
        for section in ("Props", "MS"):
            for member, value in shape.get(section, []):
                if member == name:
                    found.append(value)
                found += walk_members(value, name)
        for container in ("LST", "IE"):
            for value in shape.get(container, []):
                found += walk_members(value, name)
    return found


def pipeline_commands(request: dict[str, Any]) -> list[tuple[str, bool]]:
    """(command text, is script) of every command a CreatePipeline message of ``request`` carries."""
    commands = []
    for message in request.get("psrp", []):
        if message["type"] != "CreatePipeline":
            continue
        texts = walk_members(message["data"], "Cmd")
        scripts = walk_members(message["data"], "IsScript")
        commands += [(t[1], s[1] == "true") for t, s in zip(texts, scripts)]
    return commands
