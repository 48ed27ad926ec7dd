"""Build numbers, eras and configuration versions (docs/requirements.md#buildseras), as constant tables."""
from __future__ import annotations

import dataclasses
from enum import Enum

FIRST_NESTED_BUILD = 10565  # Insider preview that introduced nesting (Intel only)
GA_BUILD = 14393  # Windows 10 1607 / Server 2016
VBS_BUG_BUILDS = range(14352, 14362)  # Set-VMProcessor fails unless VBS is opted out
FIRST_AMD_BUILD = 19636  # Insider build with AMD-V nesting; Windows 11 / Server 2022 in practice

INTEL = "GenuineIntel"
AMD = "AuthenticAMD"

MIN_VERSION_GA = (8, 0)
MIN_VERSION_AMD = (9, 3)
ADVISED_MEMORY_BYTES = 4 * 1024**3


class Era(str, Enum):
    NONE = "none"  # before 10565: no nested virtualization at all
    PREVIEW = "preview"  # 10565 .. 14392
    GA = "ga"  # 14393 and later


def era(build: int) -> Era:
    if build < FIRST_NESTED_BUILD:
        return Era.NONE
    if build < GA_BUILD:
        return Era.PREVIEW
    return Era.GA


@dataclasses.dataclass(frozen=True)
class Release:
    build: int
    name: str
    max_version: str
    min_version: str


# Known releases (docs/requirements.md#buildsconfig-versions): name and the configuration versions the host supports.
RELEASES: tuple[Release, ...] = (
    Release(14393, "Windows Server 2016 / Windows 10 1607", "8.0", "5.0"),
    Release(17763, "Windows Server 2019", "9.0", "5.0"),
    Release(19041, "Windows 10 2004-22H2", "9.2", "8.0"),
    Release(20348, "Windows Server 2022", "10.0", "8.0"),
    Release(22000, "Windows 11 21H2", "10.0", "8.0"),
    Release(22621, "Windows 11 22H2/23H2", "11.0", "8.0"),
    Release(26100, "Windows 11 24H2 / Windows Server 2025", "12.0", "8.0"),
)


def release_for(build: int) -> Release | None:
    """The newest known release at or below ``build``."""
    found = None
    for rel in RELEASES:
        if rel.build <= build:
            found = rel
    return found


def parse_version(text: str | None) -> tuple[int, int] | None:
    """'9.0' -> (9, 0); None or junk -> None."""
    if not text:
        return None
    parts = str(text).strip().split(".")
    try:
        major = int(parts[0])
        minor = int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None
    return (major, minor)


def format_version(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def required_vm_version(build: int, cpu_vendor: str) -> tuple[int, int] | None:
    """Lowest L1 configuration version that can nest on this host; None when no minimum applies."""
    if cpu_vendor == AMD:
        return MIN_VERSION_AMD
    if era(build) is Era.GA:
        return MIN_VERSION_GA
    return None
