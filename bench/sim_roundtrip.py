"""Round-trip cost of the emulated host on loopback: median latency of one small invoke and
HTTP requests per invoke (counted by the server), per auth mode and transport.

Two latencies: the emulator in this process (requests counted there; client and server share one
GIL, as with --nested-host=sim), and the standalone emulator in its own process with the real
engine and the default scenario (what a client of a separate host sees).

Targets: median <= 10 ms, 2 requests per invoke.   Usage: python bench/sim_roundtrip.py [-n 50]
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from pytest_nestedhv.sim.server import SimServer
from pytest_nestedhv.sim.server.echo_engine import EchoEngine

MODES = [("basic", False), ("ntlm", False), ("basic", True), ("ntlm", True), ("negotiate", False)]


def _wsman(port: int, password: str, auth: str, https: bool, ca: str | None) -> WSMan:
    return WSMan("127.0.0.1", port=port, username="bench", password=password, ssl=https, auth=auth,
                 encryption="never" if auth == "basic" and not https else "auto",
                 cert_validation=ca if https and ca else False)


def _timed_invoke(pool: RunspacePool, cmdlet: str, name: str, value: str) -> tuple[PowerShell, float]:
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet).add_parameter(name, value)
    start = time.perf_counter()
    ps.invoke()
    return ps, time.perf_counter() - start


def measure(auth: str, https: bool, invokes: int) -> tuple[float, float]:
    password = secrets.token_urlsafe(16)
    with SimServer(EchoEngine(), users={"bench": password}, https=https, auth=auth) as server:
        with RunspacePool(_wsman(server.port, password, auth, https, str(server.ca_path))) as pool:
            timings: list[float] = []
            before = server.request_count
            for _ in range(invokes):
                ps, seconds = _timed_invoke(pool, "Get-VM", "Name", "vm1")
                timings.append(seconds)
                # close() is one more request (Signal terminate) outside the timed invoke
                requests_before_close = server.request_count
                ps.close()
                before += server.request_count - requests_before_close
            per_invoke = (server.request_count - before) / invokes
    return statistics.median(timings) * 1000, per_invoke


def measure_standalone(auth: str, https: bool, invokes: int) -> float:
    """Median ms of `Test-Path` against `python -m pytest_nestedhv.sim serve` in its own process."""
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "pytest_nestedhv.sim", "serve", "--scenario", "default", "--auth", auth,
                "--user", "bench", "--state", str(Path(tmp) / "state.json")] + ([] if https else ["--http"])
        server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "NESTED_HOST_PASSWORD": password})
        try:
            assert server.stdout is not None
            url, *rest = server.stdout.readline().split()
            ca = rest[0].removeprefix("ca=") if rest else None
            port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
            with RunspacePool(_wsman(port, password, auth, https, ca)) as pool:
                timings = [_timed_invoke(pool, "Test-Path", "Path", "C:\\Images\\ws2025.vhdx")[1]
                           for _ in range(invokes)]
        finally:
            server.terminate()
            server.wait(10)
    return statistics.median(timings) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--invokes", type=int, default=50)
    args = parser.parse_args()
    print(f"{'auth':<10} {'transport':<9} {'in-process ms':>13} {'standalone ms':>13} {'requests/invoke':>15}")
    for auth, https in MODES:
        median_ms, per_invoke = measure(auth, https, args.invokes)
        standalone_ms = measure_standalone(auth, https, args.invokes)
        print(f"{auth:<10} {'https' if https else 'http':<9} {median_ms:>13.2f} {standalone_ms:>13.2f} "
              f"{per_invoke:>15.2f}")


if __name__ == "__main__":
    main()
