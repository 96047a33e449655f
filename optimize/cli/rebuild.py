"""`python3 -m optimize.cli.rebuild`: the flags of :mod:`optimize.bench.rebuild`."""

from __future__ import annotations

import argparse

from optimize.bench import rebuild
from optimize.bench.presets import PRESETS
from optimize.bench.rebuild import REBUILDABLE, rebuild_tables


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m optimize.cli.rebuild",
                                     description=rebuild.__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="docs/benchmarks/standard", help="a committed benchmark folder")
    parser.add_argument("--size", choices=list(PRESETS), default="standard", help="the preset it ran")
    parser.add_argument("--only", default=",".join(REBUILDABLE),
                        help=f"comma list of questions to rewrite, of {','.join(REBUILDABLE)}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    only = [q.strip() for q in args.only.split(",") if q.strip()]
    print(rebuild_tables(args.results, PRESETS[args.size], only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
