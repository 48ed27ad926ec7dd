"""Cmdlet signatures, enums and object shapes read from the shipped ``cmdlets.json``.

The file is Microsoft's documentation turned into data (see ``reference/README.md``); the
engine binds every call against it, so the emulated host accepts exactly the parameters a
real host does.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources
from typing import Any

# Parameters every cmdlet has ("CommonParameters"); WhatIf/Confirm are listed per cmdlet.
COMMON_PARAMETERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Verbose": ("SwitchParameter", ("vb",)),
    "Debug": ("SwitchParameter", ("db",)),
    "ErrorAction": ("ActionPreference", ("ea",)),
    "WarningAction": ("ActionPreference", ("wa",)),
    "InformationAction": ("ActionPreference", ("infa",)),
    "ProgressAction": ("ActionPreference", ("proga",)),
    "ErrorVariable": ("String", ("ev",)),
    "WarningVariable": ("String", ("wv",)),
    "InformationVariable": ("String", ("iv",)),
    "OutVariable": ("String", ("ov",)),
    "OutBuffer": ("Int32", ("ob",)),
    "PipelineVariable": ("String", ("pv",)),
}
ACTION_PREFERENCES = ("SilentlyContinue", "Stop", "Continue", "Inquire", "Ignore", "Suspend", "Break")

# .NET class of each module's cmdlets, for FullyQualifiedErrorIds ("X,<class>").
_MODULE_NAMESPACES = {
    "Hyper-V": ("Microsoft.HyperV.PowerShell.Commands.", ""),
    "ServerManager": ("Microsoft.Windows.ServerManager.Commands.", "Command"),
    "Dism": ("Microsoft.Dism.Commands.", "Command"),
    "CimCmdlets": ("Microsoft.Management.Infrastructure.CimCmdlets.", "Command"),
}
# Cmdlets whose class is not named after them (Install-WindowsFeature is the old Add- verb's class).
_CLASS_OVERRIDES = {
    "Install-WindowsFeature": "Microsoft.Windows.ServerManager.Commands.AddWindowsFeatureCommand",
    "Uninstall-WindowsFeature": "Microsoft.Windows.ServerManager.Commands.RemoveWindowsFeatureCommand",
    # the Hyper-V module's VHD cmdlets live in their own namespace, with these exact class names
    **{f"{verb}-{noun}": f"Microsoft.Vhd.PowerShell.Cmdlets.{verb}{cls}" for verb, noun, cls in [
        ("New", "VHD", "Vhd"), ("Get", "VHD", "VHD"), ("Set", "VHD", "Vhd"), ("Convert", "VHD", "Vhd"),
        ("Dismount", "VHD", "VHD"), ("Merge", "VHD", "Vhd"), ("Mount", "VHD", "Vhd"), ("Optimize", "VHD", "Vhd"),
        ("Resize", "VHD", "Vhd"), ("Test", "VHD", "Vhd"), ("Get", "VHDSet", "VHDSet"),
        ("Optimize", "VHDSet", "VHDSet"), ("Get", "VHDSnapshot", "VHDSnapshot"),
        ("Remove", "VHDSnapshot", "VHDSnapshot")]},
}


# Every spelling of an integer type the reference uses (C# keywords in output_types and enums,
# .NET short names in signatures) -> the .NET type.
NET_INTEGERS = {
    "int": "System.Int32", "uint": "System.UInt32", "byte": "System.Byte", "ushort": "System.UInt16",
    "long": "System.Int64", "ulong": "System.UInt64", "short": "System.Int16",
    **{name.removeprefix("System."): name for name in ("System.Int16", "System.Int32", "System.Int64", "System.UInt16",
                                                         "System.UInt32", "System.UInt64", "System.Byte")},
}


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    aliases: tuple[str, ...] = ()
    accepted_values: tuple[str, ...] = ()
    pipeline_by_value: bool = False
    pipeline_by_property: bool = False

    @property
    def is_switch(self) -> bool:
        return self.type.rsplit(".", 1)[-1] == "SwitchParameter"


@dataclasses.dataclass(frozen=True)
class SetMember:
    name: str
    mandatory: bool
    position: int | None


@dataclasses.dataclass(frozen=True)
class ParameterSet:
    name: str
    is_default: bool
    members: dict[str, SetMember]  # lower-cased parameter name -> membership


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    module: str
    parameters: dict[str, Parameter]  # lower-cased name -> parameter (common ones included)
    sets: tuple[ParameterSet, ...]
    default_set: str | None

    @property
    def class_name(self) -> str:
        if self.name in _CLASS_OVERRIDES:
            return _CLASS_OVERRIDES[self.name]
        prefix, suffix = _MODULE_NAMESPACES.get(self.module, ("Microsoft.PowerShell.Commands.", "Command"))
        return prefix + self.name.replace("-", "") + suffix


@dataclasses.dataclass(frozen=True)
class Reference:
    signatures: dict[str, Signature]  # lower-cased cmdlet name -> signature
    aliases: dict[str, str]  # lower-cased alias -> cmdlet name
    enums: dict[str, dict[str, int]]  # full enum type name -> {member: value}
    enum_underlying: dict[str, str]  # full enum type name -> .NET underlying type, e.g. "System.Byte"
    output_types: dict[str, dict[str, Any]]  # short type name -> output_types entry

    def signature(self, name: str) -> Signature | None:
        key = name.lower()
        return self.signatures.get(self.aliases.get(key, key).lower())

    def enum_type(self, type_name: str) -> str | None:
        """Full name of an enum given the short or full name a signature uses."""
        short = type_name.removesuffix("[]").rsplit(".", 1)[-1]
        return next((full for full in self.enums if full.rsplit(".", 1)[-1] == short), None)


def _position(raw: Any) -> int | None:
    return raw if isinstance(raw, int) else None


def _signature(name: str, raw: dict[str, Any]) -> Signature:
    params: dict[str, Parameter] = {}
    for pname, detail in raw["parameters"].items():
        raw_pipeline = detail.get("accept_pipeline_input", "")
        # the decompiled entries (Wait-VM) say just true: ValueFromPipeline, i.e. by value
        pipeline = "True (ByValue)" if raw_pipeline is True else str(raw_pipeline)
        params[pname.lower()] = Parameter(
            name=pname,
            type=detail.get("type", "Object"),
            aliases=tuple(detail.get("aliases") or ()),
            accepted_values=tuple(detail.get("accepted_values") or ()),
            pipeline_by_value="ByValue" in pipeline,
            pipeline_by_property="ByPropertyName" in pipeline,
        )
    for pname, (ptype, aliases) in COMMON_PARAMETERS.items():
        params.setdefault(pname.lower(), Parameter(pname, ptype, aliases))
    sets = tuple(
        ParameterSet(
            name=s["name"],
            is_default=bool(s.get("is_default")),
            members={
                p["name"].lower(): SetMember(p["name"], bool(p.get("mandatory")), _position(p.get("position")))
                for p in s["parameters"]
            },
        )
        for s in raw["parameter_sets"]
    )
    return Signature(name, raw.get("module", ""), params, sets, raw.get("default_parameter_set"))


@functools.cache  # the file is immutable package data: parse it once per process
def load_reference() -> Reference:
    text = resources.files("pytest_nestedhv.sim").joinpath("reference/cmdlets.json").read_text("utf-8")
    data = json.loads(text)
    signatures = {name.lower(): _signature(name, raw) for name, raw in data["cmdlets"].items()}
    aliases = {k.lower(): v for k, v in data.get("module_aliases", {}).items() if not k.startswith("_")}
    raw_enums = {k: v for k, v in data["enums"].items() if not k.startswith("_")}
    enums = {k: dict(v["values"]) for k, v in raw_enums.items()}
    underlying = {k: NET_INTEGERS.get(v.get("underlying_type", "int"), "System.Int32") for k, v in raw_enums.items()}
    output_types = {k: v for k, v in data["output_types"].items() if not k.startswith("_")}
    return Reference(signatures, aliases, enums, underlying, output_types)
