"""Nested-virtualization requirements by build, CPU and VM configuration (docs/requirements.md#buildseras).

Every function is pure: it looks at facts and answers; ``lifecycle`` and the cmdlets turn the
answers into behaviour and the §3 error texts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .state import VM, NetAdapter, Node

if TYPE_CHECKING:
    from .world import World

FIRST_NESTED_BUILD = 10565
FIRST_GA_BUILD = 14393
FIRST_AMD_BUILD = 19636
MIN_GA_VERSION = (8, 0)
MIN_AMD_VERSION = (9, 3)

# Every configuration version a Hyper-V release knows, oldest first, with the name
# Get-VMHostSupportedVersion shows. assumption: the names are paraphrased from public output.
VERSION_NAMES: dict[str, str] = {
    "5.0": "Microsoft Windows Server 2012 R2/Windows 8.1",
    "6.2": "Microsoft Windows 10 1507/Windows Server 2016 Technical Preview 3",
    "7.0": "Microsoft Windows 10 1511/Windows Server 2016 Technical Preview 4",
    "7.1": "Microsoft Windows Server 2016 Technical Preview 5",
    "8.0": "Microsoft Windows 10 Anniversary Update/Windows Server 2016",
    "8.1": "Microsoft Windows 10 Creators Update",
    "8.2": "Microsoft Windows 10 Fall Creators Update/Windows Server 1709",
    "8.3": "Microsoft Windows 10 April 2018 Update/Windows Server 1803",
    "9.0": "Microsoft Windows 10 October 2018 Update/Windows Server 2019",
    "9.1": "Microsoft Windows 10 May 2019 Update/Windows Server 1903",
    "9.2": "Microsoft Windows 10 May 2020 Update/Windows Server 2004",
    "9.3": "Microsoft Windows 10 Insider Preview/Windows Server 2022 Preview",
    "10.0": "Microsoft Windows Server 2022/Windows 11",
    "11.0": "Microsoft Windows 11 22H2",
    "12.0": "Microsoft Windows Server 2025/Windows 11 24H2",
}

# (first build, lowest, highest) per docs/requirements.md#buildsconfig-versions; rows between anchors: assumptions.
_VERSION_RANGES: list[tuple[int, str, str]] = [
    (0, "5.0", "6.2"),
    (10565, "5.0", "7.0"),  # assumption: preview builds before 1607
    (14393, "5.0", "8.0"),
    (17763, "5.0", "9.0"),
    (18362, "5.0", "9.1"),  # assumption
    (19041, "8.0", "9.2"),
    (19636, "8.0", "9.3"),  # assumption: the Insider builds that brought AMD nesting
    (20348, "8.0", "10.0"),
    (22621, "8.0", "11.0"),
    (26100, "8.0", "12.0"),
]


def version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def supported_versions(build: int) -> list[str]:
    """The configuration versions a host of this build can run, oldest first."""
    low, high = next((lo, hi) for first, lo, hi in reversed(_VERSION_RANGES) if build >= first)
    return [v for v in VERSION_NAMES if version_tuple(low) <= version_tuple(v) <= version_tuple(high)]


def default_version(build: int) -> str:
    return supported_versions(build)[-1]


def is_preview_era(build: int) -> bool:
    return FIRST_NESTED_BUILD <= build < FIRST_GA_BUILD


def expose_refusal(node: Node, vm: VM) -> str | None:
    """Why Set-VMProcessor -ExposeVirtualizationExtensions $true fails on this node, if it does."""
    build = node.os.build
    if build < FIRST_NESTED_BUILD:
        return "This version of Hyper-V does not support nested virtualization."
    if is_preview_era(build) and node.vbs != "off":
        return "Nested virtualization cannot be enabled while Virtualization Based Security is enabled on the host."
    if build >= FIRST_GA_BUILD and version_tuple(vm.version) < MIN_GA_VERSION:
        return f"Nested virtualization requires configuration version {MIN_GA_VERSION[0]}.{MIN_GA_VERSION[1]} or higher."
    return None


def start_refusal(node: Node, vm: VM) -> str | None:
    """Why a VM with exposed extensions may not start on this node (None: it may)."""
    if not vm.expose_virtualization_extensions:
        return None
    if node.os.cpu_vendor == "AuthenticAMD" and (
        node.os.build < FIRST_AMD_BUILD or version_tuple(vm.version) < MIN_AMD_VERSION
    ):
        # docs/requirements.md#textamd-no-nesting; the full text is unconfirmed there.
        return "The virtual machine could not be started because this platform does not support nested virtualization."
    if is_preview_era(node.os.build) and vm.dynamic_memory:
        # assumption: the preview builds' text is unknown; the fact (no boot) is from §1.
        return (f"'{vm.name}' failed to start. Dynamic memory is not supported for a virtual machine "
                "with nested virtualization enabled.")
    return None


def checkpoint_refusal(node: Node, vm: VM, *, regression: bool = False) -> str | None:
    """Why Checkpoint-VM fails for ``vm`` (None: it may be taken). Preview builds cannot save or
    checkpoint a running L1 (docs/requirements.md#vmcheckpoints); ``regression`` models a GA build that refuses too."""
    if vm.state != "Running" or not vm.expose_virtualization_extensions:
        return None
    if is_preview_era(node.os.build) or regression:
        # assumption: the detail line; "could not initiate a checkpoint operation" is VMMS's wording
        return (f"Checkpoint operation failed.\n'{vm.name}' could not initiate a checkpoint operation: a virtual "
                "machine with nested virtualization enabled cannot be checkpointed while it is running.")
    return None


def offers_virtualization(node: Node, vm: VM, *, ignore_expose: bool = False) -> bool:
    """Whether the guest of ``vm`` sees VT-x/AMD-V: extensions exposed, allowed on this node,
    not suppressed by BCD, and the node's own hypervisor running (one nesting level only).
    ``ignore_expose`` models a platform regression that offers them to every VM."""
    return (
        (vm.expose_virtualization_extensions or ignore_expose)
        and node.hypervisor_running
        and node.bcd_offer_nested
        and node.depth == 0  # assumption: an L2 never gets a working hypervisor (one level supported)
        and node.os.build >= FIRST_NESTED_BUILD
        and start_refusal(node, vm) is None
        and expose_refusal(node, vm) is None
    )


def product_name(build: int, installation_type: str, edition: str) -> str:
    """ProductName as the CurrentVersion key shows it (Windows 11 still says "Windows 10")."""
    if installation_type == "Server":
        year = {14393: "2016", 17763: "2019", 20348: "2022", 26100: "2025"}.get(build)
        name = f"Windows Server {year}" if year else "Windows Server"
        return f"{name} {'Datacenter' if 'Datacenter' in edition else 'Standard'}"
    return f"Windows 10 {'Pro' if edition == 'Professional' else 'Enterprise' if edition == 'Enterprise' else edition}"


def display_version(build: int) -> str:
    return {19041: "2004", 19042: "20H2", 19043: "21H1", 19044: "21H2", 19045: "22H2", 20348: "21H2",
            22000: "21H2", 22621: "22H2", 22631: "23H2", 26100: "24H2", 17763: "1809", 14393: "1607"}.get(build, "")


def cpu_model(vendor: str) -> str:
    if vendor == "AuthenticAMD":
        return "AMD EPYC 7763 64-Core Processor"
    return "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"


def has_route(world: World, node: Node, adapter: NetAdapter) -> bool:
    """Whether a guest on ``adapter`` reaches a network that hands out addresses (docs/requirements.md#vmmac-spoofing:
    an L2 needs MAC spoofing on the L1's adapter, or NAT inside the L1)."""
    switch = next((s for s in node.switches if adapter.switch_name and s.name.lower() == adapter.switch_name.lower()),
                  None)
    if switch is None:
        return False
    located = world.locate(node)
    if located is None:
        # the host: an External switch, or an Internal one behind NAT (the Client SKU's Default Switch is)
        return switch.switch_type == "External" or (
            switch.switch_type == "Internal" and (switch.name == "Default Switch" or bool(node.nats)))
    parent, vm = located
    uplink = vm.adapters[0] if vm.adapters else None
    if uplink is None or not has_route(world, parent, uplink):
        return False
    if switch.switch_type == "External":
        return uplink.mac_spoofing  # the L2's own MAC leaves through the L1's adapter: dropped unless spoofing
    return switch.switch_type == "Internal" and bool(node.nats)  # NAT inside the L1 hides the L2's MAC
