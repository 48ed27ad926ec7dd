"""python -m pytest_nestedhv.history [--db PATH] [--out PATH | --json] [--slowdown-factor X]
python -m pytest_nestedhv.history import --db PATH FILE...

Exit status: 0 done, 2 bad input (no or foreign database, unreadable junit.xml, bad factor)."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..reporting import history_store
from ..reporting.history_store import HistoryError
from ..reporting.history_view import DEFAULT_SLOWDOWN_FACTOR, history_json
from ..reporting.writer import HISTORY_DB, HISTORY_HTML, render_history
from .importer import entries_from_files

BAD_INPUT = 2
T = TypeVar("T")


def _factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number greater than 1 (e.g. 1.5)")
    return value


def _show(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_nestedhv.history",
        description="Render the history as HTML (build x requirement matrix with every run, regression windows, "
                    "same-build flakes, step timings), or print it as JSON. "
                    "'python -m pytest_nestedhv.history import --help' rebuilds a history from junit.xml files.",
    )
    parser.add_argument("--db", type=Path, default=Path("reports") / HISTORY_DB, help="history database")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--out", type=Path, default=None, help=f"HTML file (default: {HISTORY_HTML} beside the db)")
    out.add_argument("--json", action="store_true", help="print the history as JSON instead")
    parser.add_argument("--slowdown-factor", type=_factor, default=DEFAULT_SLOWDOWN_FACTOR, metavar="X",
                        help="flag a step slower than X times the median of the previous five builds (default 1.5)")
    args = parser.parse_args(argv)
    db: Path = args.db
    if not db.exists():
        print(f"error: no history database at {db}: run pytest --nested-host=... first, or pass --db", file=sys.stderr)
        return BAD_INPUT
    if args.json:
        data = _guarded(lambda: history_json(history_store.read(db), args.slowdown_factor), db)
        if data is None:
            return BAD_INPUT
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    target = args.out or db.with_name(HISTORY_HTML)
    if _guarded(lambda: render_history(db, target, slowdown_factor=args.slowdown_factor), target) is None:
        return BAD_INPUT
    print(target)
    return 0


def _guarded(action: Callable[[], T], path: Path) -> T | None:
    """The action's result; None after printing one line for a history or file problem."""
    try:
        return action()
    except HistoryError as err:
        print(f"error: {err}", file=sys.stderr)
    except OSError as err:
        print(f"error: cannot write {path}: {err.strerror or err}", file=sys.stderr)
    return None


def _import(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_nestedhv.history import",
        description="Add earlier runs to a history from their junit.xml files (a CI agent that starts empty "
                    "rebuilds its history from the artifacts). A run already in the history is skipped.",
    )
    parser.add_argument("--db", type=Path, required=True, help="history database (created when absent)")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="junit.xml files of earlier runs")
    args = parser.parse_args(argv)
    entries, errors = entries_from_files(args.files)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if errors:
        print("error: nothing was imported; fix or leave out the files above", file=sys.stderr)
        return BAD_INPUT
    done = _guarded(lambda: history_store.append(args.db, entries), args.db)
    if done is None:
        return BAD_INPUT
    if done.note:
        print(done.note)
    print(f"{args.db}: {done.runs} run(s) added with {done.rows} test result(s), "
          f"{done.skipped} already there")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["import"]:
        return _import(args[1:])
    return _show(args)


if __name__ == "__main__":
    raise SystemExit(main())
