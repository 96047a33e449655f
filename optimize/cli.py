"""The one command line: ``sleeptime <command>`` (also ``python -m optimize <command>``).

Each command lives in its own module, which exposes ``register(subparsers)``; heavy imports happen
inside the handlers so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "optimize.lm_cli",
    "optimize.data.cli",
    "optimize.run_cli",
    "optimize.search_cli",
    "optimize.demo",
    "optimize.benchmark",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sleeptime",
        description="Sleep-time compute: compile, evaluate and search sleep-time vs test-time budgets.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished work is saved and the next run resumes from it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
