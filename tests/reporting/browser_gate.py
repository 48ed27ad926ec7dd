"""Whether the browser tests can run here, and what to do when they cannot.

A fresh machine has no Chromium: the browser tests skip there, saying how to enable them.
CI installs Chromium and sets REQUIRE_ENV, which turns that skip into an error, so a CI run
whose browser went missing can never pass by skipping.
"""
from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from pathlib import Path

REQUIRE_ENV = "NESTEDHV_REQUIRE_BROWSER"
DEFAULT_CHROMIUM = "/usr/bin/chromium"


@dataclasses.dataclass(frozen=True)
class Gate:
    executable: str | None  # the browser to launch, or None when there is none
    reason: str = ""  # why there is none, and how to get one
    required: bool = False  # CI: a missing browser is an error, not a skip


def find_chromium(env: Mapping[str, str], exists=lambda p: Path(p).exists()) -> Gate:
    required = env.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}
    found = shutil.which("chromium") or DEFAULT_CHROMIUM
    if exists(found):
        return Gate(found, required=required)
    reason = (f"no Chromium at {found}: install Debian's chromium package (apt-get install chromium) "
              f"to run the browser tests; {REQUIRE_ENV}=1 makes its absence an error (CI sets it)")
    return Gate(None, reason, required)
