"""`sleeptime claims`: recompute every headline number of README.md and BENCHMARKS.md listed in
``docs/claims.toml`` from the committed rows (:mod:`optimize.reports.claims`), and say which sentence no
longer matches; ``--sources`` lists each sentence with the files it is computed from."""

from __future__ import annotations

import argparse
from pathlib import Path

from optimize.errors import UserError


def run_claims(args: argparse.Namespace) -> int:
    from optimize.reports.claims import CLAIMS, check_claims, sources_markdown

    path = Path(args.claims or CLAIMS)
    if not path.is_file():
        raise UserError(f"{path} does not exist; give the claims file (docs/claims.toml in the repository)")
    results = check_claims(path)
    if args.sources:
        print(sources_markdown(results))
        return 0
    stale = [result for result in results if not result.found]
    for result in stale:
        print(f"{result.doc} no longer says what its rows give: {result.expected!r}")
    print(f"{len(results) - len(stale)} of {len(results)} claims match their committed rows")
    return 1 if stale else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """``sleeptime claims [--sources] [--claims FILE]``."""
    from optimize.cli.flags import add_subcommand

    claims = add_subcommand(
        subparsers, "claims",
        help="recompute the headline numbers of README.md and BENCHMARKS.md from the committed rows; exit 1 "
             "when a sentence no longer matches them")
    claims.add_argument("--claims", help="the claims file (default: the repository's docs/claims.toml)")
    claims.add_argument("--sources", action="store_true",
                        help="list every claimed sentence with the committed files it is computed from")
    claims.set_defaults(func=run_claims)
