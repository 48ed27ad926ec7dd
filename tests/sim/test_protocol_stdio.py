"""``python -m pytest_nestedhv.sim serve --stdio``: the emulated host as ``powershell.exe -s`` serves it
(MS-PSRP out-of-process transport), driven here by psrpcore's client and hand-written packets."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from psrpcore import (
    ClientPowerShell,
    ClientRunspacePool,
    ErrorRecordEvent,
    PipelineOutputEvent,
    PipelineStateEvent,
    PSRPPayload,
    StreamType,
)
from psrpcore.types import PSInvocationState, RunspacePoolState

from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim.powershell.engine import Engine
from pytest_nestedhv.sim.powershell.errors import PSError
from pytest_nestedhv.sim.powershell.request import CommandSpec
from pytest_nestedhv.sim.scenario import load_scenario

EMPTY = "00000000-0000-0000-0000-000000000000"


class Raw:
    """A bare client: psrpcore for PSRP, packets written and read here."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "pytest_nestedhv.sim", "serve", "--stdio", *args],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pool = ClientRunspacePool()
        self.lines: list[bytes] = []

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode("ascii") + b"\n")
        self.process.stdin.flush()

    def packet(self, tag: str, guid: uuid.UUID | str | None) -> None:
        self.send(f"<{tag} PSGuid='{guid or EMPTY}' />")

    def flush(self) -> None:
        while (payload := self.pool.data_to_send()) is not None:
            data = base64.b64encode(payload.data).decode()
            self.send(f"<Data Stream='Default' PSGuid='{payload.pipeline_id or EMPTY}'>{data}</Data>")

    def read(self) -> ET.Element:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, self.process.stderr.read().decode() if self.process.stderr else "eof"
        self.lines.append(line)
        element = ET.fromstring(line)
        if element.tag == "Data":
            guid = uuid.UUID(element.attrib["PSGuid"])
            self.pool.receive_data(PSRPPayload(base64.b64decode(element.text or ""), StreamType.default,
                                               None if guid.int == 0 else guid))
        return element

    def events(self) -> list[object]:
        out = []
        while (event := self.pool.next_event()) is not None:
            out.append(event)
        return out

    def open(self) -> None:
        self.pool.open()
        self.flush()
        while self.pool.state != RunspacePoolState.Opened:
            assert self.read().tag == "Data"
            self.events()

    def invoke(self, command: str, **params: object) -> tuple[list[str], list[object], list[object]]:
        """(packet tags seen, outputs, error records incl. a failed state's)"""
        ps = ClientPowerShell(self.pool)
        ps.add_command(command)
        for key, value in params.items():
            ps.add_parameter(key, value)
        self.packet("Command", ps.pipeline_id)
        tags = [self.read().tag]
        ps.start()
        self.flush()
        output, errors = [], []
        while ps.state == PSInvocationState.Running:
            tags.append(self.read().tag)
            for event in self.events():
                if isinstance(event, PipelineOutputEvent):
                    output.append(event.data)
                elif isinstance(event, ErrorRecordEvent):
                    errors.append(event.record)
                elif isinstance(event, PipelineStateEvent) and event.reason is not None:
                    errors.append(event.reason)
        self.packet("Close", ps.pipeline_id)
        tags.append(self.read().tag)
        return tags, output, errors

    def close(self) -> int:
        self.packet("Close", None)
        assert self.read().tag == "CloseAck"
        return self.process.wait(10)


@pytest.fixture
def raw() -> Iterator[Raw]:
    clients: list[Raw] = []

    def start(*args: str) -> Raw:
        client = Raw(*args)
        clients.append(client)
        client.open()
        return client

    yield start  # type: ignore[misc]
    for client in clients:
        if client.process.poll() is None:
            client.process.kill()
        client.process.wait()


def test_every_action_is_acknowledged_and_close_ends_the_process(raw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "host.json"
    client = raw("--scenario", "default", "--state", str(state))
    tags, output, errors = client.invoke("New-VM", Name="lab1", Generation=2, NoVHD=True)
    assert not errors and output[0].Name == "lab1"
    assert tags[0] == "CommandAck" and tags[1] == "DataAck" and tags[-1] == "CloseAck"
    assert set(tags[2:-1]) == {"Data"}
    assert all(line.endswith(b"\r\n") for line in client.lines)  # as PowerShell writes them on Windows
    assert client.close() == 0
    assert [vm["name"] for vm in json.loads(state.read_text(encoding="utf-8"))["host"]["vms"]] == ["lab1"]
    client = raw("--scenario", "default", "--state", str(state))  # a later PowerShell sees the same host
    assert [vm.Name for vm in client.invoke("Get-VM")[1]] == ["lab1"]


def test_a_signal_stops_a_running_pipeline(raw) -> None:  # type: ignore[no-untyped-def]
    client = raw("--scenario", "default")
    # a wait that lasts: an Off VM never gets a heartbeat (Wait-VM on a VM that does not exist
    # fails at once, and could end before the Signal arrives)
    assert not client.invoke("New-VM", Name="lab1", Generation=2, NoVHD=True)[2]
    ps = ClientPowerShell(client.pool)
    ps.add_command("Wait-VM").add_parameter("Name", "lab1").add_parameter("For", "Heartbeat")
    ps.add_parameter("Timeout", 600)
    client.packet("Command", ps.pipeline_id)
    assert client.read().tag == "CommandAck"
    ps.start()
    client.flush()
    client.packet("Signal", ps.pipeline_id)
    seen: list[str] = []
    while ps.state != PSInvocationState.Stopped or "SignalAck" not in seen:
        seen.append(client.read().tag)
        client.events()
    assert seen[0] == "DataAck" and seen[-1] == "SignalAck"  # the Stopped state comes first


def test_garbage_lines_are_ignored(raw) -> None:  # type: ignore[no-untyped-def]
    client = raw("--scenario", "default")
    client.send("this is no packet")
    client.send("<Data PSGuid='not-a-guid'>AA==</Data>")
    assert client.invoke("Get-VMHost")[1][0].ComputerName == "HV-HOST01"


def test_a_prompt_that_is_not_elevated(raw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scenario = tmp_path / "user.toml"
    scenario.write_text("[host]\nelevated = false\n", encoding="utf-8")
    client = raw("--scenario", str(scenario))
    _, output, errors = client.invoke("Get-VM")
    assert output == [] and len(errors) == 1
    record = errors[0]
    assert str(record) == ("You do not have the required permission to complete this task. Contact the administrator "
                           "of the authorization policy for the computer 'HV-HOST01'.")
    assert record.FullyQualifiedErrorId == "Unspecified,Microsoft.HyperV.PowerShell.Commands.GetVM"
    assert int(record.CategoryInfo.Category) == 18  # ErrorCategory.PermissionDenied
    # what is not Hyper-V still answers, as at a prompt that is not elevated
    _, output, errors = client.invoke("Get-ItemProperty", Path="HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion")
    assert not errors and output


@pytest.mark.parametrize(("name", "refused"), [("Get-VMHost", True), ("New-VM", True), ("Get-CimInstance", False)])
def test_elevation_gates_only_the_hyperv_module(name: str, refused: bool) -> None:
    engine = Engine(World.from_scenario(load_scenario("default")), elevated=False)
    spec = CommandSpec(name=name, is_script=False, parameters=[("ClassName", "Win32_OperatingSystem")] if not refused else [])
    ctx_world = engine.world
    if refused:
        with pytest.raises(PSError) as info:
            list(engine.invoke(spec, None, _ctx(engine), expects_input=False))
        assert info.value.category == "PermissionDenied" and info.value.terminating
        assert not ctx_world.host.vms  # refused before doing anything
    else:
        assert list(engine.invoke(spec, None, _ctx(engine), expects_input=False))


def _ctx(engine: Engine):  # type: ignore[no-untyped-def]
    import threading

    from pytest_nestedhv.sim.powershell.cmdlet import Context, Streams

    def fail(*_: object) -> None:
        raise AssertionError("no stream output expected")

    return Context(world=engine.world, node=engine.world.host, streams=Streams(fail, fail, fail), cancel=threading.Event())


@pytest.mark.parametrize(("args", "message"), [
    (["--stdio", "--scenario", "nope"], "error: "),
    (["--scenario", "default"], "error: --state is required (a file for the model's state), unless --stdio"),
])
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pytest_nestedhv.sim", "serve", *args], capture_output=True,
                            text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "NESTED_HOST_PASSWORD": "x" * 12})
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines


def test_two_powershells_on_one_state_file_are_one_host(raw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # as two powershell.exe on one Windows see one Hyper-V: what one does, the other sees at once,
    # and neither's later save brings back what the other removed
    state = tmp_path / "host.json"
    first = raw("--scenario", "default", "--state", str(state))
    second = raw("--scenario", "default", "--state", str(state))
    assert not first.invoke("New-VM", Name="lab1", Generation=2, NoVHD=True)[2]
    assert not second.invoke("New-VM", Name="lab2", Generation=2, NoVHD=True)[2]
    assert sorted(vm.Name for vm in first.invoke("Get-VM")[1]) == ["lab1", "lab2"]
    assert not second.invoke("Remove-VM", Name="lab1", Force=True)[2]
    assert [vm.Name for vm in first.invoke("Get-VM")[1]] == ["lab2"]
    assert first.close() == 0 and second.close() == 0
    assert [vm["name"] for vm in json.loads(state.read_text(encoding="utf-8"))["host"]["vms"]] == ["lab2"]
