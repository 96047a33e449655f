"""The paper's fixed grids: test verbosity 0..4 with and without sleep time, and sleep samples k in 1,2,5,10.

Each configuration is evaluated like a search trial (same evaluator, same child MLflow run, same result
files), under one parent run per sweep; the report's views read the same tables.

Example::

    from optimize.experiments.sweep import run_sweep
    configs = run_sweep(dev_examples, grid="k", name="k-sweep")
    print(configs[["sleep_samples", "accuracy", "cost_per_query"]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from optimize.experiments.runner import DEFAULT_MAX_ERROR_RATE, Experiment, budget_id, stop_on_signals
from optimize.experiments.study import SearchError
from optimize.tracking.runs import Tracker

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
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    description: str = "",
):
    """Evaluate every Budget of ``grid`` (or the given ``budgets``); returns the configs table (also written
    to ``results_dir``). A Budget whose rows fail too often is reported and left out of the table."""
    examples = list(dev_examples)
    if not examples:
        raise SearchError("the split is empty; check --data/--split (or --n)")
    budgets = list(budgets) if budgets is not None else sweep_budgets(grid, base)
    name = name or f"sweep-{grid}"
    experiment = Experiment(
        examples,
        name=name,
        kind="sweep",
        split=split,
        questions_per_context=questions_per_context,
        price_ratio=price_ratio,
        store=store,
        ledger=ledger,
        tracker=tracker,
        evaluator=evaluator,
        summarize=summarize,
        results_dir=results_dir,
        max_error_rate=max_error_rate,
        description=description,
        params={"grid": grid},
        tags={"sleeptime.sweep": name, "sleeptime.grid": grid},
        resume_key=f"sweep:{name}",
        space={"budgets": [b.to_dict() for b in budgets]},
        progress=progress,
    )
    with stop_on_signals(), experiment:
        return experiment.run_all(budgets)
