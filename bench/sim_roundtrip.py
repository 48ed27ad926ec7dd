"""Round-trip cost of the emulated host on loopback: median latency of one small invoke and
HTTP requests per invoke (counted by the server), per auth mode and transport.

Targets: median <= 10 ms, 2 requests per invoke.   Usage: python bench/sim_roundtrip.py [-n 50]
"""
from __future__ import annotations

import argparse
import secrets
import statistics
import time

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from pytest_nestedhv.sim.server import SimServer
from pytest_nestedhv.sim.server.echo_engine import EchoEngine

MODES = [("basic", False), ("ntlm", False), ("basic", True), ("ntlm", True), ("negotiate", False)]


def measure(auth: str, https: bool, invokes: int) -> tuple[float, float]:
    password = secrets.token_urlsafe(16)
    with SimServer(EchoEngine(), users={"bench": password}, https=https, auth=auth) as server:
        wsman = WSMan(
            "127.0.0.1",
            port=server.port,
            username="bench",
            password=password,
            ssl=https,
            auth=auth,
            encryption="never" if auth == "basic" and not https else "auto",
            cert_validation=str(server.ca_path) if https else False,
        )
        with RunspacePool(wsman) as pool:
            timings: list[float] = []
            before = server.request_count
            for _ in range(invokes):
                ps = PowerShell(pool)
                ps.add_cmdlet("Get-VM").add_parameter("Name", "vm1")
                start = time.perf_counter()
                ps.invoke()
                timings.append(time.perf_counter() - start)
                # close() is one more request (Signal terminate) outside the timed invoke
                requests_before_close = server.request_count
                ps.close()
                before += server.request_count - requests_before_close
            per_invoke = (server.request_count - before) / invokes
    return statistics.median(timings) * 1000, per_invoke


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--invokes", type=int, default=50)
    args = parser.parse_args()
    print(f"{'auth':<10} {'transport':<9} {'median ms':>9} {'requests/invoke':>15}")
    for auth, https in MODES:
        median_ms, per_invoke = measure(auth, https, args.invokes)
        print(f"{auth:<10} {'https' if https else 'http':<9} {median_ms:>9.2f} {per_invoke:>15.2f}")


if __name__ == "__main__":
    main()
