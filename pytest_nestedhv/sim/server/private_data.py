"""APPLICATION_PRIVATE_DATA: the PSVersionTable a Windows PowerShell 5.1 endpoint announces.

Fields, order and types as recorded from Windows Server 2016/2019 in pypsrp's
tests/tests_pypsrp/responses (a PSPrimitiveDictionary holding a PSPrimitiveDictionary);
the build numbers follow the emulated host's OS build and update revision.
"""
from __future__ import annotations

from typing import Any

from psrpcore.types import PSList, PSPrimitiveDictionary, PSString, PSVersion

DEFAULT_BUILD = (17763, 1971)  # a Windows Server 2019 host, when the engine does not say


def _version(text: str) -> PSVersion:
    return PSVersion(text)


def version_table(build: int, revision: int) -> PSPrimitiveDictionary:
    ps_version = f"5.1.{build}.{revision}"
    table = PSPrimitiveDictionary()
    table["PSVersion"] = _version(ps_version)
    table["PSEdition"] = PSString("Desktop")
    compatible = PSList(_version(v) for v in ("1.0", "2.0", "3.0", "4.0", "5.0", ps_version))
    compatible.PSObject.type_names = ["System.Version[]", "System.Array", "System.Object"]
    table["PSCompatibleVersions"] = compatible
    table["CLRVersion"] = _version("4.0.30319.42000")
    table["BuildVersion"] = _version(f"10.0.{build}.{revision}")
    table["WSManStackVersion"] = _version("3.0")
    table["PSRemotingProtocolVersion"] = _version("2.3")
    table["SerializationVersion"] = _version("1.1.0.1")
    return table


def application_private_data(engine: Any) -> dict[str, Any]:
    """The pool's private data for ``engine``; an engine with ``os_build()`` names its host's build."""
    os_build = getattr(engine, "os_build", None)
    build, revision = os_build() if callable(os_build) else DEFAULT_BUILD
    data = PSPrimitiveDictionary()
    data["PSVersionTable"] = version_table(build, revision)
    return data
