"""`sleeptime serve` (also ``python3 -m optimize.cli.serve``): the flags of :mod:`optimize.deploy.serve`."""

from __future__ import annotations

import argparse

from optimize.deploy.serve import DEFAULT_HOST, DEFAULT_PORT


def limits_from_args(args: argparse.Namespace):
    """The :class:`optimize.deploy.limits.ServeLimits` the command line describes."""
    from optimize.deploy.limits import ServeLimits

    return ServeLimits.for_context_window(
        args.context_window, max_context_chars=args.max_context_chars,
        max_question_chars=args.max_question_chars, max_body_bytes=args.max_body_bytes,
        max_contexts_per_owner=args.max_contexts_per_token, max_pending_sleep=args.max_pending_sleep,
        max_questions=args.max_questions, max_deadline=args.max_deadline,
        max_test_tokens=args.max_test_tokens, max_connections=args.max_connections)


def build_session(args: argparse.Namespace):
    """The session the command line describes."""
    from optimize.cli.flags import budget_from_args
    from programs.scheduler import CostModel, SleepScheduler
    from programs.session import SleepTimeSession
    from programs.store import default_store_path

    budget = budget_from_args(args)
    limits = limits_from_args(args)
    scheduler = SleepScheduler(CostModel.default(args.price_ratio), policy=args.scheduler,
                               default_questions=args.questions_per_context)
    return SleepTimeSession(budget, store=args.store or default_store_path(), scheduler=scheduler,
                            sleep_workers=args.sleep_workers, max_concurrency=args.max_concurrency,
                            api_base=args.api_base, prefill=args.prefill, probes=args.probes,
                            max_pending_sleep=limits.max_pending_sleep,
                            max_context_chars=limits.max_context_chars)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from optimize.cli.flags import (
        add_budget_flags,
        add_budget_json_flag,
        non_negative_int,
        port_number,
        positive_float,
        positive_int,
    )

    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on (loopback only by default)")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--store", default=None, help="learned-context store: a SQLite path (default the "
                        "user cache dir or $SLEEPTIME_STORE) or a postgresql:// URL shared by several "
                        "replicas; a restarted server finds its contexts here")
    parser.add_argument("--token-file", default=None, help="bearer tokens, one a line ('TOKEN' or 'OWNER "
                        "TOKEN'); default $SLEEPTIME_SERVE_TOKENS (comma-separated). Needed beyond loopback")
    parser.add_argument("--api-base", default=None, help="OpenAI-compatible base URL for openai/<model>")
    add_budget_json_flag(parser)
    add_budget_flags(parser, skip=("compiled",))
    parser.add_argument("--scheduler", default="break-even", choices=("break-even", "always", "never"),
                        help="whether to sleep on a context: break-even from N, t and predictability, "
                        "or always/never")
    parser.add_argument("-N", "--questions-per-context", type=positive_float, default=3.0,
                        help="questions expected per context when a request does not say")
    parser.add_argument("-t", "--price-ratio", type=positive_float, default=10.0,
                        help="test-token price / sleep-token price")
    parser.add_argument("--sleep-workers", type=positive_int, default=1, help="sleep-time jobs at once")
    parser.add_argument("--max-concurrency", type=positive_int, default=2,
                        help="LM jobs at once (questions first)")
    parser.add_argument("--prefill", action="store_true",
                        help="after making notes, send their prompt prefix so the server's cache holds it")
    parser.add_argument("--probes", type=non_negative_int, default=0,
                        help="check new notes with this many self-generated probe questions before use")
    limits = parser.add_argument_group("limits (docs/deployment.md; defaults follow --context-window)")
    limits.add_argument("--context-window", type=positive_int, default=4096,
                        help="the answering model's context in tokens: sizes the text limits")
    limits.add_argument("--max-context-chars", type=positive_int, default=None,
                        help="longest context, updates included (default 2 characters a window token)")
    limits.add_argument("--max-question-chars", type=positive_int, default=None,
                        help="longest question (default half a character a window token)")
    limits.add_argument("--max-body-bytes", type=positive_int, default=None,
                        help="largest request body (default: the longest context, JSON-escaped)")
    limits.add_argument("--max-contexts-per-token", type=positive_int, default=None,
                        help="contexts one token may hold (default 1000); beyond: 429")
    limits.add_argument("--max-pending-sleep", type=positive_int, default=None,
                        help="queued sleep-time jobs (default 256); beyond: 503 with Retry-After")
    limits.add_argument("--max-questions", type=positive_int, default=None,
                        help="questions answered or waiting at once (default 32); beyond: 503 with "
                        "Retry-After")
    limits.add_argument("--max-deadline", type=positive_float, default=None,
                        help="longest wait for notes a question may ask (default 300 s)")
    limits.add_argument("--max-test-tokens", type=positive_int, default=None,
                        help="the most tokens a request may let an answer generate (default 1024)")
    limits.add_argument("--max-connections", type=positive_int, default=None,
                        help="open connections before uvicorn answers a plain 503 (default 256)")


def register(subparsers: argparse._SubParsersAction) -> None:
    from optimize.cli.flags import add_subcommand

    parser = add_subcommand(subparsers, "serve",
                            help="serve a sleep-time session over HTTP (OpenAPI at /docs)")
    add_arguments(parser)
    parser.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from optimize.deploy.auth import Tokens
    from optimize.deploy.serve import check_exposure, serve

    tokens = Tokens.load(args.token_file)
    check_exposure(args.host, tokens)  # before the session starts a model for nothing
    with build_session(args) as session:
        serve(session, args.host, args.port, tokens=tokens, limits=limits_from_args(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    from optimize.cli.flags import HelpFormatter, Parser

    parser = Parser(prog="python3 -m optimize.cli.serve", description=__doc__.splitlines()[0],
                    formatter_class=HelpFormatter)
    add_arguments(parser)
    return serve_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
