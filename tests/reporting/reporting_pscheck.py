"""Parse PowerShell with tree-sitter and check every command against cmdlets.json."""
from __future__ import annotations

import functools
import json
from importlib import resources

import tree_sitter
import tree_sitter_powershell

# native programs the plugin runs (not cmdlets, so not in cmdlets.json)
NATIVE = frozenset({"bcdedit"})
# common parameters every cmdlet takes (cmdlets.json lists none of them)
COMMON = frozenset({"verbose", "debug", "erroraction", "warningaction", "errorvariable", "warningvariable",
                    "outvariable", "outbuffer", "pipelinevariable", "informationaction", "informationvariable"})


@functools.cache
def cmdlets() -> dict[str, set[str]]:
    text = resources.files("pytest_nestedhv.sim").joinpath("reference/cmdlets.json").read_text(encoding="utf-8")
    data = json.loads(text)
    out: dict[str, set[str]] = {}
    for name, spec in data["cmdlets"].items():
        params = {p.lower() for p in spec.get("parameters", {})}
        for pset in spec.get("parameter_sets", []):
            params |= {p["name"].lower() for p in pset.get("parameters", [])}
        for detail in spec.get("parameters", {}).values():
            params |= {a.lower() for a in detail.get("aliases") or []}
        out[name.lower()] = params
    return out


_ANY: set[str] = set()  # marker: a function defined in the script


def parse(text: str) -> tree_sitter.Tree:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    return parser.parse(text.encode("utf-8"))


def problems(text: str) -> list[str]:
    """Parse errors, unknown cmdlets and unknown parameters; empty when the script is clean."""
    tree = parse(text)
    found: list[str] = []
    known = dict(cmdlets())
    # functions the script defines itself (their parameters are the script's business)
    for node in _descendants(tree.root_node):
        if node.type == "function_statement":
            name = next((c for c in node.children if c.type == "function_name"), None)
            if name is not None:
                known[name.text.decode().lower()] = _ANY
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type == "ERROR" or node.is_missing:
            found.append(f"parse error at line {node.start_point[0] + 1}: {node.text.decode()[:80]!r}")
        if node.type != "command":
            continue
        name_node = next((c for c in node.children if c.type == "command_name"), None)
        if name_node is None:
            continue
        name = name_node.text.decode().lower()
        if name in NATIVE:
            continue
        if name not in known:
            found.append(f"unknown cmdlet {name}")
            continue
        if known[name] is _ANY:
            continue
        params = [d for d in _descendants(node) if d.type == "command_parameter" and _owner(d) == node]
        for p in params:
            pname = p.text.decode().lstrip("-").split(":")[0].lower()
            if pname not in known[name] and pname not in COMMON:
                found.append(f"{name}: unknown parameter -{pname}")
    return found


def commands(text: str) -> list[str]:
    tree = parse(text)
    return [n.text.decode() for n in _descendants(tree.root_node) if n.type == "command_name"]


def _descendants(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    out = []
    stack = list(node.children)
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(n.children)
    return out


def _owner(node: tree_sitter.Node) -> tree_sitter.Node | None:
    parent = node.parent
    while parent is not None and parent.type != "command":
        parent = parent.parent
    return parent
