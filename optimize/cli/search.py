"""``sleeptime search | sweep | report | ui``: budget search, fixed grids, figures, and the MLflow UI.

Examples::

    sleeptime search --n-trials 30 --study qwen05 --questions-per-context 5 --price-ratio 10
    sleeptime search --test-model local:qwen2.5-coder-0.5b,local:qwen2.5-coder-1.5b --use-sleep true,false
    sleeptime search --storage postgresql://user:pw@db:5432/studies --study shared --n-trials 10  # per worker
    sleeptime sweep --grid verbosity --test-max-tokens 256
    sleeptime report --results mlruns/results/qwen05 --out reports/
    sleeptime ui --port 5050
"""

from __future__ import annotations

import argparse
import sys

from optimize.cli.flags import (
    add_budget_flags,
    add_data_flags,
    add_run_flags,
    add_subcommand,
    examples_from_flags,
    port_number,
    positive_float,
    positive_int,
)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a fraction in 0..1, got {text!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in 0..1, got {text!r}")
    return value


def _strs(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _add_experiment_flags(parser: argparse.ArgumentParser) -> None:
    """Objectives, failure threshold and where results go: the same for search and sweep."""
    from optimize.experiments.runner import DEFAULT_MAX_ERROR_RATE

    group = parser.add_argument_group("objectives and results")
    group.add_argument("--questions-per-context", "-N", type=positive_float, default=1.0,
                       help="questions asked per context, amortizing sleep time (paper: 1)")
    group.add_argument("--price-ratio", "-t", type=positive_float, default=10.0,
                       help="price of a test-time token in sleep-time tokens (paper: 10)")
    group.add_argument("--max-error-rate", type=_fraction, default=DEFAULT_MAX_ERROR_RATE,
                       help="a Budget with a larger share of failed questions fails (never a result); "
                       "one with every question failed always fails")
    group.add_argument("--results-dir", default=None,
                       help="where result tables go (default: mlruns/results/NAME)")
    group.add_argument("--tracking-uri", default=None,
                       help="MLflow store (default: sqlite:///mlruns/mlflow.db)")
    group.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")


def _add_space_flags(parser: argparse.ArgumentParser) -> None:
    """One comma-list flag per Budget field (the search space), derived from the Budget's fields."""
    from optimize.experiments.search import SearchSpace

    defaults = {name: ",".join("none" if v is None else str(v) for v in values)
                for name, values in SearchSpace().dimensions().items()}
    group = add_budget_flags(parser, many=True, defaults=defaults,
                             title="search space (comma-separated values; one value fixes a dimension)")
    group.add_argument("--model", dest="model", type=_strs, default=None,
                       help="model specs searched for both phases (--sleep-model/--test-model win)")
    # Hidden aliases: --models, --sleep-models, --test-models, --sleep both|on|off.
    hidden = argparse.SUPPRESS
    group.add_argument("--models", dest="model", type=_strs, default=None, help=hidden)
    group.add_argument("--sleep-models", dest="sleep_model", type=_strs, default=None, help=hidden)
    group.add_argument("--test-models", dest="test_model", type=_strs, default=None, help=hidden)
    group.add_argument("--sleep", dest="sleep_mode", choices=("both", "on", "off"), default=None, help=hidden)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 0,2,4, got {text!r}"
        ) from exc


def register(subparsers) -> None:
    search = add_subcommand(subparsers, "search", help="multi-objective Optuna search over the Budget space")
    add_data_flags(search, split="dev")
    add_run_flags(search, threads=1, threads_help="evaluation threads per trial")
    _add_experiment_flags(search)
    study = search.add_argument_group("study")
    study.add_argument("--n-trials", type=positive_int, default=20,
                       help="Budgets this worker evaluates (one already in the study is not counted)")
    study.add_argument("--storage", default=None,
                       help="sqlite:///PATH (default: mlruns/optuna.db), postgresql://..., mysql://... or "
                       "journal:PATH; workers on several machines share a study via a database server")
    study.add_argument("--study", default="sleeptime", help="study name (resumed if it exists)")
    study.add_argument("--sampler-seed", type=int, default=0, help="seed of the sampler")
    study.add_argument("--sampler", choices=("tpe", "nsga2", "random"), default="tpe", help="Optuna sampler")
    study.add_argument("--jobs", type=positive_int, default=1, help="trials evaluated in parallel threads")
    study.add_argument("--max-test-tokens", type=positive_float, default=None,
                       help="constraint: a Budget above this many test tokens per question is infeasible "
                       "(default: none)")
    _add_space_flags(search)
    search.set_defaults(func=search_command)

    sweep = add_subcommand(subparsers, "sweep", help="the paper's fixed grids (verbosity 0..4 +/- sleep; "
                           "k in 1,2,5,10)")
    add_data_flags(sweep, split="dev")
    add_run_flags(sweep, threads=1, threads_help="evaluation threads per Budget")
    _add_experiment_flags(sweep)
    sweep.add_argument("--grid", choices=("verbosity", "k", "all"), default="verbosity", help="which grid")
    sweep.add_argument("--name", default=None, help="sweep name (default: sweep-GRID)")
    add_budget_flags(sweep, skip=("use_sleep",),
                     title="fixed budget (every field the grid does not vary)")
    sweep.set_defaults(func=sweep_command)

    report = add_subcommand(subparsers, "report", help="figures and tables of a search or sweep")
    source = report.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-run", metavar="RUN_ID", help="parent MLflow run of a search or sweep")
    source.add_argument("--results", metavar="DIR", help="results directory containing configs.csv")
    report.add_argument("--out", default="reports", help="output directory")
    report.add_argument("--tracking-uri", default=None, help="MLflow store (default: sqlite:///mlruns/mlflow.db)")
    report.set_defaults(func=report_command)

    ui = add_subcommand(subparsers, "ui", help="open the MLflow UI on this project's store (loopback)")
    ui.add_argument("--port", type=port_number, default=5000, help="port on 127.0.0.1 (0: a free one)")
    ui.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    ui.add_argument("--tracking-uri", default=None, help="MLflow store (default: sqlite:///mlruns/mlflow.db)")
    ui.set_defaults(func=ui_command)


# -- handlers -----------------------------------------------------------------------------------------------
def _common(args) -> dict:
    """What search and sweep share: objectives, store, tracker, the real evaluator with the run flags."""
    from functools import partial
    from pathlib import Path

    from optimize.experiments.runner import evaluate_budget
    from optimize.tracking.runs import Tracker
    from programs.store import default_store_path, open_store

    store = open_store(args.store if args.store is not None else default_store_path())
    return {
        "questions_per_context": args.questions_per_context,
        "price_ratio": args.price_ratio,
        "max_error_rate": args.max_error_rate,
        "store": store,
        "split": args.split,
        "tracker": False if args.no_mlflow else Tracker(args.tracking_uri),
        "evaluator": partial(evaluate_budget, api_base=args.api_base, num_threads=args.threads,
                             progress=False, lm_options={"num_retries": args.retries}),
        "results_dir": Path(args.results_dir) if args.results_dir else None,
    }


def _space(args):
    """The search space the flags describe; unspecified dimensions keep :class:`SearchSpace`'s values."""
    from optimize.experiments.runner import SLEEP_FIELDS
    from optimize.experiments.search import SearchSpace

    defaults = SearchSpace()
    given = {name: getattr(args, name, None) for name in defaults.dimensions()}
    if args.sleep_mode is not None and given["use_sleep"] is None:
        given["use_sleep"] = {"both": (True, False), "on": (True,), "off": (False,)}[args.sleep_mode]
    for name in ("sleep_model", "test_model"):
        if given[name] is None and args.model:
            given[name] = args.model
    if given["use_sleep"] == (False,):
        # With sleep time off, unspecified sleep dimensions collapse to one value instead of contradicting.
        for name in SLEEP_FIELDS:
            if given[name] is None:
                given[name] = defaults.dimensions()[name][:1]
    return SearchSpace(**{name: value for name, value in given.items() if value is not None})


def search_command(args) -> int:
    from optimize.experiments.search import distinct_front, run_search

    study = run_search(
        examples_from_flags(args),
        n_trials=args.n_trials,
        storage=args.storage,
        study_name=args.study,
        seed=args.sampler_seed,
        sampler=args.sampler,
        n_jobs=args.jobs,
        space=_space(args).validate(),
        max_test_tokens=args.max_test_tokens,
        **_common(args),
    )
    front = distinct_front(study, max_test_tokens=args.max_test_tokens)
    failed = sum(t.state.name == "FAIL" for t in study.trials)
    if not any(t.state.name == "COMPLETE" for t in study.trials):
        from optimize.errors import FailedRowsError

        reasons = {t.user_attrs.get("failed_reason") for t in study.trials} - {None}
        raise FailedRowsError(f"no Budget of study {args.study!r} finished ({failed} failed; e.g. "
                              f"{next(iter(reasons), 'see the messages above')}); check the model specs and "
                              "--api-base, or raise --max-error-rate")
    print(f"study {args.study!r}: {len(study.trials)} trials ({failed} failed), "
          f"{len(front)} distinct budgets on the Pareto front")
    print("accuracy  test_tokens  cost/query  budget")
    for trial in front:
        budget = trial.user_attrs.get("budget", trial.params)
        print(f"{trial.values[0]:8.3f}  {trial.values[1]:11.1f}  {trial.values[2]:10.1f}  {budget}")
    parent = study.user_attrs.get("mlflow_parent_run_id")
    if parent and not args.no_mlflow:
        print(f"MLflow parent run {parent}; `sleeptime ui` to browse, `sleeptime report --from-run {parent}`")
    return 0


def sweep_command(args) -> int:
    from optimize.cli.flags import budget_from_args
    from optimize.experiments.sweep import run_sweep

    base = budget_from_args(args)
    configs = run_sweep(examples_from_flags(args), grid=args.grid, base=base, name=args.name, **_common(args))
    columns = ["label", "accuracy", "mean_test_tokens", "cost_per_query"]
    if len(configs) == 0:
        from optimize.errors import FailedRowsError

        raise FailedRowsError("every Budget of the sweep failed (see the messages above); check the model "
                              "specs and --api-base, or raise --max-error-rate")
    print(configs[columns].to_string(index=False, float_format="%.3f"))
    return 0


def report_command(args) -> int:
    from pathlib import Path

    import pandas as pd

    from optimize.experiments.study import SearchError
    from optimize.reports.figures import write_report
    from optimize.reports.tables import read_tables

    if args.from_run:
        from optimize.tracking.runs import Tracker

        try:
            results = Tracker(args.tracking_uri).download(args.from_run, "results")
        except Exception as exc:
            print(
                f"error: cannot read artifacts 'results/' of run {args.from_run}: {exc}; pass the parent run "
                "id printed by `sleeptime search`/`sweep`, or --results DIR",
                file=sys.stderr,
            )
            return 2
    else:
        results = Path(args.results)
    try:
        configs, examples = read_tables(results)
        paths = write_report(configs, examples, args.out)
    except (SearchError, pd.errors.EmptyDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, files in paths.items():
        if isinstance(files, dict):
            print(f"{name}: {files['png']}  {files['csv']}  {files['md']}")
    print(f"index: {paths['index']}")
    return 0


def ui_command(args) -> int:
    from optimize.experiments.runner import stop_on_signals
    from optimize.tracking.ui import UIError, start_ui

    # SIGTERM (a plain `kill`) stops the UI like Ctrl-C: the server's whole process group goes with it.
    with stop_on_signals():
        try:
            handle = start_ui(args.port, args.host, tracking_uri=args.tracking_uri)
        except UIError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"starting the MLflow UI at {handle.url} (log: {handle.log_path}); this can take a minute...",
              flush=True)
        try:
            handle.wait_ready()
            print(f"MLflow UI ready: {handle.url}   (Ctrl-C to stop)", flush=True)
            handle.process.wait()
            return handle.process.returncode or 0
        except UIError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            handle.stop()
