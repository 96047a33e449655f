"""``sleeptime search | sweep | report | ui``: budget search, fixed grids, figures, and the MLflow UI.

Examples::

    sleeptime search --n-trials 30 --study qwen05 --questions-per-context 5 --price-ratio 10
    sleeptime search --storage postgresql://user:pw@db:5432/studies --study shared --n-trials 10  # per worker
    sleeptime sweep --grid verbosity
    sleeptime report --results mlruns/results/qwen05 --out reports/
    sleeptime ui --port 5050
"""

from __future__ import annotations

import argparse
import sys


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 0,2,4, got {text!r}"
        ) from exc


def _strs(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", default="ours", help="dataset name or JSONL path (default: ours)")
    group.add_argument("--split", default="dev", help="split evaluated by every trial (default: dev)")
    group.add_argument("--limit", type=int, default=None, help="use only the first N examples of the split")
    group.add_argument("--data-seed", type=int, default=0, help="seed of the template split (default 0)")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("objectives and evaluation")
    group.add_argument(
        "--questions-per-context",
        "-N",
        type=float,
        default=1.0,
        help="questions asked per context, amortizing sleep time (paper default 1)",
    )
    group.add_argument(
        "--price-ratio",
        "-t",
        type=float,
        default=10.0,
        help="price of a test-time token in sleep-time tokens (paper default 10)",
    )
    group.add_argument(
        "--store",
        default=None,
        help="learned-context store (SQLite path; ':memory:' for none); default: user cache",
    )
    group.add_argument("--api-base", default=None, help="OpenAI-compatible endpoint for openai/ model specs")
    group.add_argument("--num-threads", type=int, default=1, help="evaluation threads per trial")
    group.add_argument(
        "--results-dir", default=None, help="where result tables go (default mlruns/results/NAME)"
    )
    group.add_argument(
        "--tracking-uri", default=None, help="MLflow store (default sqlite:///mlruns/mlflow.db)"
    )
    group.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")


def register(subparsers) -> None:
    from optimize.search import SearchSpace

    defaults = SearchSpace()
    search = subparsers.add_parser(
        "search",
        help="multi-objective Optuna search over the Budget space",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(search)
    _add_run_options(search)
    study = search.add_argument_group("study")
    study.add_argument("--n-trials", type=int, default=20, help="trials this worker runs (default 20)")
    study.add_argument(
        "--storage",
        default=None,
        help="sqlite:///PATH (default mlruns/optuna.db), postgresql://..., mysql://... or "
        "journal:PATH; workers on several machines share a study via a database server",
    )
    study.add_argument("--study", default="sleeptime", help="study name (resumed if it exists)")
    study.add_argument("--seed", type=int, default=0)
    study.add_argument("--sampler", choices=("tpe", "nsga2", "random"), default="tpe")
    study.add_argument("--jobs", type=int, default=1, help="trials evaluated in parallel threads")
    space = search.add_argument_group("search space (comma-separated values)")
    space.add_argument(
        "--sleep",
        choices=("both", "on", "off"),
        default="both",
        help="search with and without sleep time, or only one of them",
    )
    space.add_argument("--verbosity", type=_ints, default=defaults.test_verbosity)
    space.add_argument("--test-max-tokens", type=_ints, default=defaults.test_max_tokens)
    space.add_argument(
        "--k", type=_ints, default=None, help=f"sleep samples (default {defaults.sleep_samples})"
    )
    space.add_argument(
        "--rounds", type=_ints, default=None, help=f"rethink rounds (default {defaults.sleep_rounds})"
    )
    space.add_argument(
        "--sleep-max-tokens", type=_ints, default=None, help=f"default {defaults.sleep_max_tokens}"
    )
    space.add_argument("--models", type=_strs, default=None, help="model specs searched for both phases")
    space.add_argument("--sleep-models", type=_strs, default=None)
    space.add_argument("--test-models", type=_strs, default=None)
    space.add_argument(
        "--compiled",
        type=_strs,
        default=None,
        help="compiled program directories to choose from ('none' = uncompiled prompts)",
    )
    search.set_defaults(func=search_command)

    sweep = subparsers.add_parser(
        "sweep", help="the paper's fixed grids (verbosity 0..4 +/- sleep; k in 1,2,5,10)"
    )
    _add_data_options(sweep)
    _add_run_options(sweep)
    sweep.add_argument("--grid", choices=("verbosity", "k", "all"), default="verbosity")
    sweep.add_argument("--name", default=None, help="sweep name (default sweep-GRID)")
    sweep.add_argument("--test-verbosity", type=int, default=0, help="fixed test verbosity of the k grid")
    sweep.add_argument("--test-max-tokens", type=int, default=256)
    sweep.add_argument("--rounds", type=int, default=0)
    sweep.add_argument("--sleep-max-tokens", type=int, default=512)
    sweep.add_argument("--sleep-model", default=None)
    sweep.add_argument("--test-model", default=None)
    sweep.add_argument("--compiled-program", default=None, help="compiled program directory")
    sweep.set_defaults(func=sweep_command)

    report = subparsers.add_parser("report", help="figures and tables of a search or sweep")
    source = report.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-run", metavar="RUN_ID", help="parent MLflow run of a search or sweep")
    source.add_argument("--results", metavar="DIR", help="results directory containing configs.csv")
    report.add_argument("--out", default="reports", help="output directory (default reports/)")
    report.add_argument("--tracking-uri", default=None)
    report.set_defaults(func=report_command)

    ui = subparsers.add_parser("ui", help="open the MLflow UI on this project's store (loopback)")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--tracking-uri", default=None)
    ui.set_defaults(func=ui_command)


# -- handlers -----------------------------------------------------------------------------------------------
def _examples(args) -> list:
    from optimize.data.loaders import load_examples

    return load_examples(args.data, split=args.split, limit=args.limit, seed=args.data_seed)


def _common(args) -> dict:
    from functools import partial
    from pathlib import Path

    from optimize.search import evaluate_budget
    from optimize.tracking import Tracker
    from programs.store import default_store_path, open_store

    store = open_store(args.store if args.store is not None else default_store_path())
    return {
        "questions_per_context": args.questions_per_context,
        "price_ratio": args.price_ratio,
        "store": store,
        "split": args.split,
        "tracker": False if args.no_mlflow else Tracker(args.tracking_uri),
        "evaluator": partial(
            evaluate_budget, api_base=args.api_base, num_threads=args.num_threads, progress=False
        ),
        "results_dir": Path(args.results_dir) if args.results_dir else None,
    }


def _space(args):
    from optimize.search import SearchSpace

    defaults = SearchSpace()
    use_sleep = {"both": (True, False), "on": (True,), "off": (False,)}[args.sleep]

    def sleep_dim(given, default):
        # With sleep time off, unspecified sleep dimensions collapse to one value instead of contradicting.
        if given is not None:
            return given
        return default[:1] if args.sleep == "off" else default

    sleep_models = args.sleep_models or args.models or defaults.sleep_model
    compiled = (
        None if args.compiled is None else tuple(None if c.lower() == "none" else c for c in args.compiled)
    )
    return SearchSpace(
        use_sleep=use_sleep,
        test_verbosity=args.verbosity,
        test_max_tokens=args.test_max_tokens,
        sleep_samples=sleep_dim(args.k, defaults.sleep_samples),
        sleep_rounds=sleep_dim(args.rounds, defaults.sleep_rounds),
        sleep_max_tokens=sleep_dim(args.sleep_max_tokens, defaults.sleep_max_tokens),
        sleep_model=sleep_dim(args.sleep_models or args.models, defaults.sleep_model)
        if args.sleep == "off"
        else sleep_models,
        test_model=args.test_models or args.models or defaults.test_model,
        compiled=compiled or defaults.compiled,
    )


def search_command(args) -> int:
    from optimize.search import SearchError, distinct_front, run_search

    try:
        space = _space(args).validate()
        study = run_search(
            _examples(args),
            n_trials=args.n_trials,
            storage=args.storage,
            study_name=args.study,
            seed=args.seed,
            sampler=args.sampler,
            n_jobs=args.jobs,
            space=space,
            **_common(args),
        )
    except SearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    front = distinct_front(study)
    print(f"study {args.study!r}: {len(study.trials)} trials, "
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
    from optimize.search import SearchError
    from optimize.sweep import run_sweep
    from programs.budget import Budget, BudgetError

    try:
        base = Budget().replace(
            test_verbosity=args.test_verbosity,
            test_max_tokens=args.test_max_tokens,
            sleep_rounds=args.rounds,
            sleep_max_tokens=args.sleep_max_tokens,
            compiled=args.compiled_program,
            **({"sleep_model": args.sleep_model} if args.sleep_model else {}),
            **({"test_model": args.test_model} if args.test_model else {}),
        )
        configs = run_sweep(_examples(args), grid=args.grid, base=base, name=args.name, **_common(args))
    except (SearchError, BudgetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    columns = [
        "use_sleep",
        "test_verbosity",
        "sleep_samples",
        "accuracy",
        "mean_test_tokens",
        "cost_per_query",
    ]
    print(configs[columns].to_string(index=False))
    return 0


def report_command(args) -> int:
    from pathlib import Path

    import pandas as pd

    from optimize.report import write_report
    from optimize.search import SearchError

    if args.from_run:
        from optimize.tracking import Tracker

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
    configs_path = results / "configs.csv"
    if not configs_path.exists():
        print(
            f"error: {configs_path} not found; --results must be a search/sweep results directory",
            file=sys.stderr,
        )
        return 2
    examples_path = results / "examples.csv"
    try:
        configs = pd.read_csv(configs_path)
        examples = pd.read_csv(examples_path) if examples_path.exists() else pd.DataFrame()
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
    from optimize.ui import UIError, start_ui

    try:
        handle = start_ui(args.port, args.host, tracking_uri=args.tracking_uri)
    except UIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"starting the MLflow UI at {handle.url} (log: {handle.log_path}); this can take a minute...")
    try:
        handle.wait_ready()
        print(f"MLflow UI ready: {handle.url}   (Ctrl-C to stop)")
        handle.process.wait()
        return handle.process.returncode or 0
    except UIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        handle.stop()
