"""Standalone emulated host.

    python -m pytest_nestedhv.sim serve --scenario NAME|PATH [--port N] [--host ADDR] [--http]
        [--auth basic|ntlm|negotiate] [--user U] --state FILE
    python -m pytest_nestedhv.sim serve --stdio --scenario NAME|PATH [--state FILE]
    python -m pytest_nestedhv.sim state --state FILE

``serve`` takes the password from NESTED_HOST_PASSWORD, reloads the model from the state file
when it exists (a host outlives a test run), saves it after every change, prints one line
(the URL, and for HTTPS the CA file clients must trust) and serves until SIGTERM/SIGINT.
``serve --stdio`` is what ``powershell.exe -s`` is on that host: PSRP over stdin/stdout (the
out-of-process transport) until the client closes the pool or its input; no account, no port.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PASSWORD_ENV = "NESTED_HOST_PASSWORD"


class CliError(Exception):
    """Bad input: reported as one line on stderr, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_nestedhv.sim", description="Emulated Hyper-V host (WinRM/PSRP)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve WinRM until SIGTERM/SIGINT")
    serve.add_argument("--scenario", required=True, help="a shipped scenario name or a scenario .toml file")
    serve.add_argument("--state", type=Path, help="model state file (created, reloaded, kept current); "
                                                  "required unless --stdio")
    serve.add_argument("--stdio", action="store_true",
                       help="serve PSRP on stdin/stdout as powershell.exe -s does, instead of WinRM")
    serve.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    serve.add_argument("--auth", choices=["basic", "ntlm", "negotiate"], default="ntlm")
    serve.add_argument("--user", default="Administrator", help=f"account name; its password comes from {PASSWORD_ENV}")
    state = commands.add_parser("state", help="print the saved model as JSON")
    state.add_argument("--state", required=True, type=Path)
    return parser


def _load_world(scenario_name: str, state_path: Path | None) -> Any:
    from .model.world import World
    from .scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(scenario_name)
    except ScenarioError as exc:
        raise CliError(str(exc)) from None
    if state_path is not None and state_path.exists():
        try:
            return World.load(state_path)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise CliError(f"{state_path}: cannot load the saved state: {exc}") from None
    try:
        return World.from_scenario(scenario)
    except ValueError as exc:
        raise CliError(f"{scenario_name}: {exc}") from None


def _elevated(scenario_name: str) -> bool:
    from .scenario import load_scenario

    return bool(load_scenario(scenario_name).host.elevated)  # already checked by _load_world


def _track_state(world: Any, state_path: Path) -> None:
    """Save now and after every change (the WinRM server; stdio processes share a file through SharedHost)."""

    def save() -> None:
        world.save(state_path)

    try:
        save()
    except OSError as exc:
        raise CliError(f"{state_path}: cannot write the state file: {exc.strerror or exc}") from None
    world.on_change = save


def serve_stdio(args: argparse.Namespace) -> int:
    from .powershell.engine import Engine
    from .server.stdio import serve_stdio as serve_packets

    world = _load_world(args.scenario, args.state)
    engine: Any = Engine(world, elevated=_elevated(args.scenario))
    if args.state is not None:
        from .shared_host import SharedHost

        # several powershell.exe on one machine see one Hyper-V: so do processes on one state file
        try:
            engine = SharedHost(engine, args.state)
        except OSError as exc:
            raise CliError(f"{args.state}: cannot write the state file: {exc.strerror or exc}") from None
    # why: a ^C at the client's console reaches this process too; the client stops pipelines
    # with the transport's Signal packet, as it does with powershell.exe
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return serve_packets(engine, sys.stdin.buffer, sys.stdout.buffer)


def serve(args: argparse.Namespace) -> int:
    from .powershell.engine import Engine
    from .server import Faults, SimServer

    if args.stdio:
        return serve_stdio(args)
    if args.state is None:
        raise CliError("--state is required (a file for the model's state), unless --stdio")
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        raise CliError(f"{PASSWORD_ENV} is not set: it holds the password of --user {args.user}")
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port}: not a TCP port")
    world = _load_world(args.scenario, args.state)
    _track_state(world, args.state)

    server = SimServer(
        Engine(world, elevated=_elevated(args.scenario)),
        users={args.user: password},
        host=args.host,
        port=args.port,
        https=not args.http,
        auth=args.auth,
        faults=Faults(latency_ms=float(world.faults.latency_ms), drop_rate=float(world.faults.drop_rate)),
        machine_name=world.host.os.computer_name,
    )
    try:
        server.start()
    except OSError as exc:
        server.stop()
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(server.url if server.ca_path is None else f"{server.url} ca={server.ca_path}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        world.on_change = None
        world.save(args.state)
    return 0


def show_state(args: argparse.Namespace) -> int:
    from .model.world import World

    try:
        World.load(args.state)  # validates that this is a state file
        data = json.loads(Path(args.state).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"{args.state}: no such state file") from None
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise CliError(f"{args.state}: not a readable state file: {exc}") from None
    print(json.dumps(data, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return serve(args) if args.command == "serve" else show_state(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
