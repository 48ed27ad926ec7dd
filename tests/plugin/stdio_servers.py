"""Stand-ins for ``powershell.exe -s`` in the stdio tests (NESTED_LOCAL_SHELL or argv points here).

    python stdio_servers.py echo                   the echo engine over the out-of-process transport
    python stdio_servers.py die-after N ARGS...    runs ``python -m pytest_nestedhv.sim serve --stdio ARGS...``
                                                   and kills it (then exits 3) when the client announces its
                                                   N+1st pipeline: a PowerShell that dies mid-run
    python stdio_servers.py banner                 prints a line that is no packet and waits: not PowerShell
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time


def echo() -> int:
    from pytest_nestedhv.sim.server.echo_engine import EchoEngine
    from pytest_nestedhv.sim.server.stdio import serve_stdio

    return serve_stdio(EchoEngine(), sys.stdin.buffer, sys.stdout.buffer)


def die_after(commands: int, args: list[str]) -> int:
    log = os.environ.get("STAND_IN_LOG")
    if log:  # one line per start: tests see whether the cleanup started a new one
        with open(log, "a", encoding="utf-8") as f:
            f.write("start\n")
    child = subprocess.Popen([sys.executable, "-m", "pytest_nestedhv.sim", "serve", "--stdio", *args],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert child.stdin is not None and child.stdout is not None

    def pump_out() -> None:
        for line in child.stdout:  # type: ignore[union-attr]
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()

    threading.Thread(target=pump_out, daemon=True).start()
    seen = 0
    for line in sys.stdin.buffer:
        if line.startswith(b"<Command"):
            seen += 1
            if seen > commands:
                child.kill()
                child.wait()
                sys.stderr.write("stand-in PowerShell: killed\n")
                sys.stderr.flush()
                return 3
        child.stdin.write(line)
        child.stdin.flush()
    child.stdin.close()
    return child.wait()


def banner() -> int:
    print("Windows PowerShell", flush=True)
    time.sleep(60)
    return 0


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "echo":
        sys.exit(echo())
    if mode == "die-after":
        sys.exit(die_after(int(sys.argv[2]), sys.argv[3:]))
    sys.exit(banner())
