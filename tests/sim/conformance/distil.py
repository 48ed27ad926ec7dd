"""Distil pypsrp's recordings of real Windows WinRM/PSRP traffic into test vectors.

Usage (offline, needs PyYAML; the vectors are committed, the tests only read them):

    python tests/sim/conformance/distil.py <git dir of a jborean93/pypsrp clone> [commit]

Each ``tests/tests_pypsrp/responses/*.yml`` becomes ``vectors/<name>.json``: its source
(repository, path, commit), what the emulator does with it (``CATEGORIES``) and, per recorded
exchange, the facts of the request and of Windows' answer (``wire_facts.py``). Recordings the
emulator replays keep their request envelopes (recorded protocol data, verbatim).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from wire_facts import Defragmenter, request_facts, response_facts  # noqa: E402

REPO = "jborean93/pypsrp"
FOLDER = "tests/tests_pypsrp/responses"
VECTORS = Path(__file__).parent / "vectors"

# name -> (category, reason). Categories:
#   served: every request replayed, every fact compared;
#   configuration: replayed, compared except the values a differently configured host reports;
#   script: the recording runs script text; the emulated host has no PowerShell language and refuses
#     it as a Windows endpoint in no-language mode does (recorded: test_psrp_with_jea_configuration);
#     replayed, the session compared, each script pipeline answered with that refusal;
#   command: commands the emulated host does not have (only cmdlets.json's): replayed, each such
#     pipeline fails with CommandNotFoundException as on a host without them;
#   cmd-shell: a WinRS cmd shell; the emulated host registers only PowerShell endpoints: its Create
#     is answered as a WinRM service without that plugin answers;
#   not-emulated: disconnected sessions (Disconnect/Reconnect/Connect/Enumerate) are not emulated;
#   edited: the recording was edited by hand or injects a transport error (see its comments),
#     so it is no evidence of Windows' behaviour.
CATEGORIES: dict[str, tuple[str, str]] = {
    "test_psrp_open_runspace": ("served", ""),
    "test_psrp_set_runspaces": ("served", ""),
    "test_psrp_get_command_metadata": ("served", ""),
    "test_psrp_receive_failure": ("served", ""),
    "test_psrp_is_alive_invalid_selectors": ("served", ""),
    "test_psrp_is_alive_other_wsman_error": ("served", ""),
    "test_wsman_update_envelope_size_500": ("served", ""),
    "test_wsman_update_envelope_size_150": ("configuration", "MaxEnvelopeSizekb set to 150 on the recorded host"),
    "test_wsman_update_envelope_size_4096": ("configuration", "MaxEnvelopeSizekb set to 4096 on the recorded host"),
    "test_psrp_is_alive_state_disconnected": ("not-emulated", "another client disconnected the shell"),
    "test_psrp_disconnect_runspaces": ("not-emulated", "disconnected sessions"),
    "test_psrp_disconnected_commands": ("not-emulated", "disconnected sessions"),
    "test_psrp_key_exchange_timeout": ("edited", "the answer to the key exchange was deleted by hand"),
    "test_psrp_reset_runspace_state_fail": ("edited", "the answer was changed to false by hand"),
    "test_psrp_is_alive_http_error": ("edited", "an HTTP error is injected"),
    "test_client_copy_file_warning": ("edited", "a warning message was added by hand"),
    "test_client_execute_ps": ("command", "Invoke-Expression, Out-String"),
    "test_client_execute_ps_environment": ("command", "Invoke-Expression, Out-String, New-Item, Out-Null"),
    "test_client_execute_ps_failure": ("command", "Invoke-Expression, Out-String"),
}


def category(name: str, first_request: str) -> tuple[str, str]:
    if name in CATEGORIES:
        return CATEGORIES[name]
    if "<wsman:ResourceURI s:mustUnderstand=\"true\">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd<" \
            in first_request:
        return "cmd-shell", "the emulated host serves PowerShell endpoints only"
    return "script", "script text needs the PowerShell language"


def distil(name: str, text: str, commit: str) -> dict[str, Any]:
    recording = yaml.safe_load(text)
    kind, reason = category(name, recording["messages"][0]["request"])
    inbound, outbound = Defragmenter(), Defragmenter()
    exchanges = []
    keep = kind in ("served", "configuration", "script", "command", "cmd-shell", "not-emulated")
    for message in recording["messages"]:
        request = request_facts(message["request"], inbound)
        entry: dict[str, Any] = {"request": request}
        if keep:
            entry["request_envelope"] = message["request"]
        if message.get("response"):
            entry["response"] = response_facts(message["response"], outbound, request)
        for flag in ("transport_error", "http_error", "timeout", "overrides"):
            if flag in message:
                entry[flag] = message[flag]
        exchanges.append(entry)
    return {"source": {"repo": REPO, "path": f"{FOLDER}/{name}.yml", "commit": commit},
            "category": kind, "reason": reason, "exchanges": exchanges}


# raw CLIXML of a few recorded objects, for tests of how the plugin reads real shapes:
# (recording, message type, first type name of the object)
SAMPLES = [
    ("test_psrp_with_history", "PipelineOutput", "Microsoft.PowerShell.Commands.HistoryInfo"),
    ("test_psrp_pshost_methods", "PipelineOutput", "System.Globalization.CultureInfo"),
    ("test_psrp_get_command_metadata", "PipelineOutput", "Selected.System.Management.Automation.CmdletInfo"),
    ("test_psrp_with_jea_configuration", "PipelineOutput", "Microsoft.WSMan.Management.WSManConfigLeafElement"),
    ("test_psrp_with_jea_configuration", "ErrorRecord", "System.Management.Automation.ErrorRecord"),
    ("test_psrp_stream_output_invocation", "WarningRecord", "System.Management.Automation.WarningRecord"),
    ("test_psrp_stream_output_invocation", "VerboseRecord", "System.Management.Automation.VerboseRecord"),
]


def samples(git: Any, commit: str) -> list[dict[str, str]]:
    found = []
    for name, message_type, type_name in SAMPLES:
        recording = yaml.safe_load(git("show", f"{commit}:{FOLDER}/{name}.yml"))
        outbound = Defragmenter()
        for message in recording["messages"]:
            for stream in re.findall(r"<rsp:Stream [^>]*>([^<]+)</rsp:Stream>", message.get("response") or ""):
                for kind, _pipeline, body in outbound.feed(stream):
                    if kind == message_type and f"<T>{type_name}</T>" in body[:400]:
                        found.append({"source": f"{REPO}@{commit}:{FOLDER}/{name}.yml", "type": message_type,
                                      "clixml": body})
                        break
                else:
                    continue
                break
            if found and found[-1]["source"].endswith(f"{name}.yml") and found[-1]["type"] == message_type:
                break
    return found


def main(git_dir: str, commit: str = "HEAD") -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True,
                              text=True).stdout

    resolved = git("rev-parse", commit).strip()
    VECTORS.mkdir(exist_ok=True)
    for path in git("ls-tree", "--name-only", resolved, f"{FOLDER}/").split():
        name = Path(path).stem
        if name.startswith("_"):
            continue
        text = git("show", f"{resolved}:{path}")
        if len(text) > 200_000:  # the multi-megabyte copy/fetch transfers: script recordings like the rest
            continue
        vector = distil(name, text, resolved)
        (VECTORS / f"{name}.json").write_text(json.dumps(vector, separators=(",", ":")) + "\n", "utf-8")
    (Path(__file__).parent / "recorded_objects.json").write_text(json.dumps(samples(git, resolved), indent=1) + "\n",
                                                                 "utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
