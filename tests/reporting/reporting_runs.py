"""Run the validation suite against the emulated host in a child pytest, for the report tests."""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

SUITES = Path(__file__).resolve().parents[2] / "suites"
DEFAULT_GUEST_PASSWORD = "Sim-Guest-Passw0rd!"  # the shipped default scenario's [guest] admin_password
RUN_TIMEOUT_S = 240
# an L2 crashes only when it boots an OS: the scenarios give the L1 an inner image to boot
INNER_IMAGE = r"C:\Images\inner.vhdx"


@dataclasses.dataclass(frozen=True)
class Run:
    cwd: Path
    reports: Path
    returncode: int
    output: str


def prepare(where: Path) -> Path:
    dest = where / "suites"
    if not dest.exists():
        shutil.copytree(SUITES, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def run_suite(where: Path, *args: str, select: str = "suites", reports: str = "reports") -> Run:
    prepare(where)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NESTED_", "PYTEST_ADDOPTS", "PYTEST_XDIST"))}
    cmd = [sys.executable, "-m", "pytest", select, "-p", "no:cacheprovider", "-q", "-o", "junit_family=xunit1",
           f"--nested-report-dir={reports}", *args]
    proc = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    return Run(where, where / reports, proc.returncode, proc.stdout + proc.stderr)


def scenario(path: Path, *, ubr: int, boot: str = "ok", password: str = DEFAULT_GUEST_PASSWORD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    crash = "crash_after_seconds = 20\n" if boot == "crash" else ""
    path.write_text(
        f'description = "report tests: build 26100.{ubr}"\n\n[host]\nbuild = 26100\nubr = {ubr}\n\n'
        f'[guest]\nadmin_password = "{password}"\nbase_images = [\'{INNER_IMAGE}\']\n\n[nested]\nboot = "{boot}"\n{crash}\n[faults]\ntime_scale = 100\n',
        encoding="utf-8",
    )
    return path
