"""`sleeptime rows publish`: a shareable copy of a results file (:func:`optimize.reports.rows.publish_rows`);
`sleeptime rows upgrade`: a results file written by an older version made resumable
(:func:`optimize.experiments.results_file.upgrade_ids`)."""

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


def run_upgrade(args: argparse.Namespace) -> int:
    from optimize.experiments.results_file import upgrade_ids

    for rows in args.rows:
        if not Path(rows).is_file():
            raise UserError(f"{rows} is not a results file; give the JSONL that "
                            "`sleeptime evaluate --out` wrote")
    for rows in args.rows:
        changed = upgrade_ids(rows)
        print(f"{rows}: {changed} rows given this version's configuration id" if changed
              else f"{rows}: already current")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """``sleeptime rows publish ROWS --out PUBLIC``; ``sleeptime rows upgrade ROWS...``."""
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
    upgrade = add_subcommand(
        commands, "upgrade",
        help="give results files written by an older version this version's configuration ids (when "
             "`evaluate` says the file identified the same configuration differently); rows are unchanged")
    upgrade.add_argument("rows", nargs="+", help="results JSONL files of `sleeptime evaluate --out`")
    upgrade.set_defaults(func=run_upgrade)
