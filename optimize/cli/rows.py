"""`sleeptime rows publish`: a shareable copy of a results file
(:func:`optimize.reports.rows.publish_rows`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from optimize.errors import UserError


def run_publish(args: argparse.Namespace) -> int:
    if not Path(args.rows).is_file():
        raise UserError(f"{args.rows} is not a results file; give the JSONL that "
                        "`sleeptime evaluate --out` wrote")
    from optimize.reports.rows import publish_rows

    count = publish_rows(args.rows, args.out)
    print(f"written: {args.out} ({count} rows without question, reply or notes text)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """``sleeptime rows publish ROWS --out PUBLIC``."""
    from optimize.cli.flags import add_subcommand

    rows = add_subcommand(subparsers, "rows", help="work with results files")
    commands = rows.add_subparsers(dest="rows_command", metavar="COMMAND", required=True)
    publish = add_subcommand(
        commands, "publish",
        help="copy a results file without the text that quotes its instances (questions, replies, notes), "
             "for data whose licence forbids sharing them; tables, claims and `evaluate` resume read it")
    publish.add_argument("rows", help="results JSONL of `sleeptime evaluate --out`")
    publish.add_argument("--out", required=True, help="where the copy goes (its .config.json beside it)")
    publish.set_defaults(func=run_publish)
