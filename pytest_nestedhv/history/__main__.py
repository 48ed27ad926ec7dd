"""python -m pytest_nestedhv.history [--db PATH] [--out PATH]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..reporting.history_store import HistoryError
from ..reporting.writer import HISTORY_DB, HISTORY_HTML, render_history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_nestedhv.history",
        description="Render the build x requirement matrix, first failing builds and flaky tests as HTML.",
    )
    parser.add_argument("--db", type=Path, default=Path("reports") / HISTORY_DB, help="history database")
    parser.add_argument("--out", type=Path, default=None, help=f"HTML file (default: {HISTORY_HTML} beside the db)")
    args = parser.parse_args(argv)
    db: Path = args.db
    out: Path = args.out or db.with_name(HISTORY_HTML)
    if not db.exists():
        print(f"error: no history database at {db}: run pytest --nested-host=... first, or pass --db", file=sys.stderr)
        return 2
    try:
        render_history(db, out)
    except HistoryError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
