"""The emulator answers the requests of real Windows recordings with the facts Windows answered.

Vectors: ``vectors/*.json``, distilled by ``distil.py`` from pypsrp's recordings of Windows
Server 2012R2/2016/2019 (PowerShell 5.1), each naming its source repository, path and commit.
Every recorded request the emulator serves is replayed verbatim and every fact a client can
observe is compared; what it deliberately does not serve is listed in ``distil.CATEGORIES`` with
the reason, and its answer is checked against what a Windows endpoint configured like the
emulated host answers.
"""
from __future__ import annotations

import copy
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from pypsrp.messages import GetCommandMetadata
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from pytest_nestedhv.sim.model.world import World
from pytest_nestedhv.sim import cmdlets
from pytest_nestedhv.sim.powershell.builtins import BUILTINS
from pytest_nestedhv.sim.powershell.engine import Engine
from pytest_nestedhv.sim.powershell.reference import load_reference
from pytest_nestedhv.sim.scenario import load_scenario
from pytest_nestedhv.sim.server import SimServer
from replay import Exchange, by_target, final_states, load, names, pipeline_commands, replay, walk_members
from wire_facts import clixml

USER = "conformance"
SCRIPT_RECORDINGS = names("script")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[SimServer, tuple[str, str]]]:
    password = secrets.token_urlsafe(18)
    world = World.from_scenario(load_scenario("default"))
    sim = SimServer(Engine(world), users={USER: password}, auth="basic", https=False).start()
    try:
        yield sim, (USER, password)
    finally:
        sim.stop()


def neutral(value: Any) -> Any:
    """Facts with the host's own version numbers (OS build, update revision) folded."""
    if isinstance(value, dict):
        return {k: neutral(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 2 and value[0] == "Version" and value[1].count(".") == 3:
            return ["Version", re.sub(r"^(\d+\.\d+)\.\d+\.\d+$", r"\1.*", value[1])]
        return [neutral(v) for v in value]
    return value


def assert_answer(exchange: Exchange, where: str) -> None:
    recorded, emulated = exchange.recorded, exchange.emulated
    assert recorded is not None
    assert emulated["header"] == recorded["header"], where
    if recorded["activity_id"]:  # 2016 and later send one; 2012R2 does not
        assert emulated["activity_id"], where
    keys = ["fault", "body", "shell", "config", "command_id_echoed"]
    if recorded.get("body") == ["ResourceCreated"]:  # WinRM 2.0 (Windows 7/2008R2) sends no Shell back
        assert emulated.get("body") == ["ResourceCreated", "Shell"], where
        keys = ["fault", "config"]
    for key in keys:
        assert emulated.get(key) == recorded.get(key), f"{where}: {key}"


def assert_conversation(exchanges: list[Exchange], skip: set[str] = frozenset()) -> None:
    for index, exchange in enumerate(exchanges):
        if exchange.request["action"] == "Receive" or exchange.recorded is None:
            continue
        assert_answer(exchange, f"exchange {index} ({exchange.request['action']})")
    recorded, emulated = by_target(exchanges, "recorded"), by_target(exchanges, "emulated")
    for target in recorded:
        if target not in skip:
            assert neutral(emulated.get(target)) == neutral(recorded[target]), target
    recorded_states, emulated_states = final_states(exchanges, "recorded"), final_states(exchanges, "emulated")
    for target, states in recorded_states.items():
        if target not in skip:  # Done once, on the answer that ends the command; nothing before it
            assert emulated_states.get(target) == states, target


# --- the vectors themselves --------------------------------------------------------------------
def test_every_recording_is_distilled_with_its_source_and_a_category() -> None:
    vectors = {name: load(name) for name in names("served", "configuration", "script", "command", "cmd-shell",
                                                  "not-emulated", "edited")}
    assert len(vectors) == 64  # 66 recordings, less the two multi-megabyte file transfers
    for name, vector in vectors.items():
        assert vector["source"] == {"repo": "jborean93/pypsrp", "path": f"tests/tests_pypsrp/responses/{name}.yml",
                                    "commit": "42a34edd7c32d07119c0241823fc773522db41fe"}
        assert vector["exchanges"] and all("request" in e for e in vector["exchanges"])
        assert vector["category"] == "served" or vector["reason"], name


# --- served: every fact ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["test_psrp_open_runspace", "test_psrp_set_runspaces", "test_psrp_receive_failure",
                                  "test_psrp_is_alive_other_wsman_error", "test_wsman_update_envelope_size_500"])
def test_served_recording_conforms(server: tuple[SimServer, tuple[str, str]], name: str) -> None:
    sim, auth = server
    assert_conversation(replay(load(name), sim.url, auth))


def test_get_of_a_shell_another_client_deleted(server: tuple[SimServer, tuple[str, str]]) -> None:
    # the recording's last Get follows a Delete sent by another connection (not in the recording)
    sim, auth = server
    vector = load("test_psrp_is_alive_invalid_selectors")
    shell_id = re.search(r'ShellId="([^"]+)"', vector["exchanges"][0]["request_envelope"]).group(1)
    delete = copy.deepcopy(load("test_psrp_open_runspace")["exchanges"][-1])
    delete["request_envelope"] = re.sub(r'(Name="ShellId">)[^<]+', rf"\g<1>{shell_id}", delete["request_envelope"])
    vector["exchanges"].insert(4, delete)
    exchanges = replay(vector, sim.url, auth)
    del exchanges[4]
    assert_conversation(exchanges)
    assert exchanges[-1].emulated["fault"]["provider"] == "Shell provider"


@pytest.mark.parametrize("name", ["test_wsman_update_envelope_size_150", "test_wsman_update_envelope_size_4096"])
def test_configuration_recording_conforms_but_for_its_setting(server: tuple[SimServer, tuple[str, str]],
                                                              name: str) -> None:
    sim, auth = server
    (exchange,) = replay(load(name), sim.url, auth)
    recorded = dict(exchange.recorded["config"])
    emulated = dict(exchange.emulated["config"])
    assert [k for k, _ in exchange.emulated["config"]] == [k for k, _ in exchange.recorded["config"]]
    assert emulated.pop("MaxEnvelopeSizekb") == "500"  # the emulated host's own limit
    recorded.pop("MaxEnvelopeSizekb")
    assert emulated == recorded


def test_get_command_metadata_answers_like_windows(server: tuple[SimServer, tuple[str, str]]) -> None:
    # the recorded host has New-PSSession and friends; the emulated one answers with its own cmdlets
    sim, auth = server
    exchanges = replay(load("test_psrp_get_command_metadata"), sim.url, auth)
    commands = [t for t in by_target(exchanges, "recorded") if t != "POOL"]
    assert_conversation(exchanges, skip=set(commands))
    for target in commands:
        recorded, emulated = by_target(exchanges, "recorded")[target], by_target(exchanges, "emulated")[target]
        (count,) = [int(v[1]) for n, v in emulated[0]["data"]["MS"] if n == "Count"]
        assert [m["type"] for m in emulated] == ["PipelineOutput"] * (1 + count) + ["PipelineState"]
        assert emulated[0]["data"]["TN"] == recorded[0]["data"]["TN"]
        assert [n for n, _ in emulated[0]["data"]["MS"]] == [n for n, _ in recorded[0]["data"]["MS"]]
        assert emulated[-1] == recorded[-1]  # Completed
        assert final_states(exchanges, "emulated")[target] == final_states(exchanges, "recorded")[target]


def test_command_metadata_of_a_cmdlet_has_the_recorded_shape(server: tuple[SimServer, tuple[str, str]]) -> None:
    sim, (user, password) = server
    recorded = by_target([e for e in replay_recorded("test_psrp_get_command_metadata")], "recorded")
    recorded_info = next(m["data"] for t, ms in recorded.items() if t != "POOL" for m in ms
                         if m["data"].get("TN", [""])[0] == "Selected.System.Management.Automation.CmdletInfo")
    wsman = WSMan(sim.host, port=sim.port, username=user, password=password, ssl=False, auth="basic",
                  encryption="never", operation_timeout=5, read_timeout=10)
    with wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps._invoke(GetCommandMetadata(["Get-VM"], 511, None, None))
        count, info = ps.end_invoke()
        assert [c.name for c in pool.get_command_metadata("Get-VM*")][:1] == ["Get-VM"]
    shape = clixml(ET.fromstring(info._xml))
    assert shape["TN"] == recorded_info["TN"] and shape["order"] == recorded_info["order"]
    assert [(n, v if isinstance(v, list) else v["TN"]) for n, v in shape["MS"]][:4] == [
        ("Name", ["S", "Get-VM"]), ("Namespace", ["S", "Hyper-V"]), ("HelpUri", shape["MS"][2][1]),
        ("CommandType", recorded_info["MS"][3][1]["TN"])]
    assert _member_kinds(shape) == _member_kinds(recorded_info)
    parameter = shape["MS"][6][1]["DCT"][0][1]
    recorded_parameter = recorded_info["MS"][6][1]["DCT"][0][1]
    assert _member_kinds(parameter) == _member_kinds(recorded_parameter)
    assert parameter["order"] == recorded_parameter["order"]
    keys = [k[1] for k, _ in shape["MS"][6][1]["DCT"]]
    assert keys[-11:] == ["Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ErrorVariable",
                          "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable"]


def replay_recorded(name: str) -> list[Exchange]:
    """The recorded side only (no emulator), for facts the tests take from a recording."""
    vector = load(name)
    return [Exchange(e["request"], e.get("response"), {}, 0) for e in vector["exchanges"]]


def _member_kinds(shape: dict[str, Any]) -> list[tuple[str, str]]:
    kinds = []
    for section in ("Props", "MS"):
        for name, value in shape.get(section, []):
            kinds.append((name, value[0] if isinstance(value, list) else "Obj"))
    return kinds


# --- scripts: refused as a no-language endpoint refuses them --------------------------------------
def _refusal() -> dict[str, Any]:
    """The recorded no-language refusal (JEA endpoint, Windows Server 2016)."""
    stream = by_target(replay_recorded("test_psrp_with_jea_configuration"), "recorded")
    state = next(m for ms in stream.values() for m in ms
                 if m["type"] == "PipelineState" and walk_members(m["data"], "ExceptionAsErrorRecord"))
    return state


_TARGETED = ("TargetObject", "ErrorCategory_TargetName", "ErrorCategory_Message")


def _without_target(state: Any) -> Any:
    """A refusal's facts with the refused text (its target) folded: it is the script's own."""
    if isinstance(state, dict):
        folded = {k: _without_target(v) for k, v in state.items()}
        for section in ("Props", "MS"):
            if section in folded:
                folded[section] = [[n, ["S", "<target>"] if n in _TARGETED else v] for n, v in folded[section]]
        return folded
    if isinstance(state, list):
        return [_without_target(v) for v in state]
    return state


IMPLEMENTED = {name.lower() for name in {**cmdlets.all_cmdlets(), **BUILTINS}}


def _expected_failure(commands: list[tuple[str, bool]]) -> str | None:
    """How a pipeline fails on the emulated host: at its first script text (no language), its first
    command the host does not have or its first documented cmdlet the emulator does not implement
    (which says so: a deliberate difference); None when every command runs."""
    reference = load_reference()
    for text, is_script in commands:
        if is_script:
            return "ScriptsNotAllowed"
        signature = reference.signature(text)
        if signature is None:
            return "CommandNotFoundException"
        if signature.name.lower() not in IMPLEMENTED:
            return f"NotImplemented,{signature.class_name}"
    return None


@pytest.mark.parametrize("name", SCRIPT_RECORDINGS)
def test_script_recording_is_refused_as_a_no_language_endpoint_refuses_it(
        server: tuple[SimServer, tuple[str, str]], name: str) -> None:
    sim, auth = server
    exchanges = replay(load(name), sim.url, auth)
    # the session itself is Windows' (Create, the pool's messages, Delete)
    for index, exchange in enumerate(exchanges):
        if exchange.request["resource_uri"].endswith("/cmd"):  # a cmd shell on the side: not served
            subcode = "w:DestinationUnreachable" if exchange.request["action"] == "Create" else "w:InvalidSelectors"
            assert exchange.emulated["fault"]["subcode"] == subcode
        elif exchange.request["action"] != "Receive" and exchange.recorded is not None:
            if "config" in exchange.recorded:  # a host configured otherwise (32 kB, unencrypted): the settings
                exchange.recorded["config"] = [c[0] for c in exchange.recorded["config"]]
                exchange.emulated["config"] = [c[0] for c in exchange.emulated["config"]]
            assert_answer(exchange, f"{name} exchange {index}")
    recorded_pool, emulated_pool = by_target(exchanges, "recorded")["POOL"], by_target(exchanges, "emulated")["POOL"]
    if walk_members(recorded_pool[0]["data"], "protocolversion") == [["Version", "2.3"]]:
        assert neutral(emulated_pool[:3]) == neutral(recorded_pool[:3])
    else:  # a PowerShell 2.0 host (protocol 2.1/2.2); the emulated host is 5.1 and says so
        assert walk_members(emulated_pool[0]["data"], "protocolversion") == [["Version", "2.3"]]
    refusal = _without_target(_refusal())
    emulated = by_target(exchanges, "emulated")
    expected = {e.request["command_id"]: _expected_failure(pipeline_commands(e.request)) for e in exchanges
                if pipeline_commands(e.request) and "command_id" in e.request}
    received = by_target(exchanges, "recorded")
    assert any(expected.values())
    for command_id, failure in expected.items():
        if failure is None or command_id not in received:  # the client never read it (e.g. stopped first)
            continue
        final = emulated[command_id][-1]
        assert final["type"] == "PipelineState" and walk_members(final["data"], "PipelineState") == [["I32", "5"]]
        assert walk_members(final["data"], "FullyQualifiedErrorId")[0][1] == failure, command_id
        if failure == "ScriptsNotAllowed":
            assert _without_target(final) == refusal, command_id


# --- commands the emulated host does not have ----------------------------------------------------
def _exception_kinds(state: dict[str, Any]) -> tuple[list[str], list[str], Any]:
    record = walk_members(state["data"], "ExceptionAsErrorRecord")[0]
    exception = walk_members(record, "Exception")[0]
    return exception["TN"], [n for n, _ in exception["Props"]], walk_members(exception, "HResult")


@pytest.mark.parametrize("name", names("command"))
def test_commands_the_host_lacks_fail_with_command_not_found(server: tuple[SimServer, tuple[str, str]],
                                                             name: str) -> None:
    sim, auth = server
    recorded = next(m for ms in by_target(replay_recorded("test_client_execute_ps_failure"), "recorded").values()
                    for m in ms if m["type"] == "PipelineState" and walk_members(m["data"], "ExceptionAsErrorRecord"))
    exchanges = replay(load(name), sim.url, auth)
    emulated = by_target(exchanges, "emulated")
    expected = {e.request["command_id"]: _expected_failure(pipeline_commands(e.request)) for e in exchanges
                if pipeline_commands(e.request) and "command_id" in e.request}
    assert any(expected.values())
    for command_id, failure in expected.items():
        state = emulated[command_id][-1]
        assert walk_members(state["data"], "PipelineState") == [["I32", "5"]]
        assert walk_members(state["data"], "FullyQualifiedErrorId")[0][1] == failure
        if failure == "CommandNotFoundException":
            assert _exception_kinds(state) == _exception_kinds(recorded)


# --- cmd shells and disconnected sessions ---------------------------------------------------------
@pytest.mark.parametrize("name", names("cmd-shell"))
def test_a_cmd_shell_is_answered_as_by_a_host_without_the_cmd_plugin(server: tuple[SimServer, tuple[str, str]],
                                                                     name: str) -> None:
    sim, auth = server
    (create,) = replay(load(name), sim.url, auth, stop_at={"Create"})
    fault = create.emulated["fault"]
    assert create.status == 500 and fault["subcode"] == "w:DestinationUnreachable"
    assert fault["reason"] == (
        "The WS-Management service cannot process the request. The resource URI "
        "(http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd) was not found in the WS-Management catalog. "
        "The catalog contains the metadata that describes resources, or logical endpoints. ")
    assert fault["machine_is_to_host"]


@pytest.mark.parametrize("name", names("not-emulated"))
def test_disconnected_sessions_are_refused_after_a_windows_session(server: tuple[SimServer, tuple[str, str]],
                                                                   name: str) -> None:
    sim, auth = server
    unsupported = {"Disconnect", "Reconnect", "Connect", "Enumerate"}
    vector = load(name)
    first = next((i for i, e in enumerate(vector["exchanges"]) if e["request"]["action"] in unsupported), None)
    if first is None:  # another client disconnected the shell: the emulated host has no other client
        first = len(vector["exchanges"]) - 1
    vector["exchanges"] = vector["exchanges"][:first + 1]
    exchanges = replay(vector, sim.url, auth)
    assert_conversation(exchanges[:-1])
    last = exchanges[-1]
    if last.request["action"] in unsupported:
        assert last.emulated["fault"]["subcode"] == "a:ActionNotSupported"
