"""`python3 -m optimize.cli.repeats`: the flags of :mod:`optimize.bench.repeats`."""

from __future__ import annotations

import argparse

from optimize.bench import repeats


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m optimize.cli.repeats",
                                     description=repeats.__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="docs/benchmarks/standard", help="the standard run's folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(repeats.write_run_to_run(args.results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
