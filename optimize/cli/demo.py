"""`sleeptime demo`: the flags of :mod:`optimize.experiments.demo`."""

from __future__ import annotations

import argparse

from optimize.cli.flags import add_run_flags, add_subcommand, positive_int
from optimize.experiments.demo import DEMO_SLEEP_MODEL, DEMO_TEST_MODEL
from optimize.experiments.runner import DEFAULT_MAX_ERROR_RATE


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = add_subcommand(subparsers, "demo", help="run the whole pipeline small on the embedded local model")
    demo.add_argument("--sleep-model", default=DEMO_SLEEP_MODEL, help="model spec of the sleep phase")
    demo.add_argument("--test-model", default=DEMO_TEST_MODEL, help="model spec of the test phase")
    demo.add_argument("--model", default=None,
                      help="one model spec for both phases (wins over --sleep-model and --test-model)")
    demo.add_argument("--contexts", type=positive_int, default=5, help="held-out contexts (all questions)")
    demo.add_argument("--search-contexts", type=positive_int, default=2,
                      help="dev contexts each search trial answers")
    demo.add_argument("--n-trials", type=positive_int, default=6, help="budget-search trials")
    demo.add_argument("--trials", dest="n_trials", type=positive_int, help=argparse.SUPPRESS)  # hidden alias
    demo.add_argument("--sampler-seed", type=int, default=0, help="seed of the search's sampler")
    demo.add_argument("--max-error-rate", type=float, default=DEFAULT_MAX_ERROR_RATE,
                      help="a Budget with a larger share of failed questions fails (never a result)")
    demo.add_argument("--name", default="demo", help="prefix of the MLflow runs, study and result folders")
    demo.add_argument("--out", default="reports/demo", help="where the figures and tables go")
    demo.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    add_run_flags(demo, threads=1, threads_help="concurrent questions per Budget")
    demo.set_defaults(func=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    from optimize.experiments.demo import run_demo

    return run_demo(sleep_model=args.model or args.sleep_model, test_model=args.model or args.test_model,
                    contexts=args.contexts, search_contexts=args.search_contexts, n_trials=args.n_trials,
                    sampler_seed=args.sampler_seed, max_error_rate=args.max_error_rate, name=args.name,
                    out=args.out, track=not args.no_mlflow, threads=args.threads, store=args.store,
                    api_base=args.api_base, retries=args.retries)
