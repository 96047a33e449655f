"""`python3 -m optimize.cli.overload`: the flags of :mod:`optimize.deploy.overload`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from optimize.deploy import overload


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m optimize.cli.overload",
                                     description=overload.__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--contexts", type=int, default=10)
    parser.add_argument("--max-questions", type=int, default=8)
    parser.add_argument("--answer-delay", type=float, default=0.05, help="seconds the fake engine takes")
    parser.add_argument("--repo", type=Path, default=overload.REPO,
                        help="whose server code to run (to compare two trees)")
    parser.add_argument("--no-limit-flags", action="store_true", help="for servers without the limit flags")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = overload.run_overload(clients=args.clients, seconds=args.seconds, contexts=args.contexts,
                                   max_questions=args.max_questions, answer_delay=args.answer_delay,
                                   limit_flags=not args.no_limit_flags, repo=args.repo)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
