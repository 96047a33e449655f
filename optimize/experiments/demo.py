"""`sleeptime demo`: the whole pipeline, small, on the embedded local model.

1. sleep-time vs test-time-only on a handful of held-out contexts (every question of each context, so the
   learned context is amortized as in the paper's multi-query setting);
2. a short Optuna budget search on the dev split;
3. everything logged to MLflow (one parent run per step), a printed result table, the report figures and
   the command that opens the UI.

Re-running resumes: finished rows and trials are kept and learned contexts come from the store.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from optimize.experiments.runner import DEFAULT_MAX_ERROR_RATE
from programs.redact import redact

# Chosen by measurement on the dev split (BENCHMARKS.md, "The demo's defaults"; rows in
# docs/benchmarks/demo-defaults/): the 0.5B's own notes lose to test-time only, the 1.5B's notes read by the
# 0.5B carry the paper's effect at a third of the 1.5B-only test time, and verbosity 1 is the 0.5B's most
# accurate test-time-only budget (verbosity 3 makes it ramble into unparsable replies).
DEMO_SLEEP_MODEL = "local:qwen2.5-coder-1.5b"
DEMO_TEST_MODEL = "local:qwen2.5-coder-0.5b"
DEMO_BASELINE_VERBOSITY = 1


def demo_budgets(sleep_model: str, test_model: str | None = None) -> list:
    """Test-time only at verbosity 0 and at the verbosity that matched sleep time's accuracy on dev
    (DEMO_BASELINE_VERBOSITY), and sleep time (k=1) with a one-sentence answer."""
    from programs.budget import Budget

    base = Budget(sleep_model=sleep_model, test_model=test_model or sleep_model)
    return [base.replace(use_sleep=False, test_verbosity=0),
            base.replace(use_sleep=False, test_verbosity=DEMO_BASELINE_VERBOSITY),
            base.replace(use_sleep=True, test_verbosity=0)]


def display_table(table: Any) -> Any:
    """The comparison as a reader wants it (a DataFrame): short headers, accuracy with its interval, rounded
    numbers."""
    import pandas as pd

    def percent(value) -> str:
        return "-" if pd.isna(value) else f"{100 * value:.0f}%"

    out = pd.DataFrame({"configuration": table["label"]})
    intervals = zip(table["accuracy"], table["accuracy_ci_low"], table["accuracy_ci_high"], strict=True)
    out["accuracy"] = [f"{100 * a:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]" for a, lo, hi in intervals]
    out["test tok"] = table["mean_test_tokens"].map(lambda v: f"{v:.0f}")
    out["sleep tok"] = table["mean_sleep_tokens_amortized"].map(lambda v: f"{v:.0f}")
    out["cost"] = table["cost_per_query"].map(lambda v: f"{v:.0f}")
    out["test s"] = table["mean_test_seconds"].map(lambda v: f"{v:.1f}")
    if "truncation_rate" in table:
        out["cut off"] = table["truncation_rate"].map(percent)
    if "parse_failures" in table:
        out["unparsed"] = table["parse_failures"].map(lambda v: "-" if pd.isna(v) else str(int(v)))
    out["errors"] = table["errors"].astype(int)
    return out


def _label(row) -> str:
    phase = f"sleep k={int(row['sleep_samples'])} + test" if row["use_sleep"] else "test-time only"
    return f"{phase}, verbosity {int(row['test_verbosity'])}"


def run_demo(*, sleep_model: str = DEMO_SLEEP_MODEL, test_model: str = DEMO_TEST_MODEL, contexts: int = 5,
             search_contexts: int = 2, n_trials: int = 6, sampler_seed: int = 0,
             max_error_rate: float = DEFAULT_MAX_ERROR_RATE, name: str = "demo",
             out: str | Path = "reports/demo", track: bool = True, threads: int = 1,
             store: str | None = None, api_base: str | None = None,
             retries: int = 3) -> int:
    """The demo's three steps: a held-out comparison on ``contexts`` test contexts, an ``n_trials``-trial
    budget search on ``search_contexts`` dev contexts, and the report under ``out``; MLflow runs (named
    after ``name``) unless ``track`` is false. ``store`` defaults to the user cache's learned contexts."""
    from functools import partial

    import optuna
    import pandas as pd

    from optimize.data.loaders import load_examples
    from optimize.data.splits import spread_contexts
    from optimize.experiments.demo_eta import demo_work, expected_duration, probe_speed
    from optimize.experiments.runner import ExperimentError, evaluate_budget
    from optimize.experiments.search import SearchSpace, distinct_front, run_search
    from optimize.experiments.sweep import run_sweep
    from optimize.reports.analysis import plain_reading, with_cluster_intervals, with_failure_columns
    from optimize.reports.figures import write_report
    from optimize.tracking.runs import Tracker, default_mlruns_dir
    from programs.store import default_store_path, open_store

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress bars say enough
    started = time.perf_counter()
    models = (redact(sleep_model) if sleep_model == test_model
              else f"sleep {redact(sleep_model)}, test {redact(test_model)}")
    test = spread_contexts(load_examples("ours", split="test"), contexts)
    dev = spread_contexts(load_examples("ours", split="dev"), search_contexts)
    n_per_context = len(test) / max(1, len({e.context_id for e in test}))
    learned = open_store(store if store is not None else default_store_path())
    tracker = Tracker() if track else False
    common = dict(store=learned, tracker=tracker, price_ratio=10.0, max_error_rate=max_error_rate,
                  evaluator=partial(evaluate_budget, api_base=api_base, progress=True,
                                    num_threads=threads, lm_options={"num_retries": retries}))
    results = default_mlruns_dir() / "results"

    if not 0.0 <= max_error_rate <= 1.0:  # before the speed probe's first call, like every flag
        raise ExperimentError(f"--max-error-rate must be in 0..1, got {max_error_rate}")
    speeds = {"test": probe_speed(test_model, api_base=api_base)}
    speeds["sleep"] = (speeds["test"] if sleep_model == test_model
                       else probe_speed(sleep_model, api_base=api_base))
    contexts_of = lambda examples: len({e.context_id for e in examples})  # noqa: E731
    print(expected_duration(speeds, demo_work(len(test), contexts_of(test), len(dev), contexts_of(dev),
                                              n_trials)), flush=True)
    print(f"[1/3] sleep-time vs test-time-only on {len(test)} held-out questions "
          f"({contexts} contexts, model {models})", flush=True)
    budgets = demo_budgets(sleep_model, test_model)
    comparison = run_sweep(test, budgets=budgets, name=f"{name}-comparison",
                           questions_per_context=n_per_context, split="test",
                           description="Demo, step 1: sleep-time compute against test-time-only answering "
                           f"on {len(test)} held-out questions ({contexts} contexts, every question of "
                           "each context, so a learned context is amortized over its questions).",
                           results_dir=results / f"{name}-comparison", **common)

    print(f"[2/3] budget search: {n_trials} Optuna trials on {len(dev)} dev questions", flush=True)
    space = SearchSpace(use_sleep=(True, False), test_verbosity=(0, 1, 3), test_max_tokens=(96, 256),
                        sleep_samples=(1, 2), sleep_rounds=(0,), sleep_max_tokens=(384,),
                        sleep_model=(sleep_model,), test_model=(test_model,))
    study = run_search(dev, n_trials=n_trials, study_name=f"{name}-search", space=space,
                       questions_per_context=n_per_context, split="dev", seed=sampler_seed,
                       description="Demo, step 2: a short Optuna search over how compute is split between "
                       f"sleep time and test time, on {len(dev)} dev questions.",
                       results_dir=results / f"{name}-search", **common)

    print("[3/3] report", flush=True)
    # Only the held-out comparison goes into these figures: search trials answer other (dev) questions,
    # and their own Pareto front is logged with the search's parent run.
    examples_path = results / f"{name}-comparison" / "examples.csv"
    examples = pd.read_csv(examples_path) if examples_path.exists() else pd.DataFrame()
    # One interval everywhere: the CSV and figures get the context-clustered bootstrap the table prints.
    frames = ({str(c): rows for c, rows in examples.groupby("config_id")} if "config_id" in examples else {})
    if frames:
        comparison = with_cluster_intervals(comparison.assign(config_id=comparison["config_id"].astype(str)),
                                            frames)
    paths = write_report(comparison, examples, Path(out))
    comparison.to_csv(Path(out) / "comparison-configs.csv", index=False)
    paths["comparison-configs"] = Path(out) / "comparison-configs.csv"
    if len(examples):  # the per-question rows behind every number printed, without the questions' text
        rows_path = Path(out) / "rows.csv"
        examples.drop(columns=[c for c in ("question", "context") if c in examples]).to_csv(rows_path,
                                                                                           index=False)
        paths["rows"] = rows_path

    table = comparison.copy()
    table["label"] = table.apply(_label, axis=1)
    if frames:
        table = with_failure_columns(table, frames)
    print(textwrap.fill(
        "\nHeld-out comparison. accuracy: % with its 95% interval (a bootstrap over contexts); test tok: "
        "generated test-time tokens per question; sleep tok: sleep-time tokens per question, amortized "
        f"over N = {n_per_context:.1f} questions per context; cost: test tokens x t (= 10) + sleep tokens "
        "per question; cut off: share of replies that hit the token cap.", width=110,
        replace_whitespace=False))
    print(display_table(table).to_string(index=False))
    print("\n" + textwrap.fill(plain_reading(comparison, examples), width=110))
    front = distinct_front(study)
    repeats = sum("duplicate_of" in t.user_attrs for t in study.trials)
    skipped = f" ({repeats} repeated suggestions skipped)" if repeats else ""
    print(f"\nBudget search: {len(study.trials) - repeats} budgets evaluated{skipped}, {len(front)} distinct "
          "budgets on the Pareto front (accuracy, test tokens, cost/query):")
    for trial in front:
        label = trial.user_attrs.get("label") or redact(trial.user_attrs.get("budget", trial.params))
        cap = (trial.user_attrs.get("budget") or {}).get("test_max_tokens")
        print(f"  {trial.values[0]:.2f}  {trial.values[1]:7.1f}  {trial.values[2]:8.1f}  {label}"
              + (f", cap {cap} tokens" if cap else ""))
    print("\nFigures and tables:")
    for kind, files in sorted(paths.items()):
        print(f"  {kind}: {files['png'] if isinstance(files, dict) else files}")
    if track:
        print("\nBrowse every run:  python -m optimize ui   (then open http://127.0.0.1:5000)")
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0
