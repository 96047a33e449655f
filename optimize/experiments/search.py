"""Budget search: an Optuna multi-objective study over how compute is split between sleep time and test time.

Each trial reads like the experiment it runs: suggest a Budget, evaluate it with the experiment runner
(:class:`optimize.experiments.runner.Experiment`: program, evaluation on the dev split, a child MLflow run),
and return the three objectives

    accuracy (maximize), mean test-time tokens (minimize), amortized cost per query (minimize)

where cost per query = price_ratio * mean_test_tokens + sleep_tokens_per_context / questions_per_context.
A trial whose error rate is above ``max_error_rate`` FAILs (never COMPLETE, never on the front); a Budget
already evaluated in the study is not evaluated again (that trial is PRUNED with ``duplicate_of`` naming
the trial that holds its values) and does not count as one of the ``n_trials``.

Example::

    from optimize.experiments.search import run_search, SearchSpace
    study = run_search(dev_examples, n_trials=20, storage="sqlite:///mlruns/optuna.db",
                       study_name="qwen-0.5b", seed=0, space=SearchSpace(test_verbosity=(0, 2, 4)))
    for trial in study.best_trials:          # the Pareto front
        print(trial.user_attrs["budget"], trial.values)
"""

from __future__ import annotations

import math
import os
import random
import socket
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from optimize.experiments.runner import (
    DEFAULT_MAX_ERROR_RATE,
    SLEEP_FIELDS,
    SUMMARY_METRICS,
    Evaluator,
    Experiment,
    TrialFailed,
    budget_id,
    objective_values,
    run_label,
    safe_budget_dict,
    stop_on_signals,
)
from optimize.experiments.study import (
    SearchError,
    close_dead_runs,
    default_storage_url,
    is_shared_server,
    open_study,
    question_set,
    recover_interrupted_trials,
    requeue_trial,
)
from optimize.reports.tables import OBJECTIVES, configs_table
from optimize.tracking.runs import Tracker, default_mlruns_dir
from programs.budget import knobs_ignored, reading_strategy
from programs.redact import redact


# -- the search space ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchSpace:
    """The Budget values a search may try; a dimension with one value is fixed, not searched.

    Sleep-time dimensions are only suggested for trials that use sleep time.

    Example::

        >>> space = SearchSpace(use_sleep=(True,), sleep_samples=(1, 5), test_verbosity=(0,),
        ...                     test_max_tokens=(256,), sleep_rounds=(0,), sleep_max_tokens=(512,))
        >>> space.validate().searched()
        ['sleep_samples']
    """

    use_sleep: tuple[bool, ...] = (True, False)
    test_verbosity: tuple[int, ...] = (0, 1, 2, 3, 4)
    test_max_tokens: tuple[int, ...] = (128, 256, 512)
    sleep_samples: tuple[int, ...] = (1, 2, 5, 10)
    sleep_rounds: tuple[int, ...] = (0, 1, 2)
    sleep_max_tokens: tuple[int, ...] = (256, 512, 1024)
    sleep_model: tuple[str, ...] = ("local:qwen2.5-coder-0.5b",)
    sleep_strategy: tuple[str, ...] = ("notes",)
    sleep_questions: tuple[int, ...] = (8,)
    sleep_verbosity: tuple[int, ...] = (3,)
    sleep_combine: tuple[str, ...] = ("agree",)
    test_model: tuple[str, ...] = ("local:qwen2.5-coder-0.5b",)
    test_strategy: tuple[str, ...] = ("answer",)
    compiled: tuple[str | None, ...] = (None,)

    def dimensions(self) -> dict[str, tuple]:
        return {name: tuple(values) for name, values in asdict(self).items()}

    def searched(self) -> list[str]:
        return [name for name, values in self.dimensions().items() if len(values) > 1]

    def validate(self) -> SearchSpace:
        """Raise :class:`SearchError` for an empty, out-of-range or contradictory space; return self."""
        from programs.budget import Budget, BudgetError

        dims = self.dimensions()
        for name, values in dims.items():
            if len(values) == 0:
                raise SearchError(
                    f"search space dimension {name!r} is empty; give it at least one value "
                    f"(e.g. --{name.replace('_', '-')} {Budget().to_dict()[name]})"
                )
            if len(set(values)) != len(values):
                raise SearchError(
                    f"search space dimension {name!r} repeats a value: {list(values)}; list each value once"
                )
            for value in values:
                try:
                    Budget(**{name: value, **reading_strategy(name)})
                except BudgetError as exc:
                    raise SearchError(f"search space value {name}={value!r} is invalid: {exc}") from exc
        if dims["use_sleep"] == (False,):
            varied = [n for n in SLEEP_FIELDS if len(dims[n]) > 1]
            if varied:
                raise SearchError(
                    f"contradictory search space: sleep time is off (use_sleep=False only) but sleep-time "
                    f"dimension(s) {varied} have several values that no trial could use; allow sleep time "
                    "(--sleep both) or give those dimensions a single value"
                )
        for path in dims["compiled"]:
            if path is not None and not Path(path).exists():
                raise SearchError(
                    f"compiled program {path!r} does not exist; run `sleeptime compile` first "
                    "or drop it from --compiled"
                )
        return self

    def labels(self, name: str) -> dict[Any, Any]:
        """What Optuna stores for each value of a dimension: the value, with credentials redacted.

        Model specs may carry a password in their URL; the study database only ever sees the redacted
        label, and :meth:`suggest` maps it back to the real value held in memory.
        """
        labels: dict[Any, Any] = {}
        for index, value in enumerate(self.dimensions()[name]):
            label = redact(value) if isinstance(value, str) else value
            labels[f"{label} #{index}" if label in labels else label] = value
        return labels

    def budget_ids(self, limit: int = 20000) -> set[str] | None:
        """The :func:`budget_id` of every Budget in the space (None for a space larger than ``limit``)."""
        import itertools

        from programs.budget import Budget

        dims = self.dimensions()
        test_names = ("test_verbosity", "test_max_tokens", "test_model", "test_strategy", "compiled")
        test, sleep = [dims[n] for n in test_names], [dims[n] for n in SLEEP_FIELDS]
        size = math.prod(len(v) for v in test) * sum(
            math.prod(len(v) for v in sleep) if on else 1 for on in dims["use_sleep"])
        if size > limit:
            return None
        ids = set()
        for on in dims["use_sleep"]:
            for values in itertools.product(*test, *(sleep if on else [])):
                names = (*test_names, *(SLEEP_FIELDS if on else ()))
                fields = dict(zip(names, values, strict=True))
                if on:  # a knob its strategy ignores is never suggested: the Budget keeps its default
                    ignored = knobs_ignored(fields["sleep_strategy"])
                    fields = {k: v for k, v in fields.items() if k not in ignored}
                ids.add(budget_id(Budget.from_dict({"use_sleep": on, **fields})))
        return ids

    def described(self) -> dict[str, list]:
        """The space as it may be written anywhere (labels, no credentials)."""
        return {name: list(self.labels(name)) for name in self.dimensions()}

    def suggest(self, trial) -> dict[str, Any]:
        """Ask ``trial`` for one Budget's fields (as a dict)."""

        def pick(name: str):
            labels = self.labels(name)
            if len(labels) == 1:
                return next(iter(labels.values()))
            return labels[trial.suggest_categorical(name, list(labels))]

        params = {"use_sleep": pick("use_sleep")}
        for name in ("test_verbosity", "test_max_tokens", "test_model", "test_strategy", "compiled"):
            params[name] = pick(name)
        if params["use_sleep"]:
            params["sleep_strategy"] = pick("sleep_strategy")
            ignored = knobs_ignored(params["sleep_strategy"])  # not asked: they would only repeat a Budget
            for name in SLEEP_FIELDS:
                if name != "sleep_strategy" and name not in ignored:
                    params[name] = pick(name)
        return params


# -- the search ---------------------------------------------------------------------------------------------
@dataclass
class _Objective:
    """One trial: suggest a Budget, evaluate it (a Budget already in the study is pruned), record it."""

    experiment: Experiment
    space: SearchSpace
    max_test_tokens: float | None = None
    evaluated: int = 0

    def __call__(self, trial) -> tuple[float, ...]:
        from programs.budget import Budget

        trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
        budget = Budget.from_dict(self.space.suggest(trial))
        config_id = budget_id(budget)
        trial.set_user_attr("budget", safe_budget_dict(budget))
        trial.set_user_attr("config_id", config_id)
        trial.set_user_attr("label", redact(run_label(budget)))
        done = _evaluated_trial(trial.study, config_id, trial.number)
        if done is not None:
            # Already measured: no second evaluation, not one of the user's trials. PRUNED, not COMPLETE,
            # so a Budget is one point of the front; its values stay on the trial it duplicates.
            import optuna

            trial.set_user_attr("duplicate_of", done.number)
            raise optuna.TrialPruned(f"Budget already evaluated by trial {done.number}")
        self.evaluated += 1
        try:
            result = self.experiment.run(
                budget,
                run_name=f"#{trial.number} {run_label(budget)}",
                tags={"sleeptime.trial": str(trial.number)},
                on_start=lambda run_id: trial.set_user_attr("mlflow_run_id", run_id),
            )
        except TrialFailed as exc:
            # FAIL, never COMPLETE: Optuna fails a trial whose objectives are NaN. Said in one line here,
            # instead of the traceback Optuna prints for an exception.
            from tqdm.auto import tqdm

            trial.set_user_attr("failed_reason", redact(str(exc))[:1000])
            tqdm.write(f"trial {trial.number} failed: {redact(str(exc))[:500]}", file=sys.stderr)
            return (math.nan,) * len(OBJECTIVES)
        except KeyboardInterrupt:
            # Optuna marks this trial FAIL; queue its parameters so the resumed study runs them first.
            requeue_trial(trial.study, trial)
            trial.set_user_attr("requeued", True)
            raise
        trial.set_user_attr("summary", {k: result.summary.get(k) for k in SUMMARY_METRICS})
        values = objective_values(result.summary)
        if self.max_test_tokens is not None:
            # Read by the sampler's constraints_func (it sees the trial before its values are stored).
            trial.set_user_attr("constraint", [values[1] - float(self.max_test_tokens)])
        return values


def _evaluated_ids(study) -> set[str]:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return {t.user_attrs.get("config_id") for t in complete}


def _evaluated_trial(study, config_id: str, number: int):
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.number != number and trial.user_attrs.get("config_id") == config_id:
            return trial
    return None


def make_sampler(name: str, seed: int | None, *, population_size: int = 20, constraints_func=None):
    """``tpe`` (multi-objective TPE), ``nsga2`` or ``random``, seeded; constraints where supported."""
    import optuna

    with warnings.catch_warnings():  # constraints_func is marked experimental
        warnings.simplefilter("ignore")
        if name == "tpe":
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=True, n_startup_trials=8, constraints_func=constraints_func
            )
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(
                seed=seed, population_size=population_size, constraints_func=constraints_func
            )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SearchError(f"unknown sampler {name!r}; use 'tpe', 'nsga2' or 'random'")


def token_ceiling(max_test_tokens: float) -> Callable:
    """An Optuna ``constraints_func``: feasible when mean test tokens are at most ``max_test_tokens``."""

    def constraints(trial) -> tuple[float, ...]:
        return tuple(trial.user_attrs.get("constraint", [float("inf")]))

    return constraints


def _feasible(trial, max_test_tokens: float | None) -> bool:
    return max_test_tokens is None or (bool(trial.values) and trial.values[1] <= max_test_tokens)


def run_search(
    dev_examples: Sequence,
    *,
    n_trials: int,
    storage: str | None = None,
    study_name: str = "sleeptime",
    seed: int | None = 0,
    questions_per_context: float = 1.0,
    price_ratio: float = 10.0,
    space: SearchSpace | None = None,
    sampler: str = "tpe",
    n_jobs: int = 1,
    store=None,
    ledger=None,
    tracker: Tracker | bool | None = None,
    split: str = "dev",
    evaluator: Evaluator | None = None,
    summarize: Callable | None = None,
    results_dir: Path | None = None,
    heartbeat_interval: int = 10,
    grace_period: int | None = None,
    progress: bool = True,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    max_test_tokens: float | None = None,
    description: str = "",
):
    """Run (or resume, or join) a budget study and return it; ``study.best_trials`` is the Pareto front.

    ``tracker=None`` logs to the default MLflow store, ``tracker=False`` logs nothing. ``evaluator`` defaults
    to the real program + :func:`optimize.experiments.evaluate.evaluate`; tests inject a deterministic one.
    SIGINT and SIGTERM stop the search alike: the running trial is re-queued, its child run KILLED.
    ``max_test_tokens`` makes trials above that many test tokens per question infeasible.
    """
    import optuna

    if n_trials < 1:
        raise SearchError(f"--n-trials must be at least 1, got {n_trials}")
    if questions_per_context <= 0 or price_ratio <= 0:
        raise SearchError(
            f"questions per context ({questions_per_context}) and price ratio ({price_ratio}) "
            "must be positive"
        )
    if max_test_tokens is not None and max_test_tokens <= 0:
        raise SearchError(f"--max-test-tokens must be positive, got {max_test_tokens}")
    examples = list(dev_examples)
    if not examples:
        raise SearchError("the dev split is empty; check --data/--split (or --n) so trials have examples")
    space = (space or SearchSpace()).validate()
    storage_url = storage or default_storage_url()
    probe = open_study(
        storage_url,
        study_name,
        questions_per_context=questions_per_context,
        price_ratio=price_ratio,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        questions=question_set(examples),
    )
    recovered = recover_interrupted_trials(probe, stale_after=float(grace_period or 3 * heartbeat_interval))
    if recovered and progress:
        print(f"re-queued trial(s) {recovered} left running by a stopped worker")
    # Seeded and reproducible for a fresh single-process study; a resumed study or a worker of a shared
    # server study gets its own stream so it does not replay the first worker's suggestions.
    effective_seed = None if seed is None else seed + len(probe.trials)
    if seed is not None and is_shared_server(probe._storage):
        effective_seed = random.Random(
            f"{seed}-{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        ).randrange(2**31)
    constraints = token_ceiling(max_test_tokens) if max_test_tokens is not None else None
    study = optuna.load_study(
        study_name=study_name,
        storage=probe._storage,
        sampler=make_sampler(sampler, effective_seed, constraints_func=constraints),
    )
    study.set_user_attr("space", space.described())

    safe_storage = redact(storage_url)
    experiment = Experiment(
        examples,
        name=f"search-{study_name}",
        kind="search",
        split=split,
        questions_per_context=questions_per_context,
        price_ratio=price_ratio,
        store=store,
        ledger=ledger,
        tracker=tracker,
        evaluator=evaluator,
        summarize=summarize,
        results_dir=Path(results_dir or default_mlruns_dir() / "results" / study_name),
        max_error_rate=max_error_rate,
        description=description,
        params={"sampler": sampler, "seed": seed, "max_test_tokens": max_test_tokens},
        tags={"sleeptime.study": study_name, "sleeptime.storage": safe_storage},
        resume_key=f"search {study_name} in {safe_storage}",  # no user:pw@host shape: redact keeps it
        shared=True,  # workers of one study share the parent; their dead runs are found via the study
        space=space.described(),
        progress=progress,
    )
    experiment.open()
    if experiment.tracker is not None:
        study.set_user_attr("mlflow_parent_run_id", experiment.parent_run_id)
        close_dead_runs(study, experiment.tracker)
    objective = _Objective(experiment, space, max_test_tokens)
    status = "FAILED"
    try:
        with stop_on_signals() as stop:
            try:
                # Budgets already in the study are not evaluated again and do not count: top up until
                # n_trials were evaluated, with a bound for a space that has nothing new left.
                attempts, space_ids = 0, space.budget_ids()
                while objective.evaluated < n_trials and attempts < 10 * n_trials + 50:
                    if space_ids is not None and space_ids <= _evaluated_ids(study):
                        if progress:
                            print(f"every Budget of the search space is in study {study_name!r} already")
                        break
                    remaining = n_trials - objective.evaluated
                    attempts += remaining
                    study.optimize(
                        objective,
                        n_trials=remaining,
                        n_jobs=n_jobs,
                        catch=(),
                        show_progress_bar=progress,
                        gc_after_trial=False,
                    )
            except KeyboardInterrupt:
                print(
                    f"search {study_name!r} stopped by {stop.get('signal', 'SIGINT')}: finished trials are "
                    "kept and the interrupted one is re-queued; run the same command to resume",
                    file=sys.stderr,
                )
                raise
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        configs = study_configs(
            study,
            questions_per_context=questions_per_context,
            price_ratio=price_ratio,
            max_test_tokens=max_test_tokens,
        )
        experiment.close(configs, status=status)
    return study


# -- results ------------------------------------------------------------------------------------------------
def distinct_front(study, *, max_test_tokens: float | None = None) -> list:
    """The Pareto-front trials, most accurate first, one per distinct Budget.

    Samplers may propose the same Budget twice; both trials are on the front but they are one point.
    """
    front = sorted(
        (t for t in study.best_trials if _feasible(t, max_test_tokens)), key=lambda t: -t.values[0]
    )
    return list({str(t.user_attrs.get("budget", t.params)): t for t in front}.values())


def study_configs(study, *, questions_per_context: float, price_ratio: float,
                  max_test_tokens: float | None = None):
    """One row per COMPLETE trial that evaluated a Budget (and fits the token ceiling), front marked."""
    from optuna.trial import TrialState

    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "duplicate_of" in trial.user_attrs or not _feasible(trial, max_test_tokens):
            continue
        budget = trial.user_attrs.get("budget", {})
        row = {
            "config_id": trial.user_attrs.get("config_id"),
            "trial": trial.number,
            "source": "search",
            "label": _label_of(budget),
            **budget,
            **trial.user_attrs.get("summary", {}),
            "questions_per_context": questions_per_context,
            "price_ratio": price_ratio,
        }
        for (name, _), value in zip(OBJECTIVES, trial.values, strict=True):
            row[name] = value
        rows.append(row)
    return configs_table(rows)


def _label_of(budget: dict) -> str:
    from programs.budget import Budget

    try:
        return run_label(Budget.from_dict(budget))
    except (ValueError, TypeError):
        return str(budget)
