"""The paper's fixed grids: test verbosity 0..4 with and without sleep time, and sleep samples k in 1,2,5,10.

Each configuration is evaluated like a search trial (same evaluator, same child MLflow run, same result
files), under one parent run per sweep; the report's views read the same tables.

Example::

    from optimize.sweep import run_sweep
    configs = run_sweep(dev_examples, grid="k", name="k-sweep")
    print(configs[["sleep_samples", "accuracy", "cost_per_query"]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from optimize.search import (
    OBJECTIVES,
    SearchError,
    _TrialContext,
    budget_id,
    run_config,
    write_tables,
)
from optimize.tracking import Tracker, default_mlruns_dir

GRIDS = ("verbosity", "k", "all")
VERBOSITIES = (0, 1, 2, 3, 4)
SAMPLES = (1, 2, 5, 10)


def sweep_budgets(grid: str, base=None) -> list:
    """The Budgets of a grid; ``base`` supplies every field the grid does not vary (models, token caps)."""
    from programs.budget import Budget

    base = base or Budget()
    if grid == "verbosity":
        budgets = [base.replace(use_sleep=s, test_verbosity=v) for s in (True, False) for v in VERBOSITIES]
    elif grid == "k":
        # Same test budget throughout, so only sleep-time compute changes; one test-time-only reference.
        budgets = [base.replace(use_sleep=True, sleep_samples=k) for k in SAMPLES]
        budgets.append(base.replace(use_sleep=False))
    elif grid == "all":
        budgets = sweep_budgets("verbosity", base) + sweep_budgets("k", base)
    else:
        raise SearchError(f"unknown sweep grid {grid!r}; use one of {GRIDS}")
    unique, seen = [], set()
    for budget in budgets:
        if budget_id(budget) not in seen:
            seen.add(budget_id(budget))
            unique.append(budget)
    return unique


def run_sweep(
    dev_examples: Sequence,
    *,
    grid: str = "verbosity",
    base=None,
    budgets: Sequence | None = None,
    name: str | None = None,
    questions_per_context: float = 1.0,
    price_ratio: float = 10.0,
    store=None,
    ledger=None,
    tracker: Tracker | bool | None = None,
    split: str = "dev",
    evaluator: Callable | None = None,
    summarize: Callable | None = None,
    results_dir: Path | None = None,
    progress: bool = True,
):
    """Evaluate every Budget of ``grid`` (or the given ``budgets``); returns the configs table (also written
    to ``results_dir``)."""
    import pandas as pd
    from tqdm import tqdm

    from optimize.pareto import pareto_front
    from optimize.search import log_parent_results

    examples = list(dev_examples)
    if not examples:
        raise SearchError("the dev split is empty; check --data/--split (or --limit)")
    budgets = list(budgets) if budgets is not None else sweep_budgets(grid, base)
    name = name or f"sweep-{grid}"
    results_dir = Path(results_dir or default_mlruns_dir() / "results" / name)
    own_tracker = Tracker() if tracker is None else (tracker or None)
    tags = {"sleeptime.split": split, "sleeptime.sweep": name, "sleeptime.grid": grid}
    parent = None
    if own_tracker is not None:
        parent = own_tracker.start_parent(
            name,
            kind="sweep",
            tags=tags,
            resume_key=f"sweep:{name}",
            params={
                "grid": grid,
                "questions_per_context": questions_per_context,
                "price_ratio": price_ratio,
                "n_examples": len(examples),
                "split": split,
            },
        )
    ctx = _TrialContext(
        examples=examples,
        space=None,
        questions_per_context=questions_per_context,
        price_ratio=price_ratio,
        evaluator=evaluator,
        summarize=summarize,
        results_dir=results_dir,
        tracker=own_tracker,
        parent_run_id=parent,
        tags=tags,
        store=store,
        ledger=ledger,
    )
    rows, status = [], "FAILED"
    try:
        for index, budget in enumerate(tqdm(budgets, desc=name, disable=not progress)):
            summary, _, _ = run_config(budget, ctx, run_name=f"{name}-{index}")
            rows.append(
                {
                    "config_id": budget_id(budget),
                    "trial": index,
                    "source": "sweep",
                    **budget.to_dict(),
                    **summary,
                    "questions_per_context": questions_per_context,
                    "price_ratio": price_ratio,
                }
            )
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        configs = pd.DataFrame(rows)
        if len(configs):
            front = pareto_front(
                configs[[n for n, _ in OBJECTIVES]].to_numpy().tolist(), [d for _, d in OBJECTIVES]
            )
            configs["on_front"] = False
            configs.loc[configs.index[front], "on_front"] = True
        write_tables(configs, results_dir)
        if own_tracker is not None and parent is not None:
            try:
                log_parent_results(own_tracker, parent, results_dir)
            finally:
                own_tracker.finish(parent, status)
    return configs
