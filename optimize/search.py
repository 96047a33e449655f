"""Budget search: an Optuna multi-objective study over how compute is split between sleep time and test time.

Each trial reads like the experiment it runs: suggest a Budget, build the program for it, evaluate it on the
dev split, summarize, log a child MLflow run, and return the three objectives

    accuracy (maximize), mean test-time tokens (minimize), amortized cost per query (minimize)

where cost per query = price_ratio * mean_test_tokens + sleep_tokens_per_context / questions_per_context.

Example::

    from optimize.search import run_search, SearchSpace
    study = run_search(dev_examples, n_trials=20, storage="sqlite:///mlruns/optuna.db",
                       study_name="qwen-0.5b", seed=0, space=SearchSpace(test_verbosity=(0, 2, 4)))
    for trial in study.best_trials:          # the Pareto front
        print(trial.user_attrs["budget"], trial.values)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from optimize.tracking import Tracker, default_mlruns_dir, redact_url

OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("accuracy", "maximize"),
    ("mean_test_tokens", "minimize"),
    ("cost_per_query", "minimize"),
)
SUMMARY_METRICS = (
    "n",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "mean_test_tokens",
    "mean_sleep_tokens_amortized",
    "sleep_tokens_per_context",
    "cost_per_query",
    "errors",
    "mean_test_seconds",
)
RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
SLEEP_FIELDS = ("sleep_samples", "sleep_rounds", "sleep_max_tokens", "sleep_model")

Evaluator = Callable[..., Any]  # (budget, examples, *, results_path, store, ledger) -> pd.DataFrame


class SearchError(ValueError):
    """Bad search input (space, study, data): the message names the problem and the fix."""


class StorageError(SearchError):
    """The study storage URL is unknown, unreachable or misconfigured."""


def default_storage_url() -> str:
    return f"sqlite:///{default_mlruns_dir() / 'optuna.db'}"


# -- the search space ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchSpace:
    """The Budget values a search may try; a dimension with one value is fixed, not searched.

    Sleep-time dimensions are only suggested for trials that use sleep time.

    Example::

        >>> space = SearchSpace(use_sleep=(True,), sleep_samples=(1, 5), test_verbosity=(0,))
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
    test_model: tuple[str, ...] = ("local:qwen2.5-coder-0.5b",)
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
                    Budget(**{name: value})
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

    def suggest(self, trial) -> dict[str, Any]:
        """Ask ``trial`` for one Budget's fields (as a dict)."""
        dims = self.dimensions()

        def pick(name: str):
            values = dims[name]
            return values[0] if len(values) == 1 else trial.suggest_categorical(name, list(values))

        params = {"use_sleep": pick("use_sleep")}
        for name in ("test_verbosity", "test_max_tokens", "test_model", "compiled"):
            params[name] = pick(name)
        if params["use_sleep"]:
            for name in SLEEP_FIELDS:
                params[name] = pick(name)
        return params


# -- objectives ---------------------------------------------------------------------------------------------
def objective_spec(questions_per_context: float, price_ratio: float) -> dict[str, Any]:
    """What a study optimizes; stored in its user attrs so a resumed study cannot silently change meaning."""
    return {
        "objectives": [list(o) for o in OBJECTIVES],
        "questions_per_context": float(questions_per_context),
        "price_ratio": float(price_ratio),
    }


def objective_values(summary: dict[str, Any]) -> tuple[float, float, float]:
    """The trial's return value, in the order of :data:`OBJECTIVES`."""
    return tuple(float(summary[name]) for name, _ in OBJECTIVES)


def budget_id(budget) -> str:
    """A short stable id of a Budget (file names, config ids)."""
    return hashlib.sha1(budget.to_json().encode()).hexdigest()[:12]


def evaluate_budget(
    budget,
    examples: Sequence,
    *,
    results_path: Path | None = None,
    store=None,
    ledger=None,
    api_base: str | None = None,
    num_threads: int = 1,
    progress: bool = True,
):
    """The real trial evaluation: ``build_program(budget)`` then ``evaluate`` on ``examples``."""
    from optimize.evaluate import evaluate
    from programs import build_program
    from programs.lm.ledger import TokenLedger

    ledger = ledger if ledger is not None else TokenLedger()
    program = build_program(budget, ledger=ledger, store=store, api_base=api_base)
    return evaluate(
        program,
        list(examples),
        ledger=ledger,
        num_threads=num_threads,
        results_path=results_path,
        progress=progress,
    )


def _default_summarize():
    from optimize.metrics import summarize

    return summarize


# -- storage ------------------------------------------------------------------------------------------------
def open_storage(url: str | None = None, *, heartbeat_interval: int = 10, grace_period: int | None = None):
    """An Optuna storage: ``sqlite:///PATH``, ``postgresql://...``, ``mysql://...`` or ``journal:PATH``.

    RDB storages get heartbeats: a trial whose worker died is failed after ``grace_period`` seconds and
    re-queued with the same parameters by the next worker.
    """
    import optuna

    url = url or default_storage_url()
    if url.startswith("journal:"):
        path = Path(url[len("journal:") :]).expanduser()
        if not str(path).strip() or path.is_dir():
            raise StorageError(f"journal storage {url!r} needs a file path, e.g. journal:mlruns/optuna.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
    if scheme == "postgres":
        url = "postgresql" + url[len("postgres") :]
        scheme = "postgresql"
    if scheme not in RDB_SCHEMES:
        raise StorageError(
            f"unknown storage URL {redact_url(url)!r} (scheme {scheme or 'missing'!r}); use sqlite:///PATH, "
            "postgresql://USER:PASSWORD@HOST:PORT/DB, mysql://... or journal:PATH"
        )
    engine_kwargs: dict[str, Any] = {}
    if scheme == "sqlite":
        db = url.split("///", 1)[1] if "///" in url else ""
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}
    elif scheme == "postgresql":
        url = _with_installed_postgres_driver(url)
        engine_kwargs = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period or max(3 * heartbeat_interval, 2),
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
    except ModuleNotFoundError as exc:
        raise StorageError(
            f"storage {redact_url(url)} needs the Python driver {exc.name!r}; install it "
            "(pip install 'sleeptime-compute[postgres]' for PostgreSQL)"
        ) from exc
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(
            f"cannot open study storage {redact_url(url)}: {redact_url(first_line)}; check that the database "
            "server is running and reachable and that the URL, user and database name are right"
        ) from exc


def _with_installed_postgres_driver(url: str) -> str:
    """SQLAlchemy 2.1 maps plain ``postgresql://`` to psycopg 3; fall back to psycopg2 when only it exists."""
    import importlib.util

    if not url.startswith("postgresql://") or importlib.util.find_spec("psycopg"):
        return url
    if importlib.util.find_spec("psycopg2"):
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def _shared_server(storage) -> bool:
    url = getattr(storage, "url", "") or ""
    return not url.startswith("sqlite") and hasattr(storage, "engine")


def open_study(
    storage_url: str | None,
    study_name: str,
    *,
    questions_per_context: float,
    price_ratio: float,
    sampler=None,
    heartbeat_interval: int = 10,
    grace_period: int | None = None,
):
    """Create or resume a study, refusing one created with different objectives."""
    import optuna

    storage = open_storage(storage_url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    spec = objective_spec(questions_per_context, price_ratio)
    directions = [d for _, d in OBJECTIVES]
    try:
        existing = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    except KeyError:
        existing = None
    if existing is not None:
        _check_same_objectives(existing, spec, study_name, storage_url)
        return existing
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=directions, sampler=sampler, load_if_exists=True
    )
    _check_same_objectives(study, spec, study_name, storage_url)
    return study


def _check_same_objectives(study, spec: dict[str, Any], study_name: str, storage_url: str | None) -> None:
    where = f"study {study_name!r} in {redact_url(storage_url or default_storage_url())}"
    directions = [d.name.lower() for d in study.directions]
    wanted = [d for _, d in OBJECTIVES]
    if directions != wanted:
        raise SearchError(
            f"{where} optimizes {len(directions)} objective(s) {directions}, not {wanted} "
            "(accuracy, mean_test_tokens, cost_per_query); use another --study name"
        )
    stored = study.user_attrs.get("objective_spec")
    if stored is None:
        for key, value in spec.items():
            study.set_user_attr(key, value)
        study.set_user_attr("objective_spec", spec)
        return
    if stored != spec:
        raise SearchError(
            f"{where} was created with objectives {stored} but this run asks for {spec}; its trials are not "
            "comparable. Use the same --questions-per-context/--price-ratio or another --study name"
        )


# -- crash recovery -----------------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted_trials(study, *, stale_after: float = 60.0) -> list[int]:
    """Fail trials left RUNNING by a dead worker and re-queue their parameters; returns their numbers.

    A RUNNING trial counts as dead when its worker ran on this host and that process is gone, or when it
    names no worker and started more than ``stale_after`` seconds ago. Workers on other hosts are left to
    Optuna's heartbeat (RDB storages), which fails and re-queues them after the grace period.
    """
    from datetime import datetime

    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    host = socket.gethostname()
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if worker:
            dead = worker.get("host") == host and not _pid_alive(int(worker.get("pid", -1)))
        else:
            started = trial.datetime_start or datetime.now()
            dead = (datetime.now() - started).total_seconds() > stale_after
        if not dead:
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, "failed_reason", "worker died (recovered)")
            if not study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except (UpdateFinishedTrialError, RuntimeError):
            continue  # finished or failed by another worker meanwhile
        _requeue(study, trial)
        recovered.append(trial.number)
    return recovered


def _requeue(study, trial) -> None:
    study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


# -- the search ---------------------------------------------------------------------------------------------
@dataclass
class _TrialContext:
    examples: list
    space: SearchSpace
    questions_per_context: float
    price_ratio: float
    evaluator: Evaluator | None
    summarize: Callable | None
    results_dir: Path
    tracker: Tracker | None
    parent_run_id: str | None
    tags: dict[str, str]
    store: Any = None
    ledger: Any = None
    frames: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The real program + evaluate, unless a caller (a test, a custom harness) injects its own.
        if self.evaluator is None:
            self.evaluator = lambda b, ex, **kw: evaluate_budget(b, ex, progress=False, **kw)
        if self.summarize is None:
            self.summarize = _default_summarize()


def run_config(budget, ctx: _TrialContext, *, run_name: str, extra_tags: dict[str, str] | None = None):
    """Evaluate one Budget, log its child run and per-example rows; returns ``(summary, frame, run_id)``.

    The child run is closed FAILED (or KILLED on Ctrl-C) when evaluation does not finish.
    """
    config_id = budget_id(budget)
    tags = {
        **ctx.tags,
        "sleeptime.config_id": config_id,
        **(extra_tags or {}),
        "sleeptime.models": f"sleep={budget.sleep_model if budget.use_sleep else '-'}; "
        f"test={budget.test_model}",
    }
    run_id = None
    if ctx.tracker is not None and ctx.parent_run_id is not None:
        run_id = ctx.tracker.start_child(ctx.parent_run_id, name=run_name, params=budget.to_dict(), tags=tags)
    rows_dir = ctx.results_dir / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    try:
        frame = ctx.evaluator(
            budget,
            ctx.examples,
            results_path=rows_dir / f"{config_id}.jsonl",
            store=ctx.store,
            ledger=ctx.ledger,
        )
        if frame is None or len(frame) == 0:
            raise SearchError(f"evaluating {budget.to_json()} produced no rows; is the dev split empty?")
        summary = dict(
            ctx.summarize(frame, questions_per_context=ctx.questions_per_context, price_ratio=ctx.price_ratio)
        )
        values = objective_values(summary)
        if any(math.isnan(v) for v in values):
            raise SearchError(f"objectives {values} for {budget.to_json()} contain NaN")
    except KeyboardInterrupt:
        if run_id:
            ctx.tracker.finish(run_id, "KILLED")
        raise
    except BaseException:
        if run_id:
            ctx.tracker.finish(run_id, "FAILED")
        raise
    frame = frame.copy()
    frame["config_id"] = config_id
    frames_dir = ctx.results_dir / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(frames_dir / f"{config_id}.csv", index=False)
    if run_id:
        metrics = {k: summary[k] for k in SUMMARY_METRICS if isinstance(summary.get(k), int | float)}
        if "seconds" in frame:
            metrics["mean_seconds"] = float(frame["seconds"].mean())
        if "sleep_seconds" in frame:
            metrics["mean_sleep_seconds"] = float(frame["sleep_seconds"].mean())
        ctx.tracker.log_metrics(run_id, metrics)
        ctx.tracker.finish(run_id, "FINISHED")
    return summary, frame, run_id


def _objective(ctx: _TrialContext):
    from programs.budget import Budget

    def objective(trial) -> tuple[float, float, float]:
        trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
        budget = Budget.from_dict(ctx.space.suggest(trial))
        trial.set_user_attr("budget", budget.to_dict())
        trial.set_user_attr("config_id", budget_id(budget))
        try:
            summary, _, run_id = run_config(
                budget,
                ctx,
                run_name=f"trial-{trial.number}",
                extra_tags={"sleeptime.trial": str(trial.number)},
            )
        except KeyboardInterrupt:
            # Optuna marks this trial FAIL; queue its parameters so the resumed study runs them first.
            _requeue(trial.study, trial)
            trial.set_user_attr("requeued", True)
            raise
        trial.set_user_attr("summary", {k: summary.get(k) for k in SUMMARY_METRICS})
        if run_id:
            trial.set_user_attr("mlflow_run_id", run_id)
        return objective_values(summary)

    return objective


def make_sampler(name: str, seed: int | None, *, population_size: int = 20):
    """``tpe`` (multi-objective TPE) or ``nsga2``, seeded."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=8)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SearchError(f"unknown sampler {name!r}; use 'tpe', 'nsga2' or 'random'")


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
):
    """Run (or resume, or join) a budget study and return it; ``study.best_trials`` is the Pareto front.

    ``tracker=None`` logs to the default MLflow store, ``tracker=False`` logs nothing. ``evaluator`` defaults
    to the real program + :func:`optimize.evaluate.evaluate`; tests inject a deterministic one.
    """
    import optuna

    if n_trials < 1:
        raise SearchError(f"--n-trials must be at least 1, got {n_trials}")
    if questions_per_context <= 0 or price_ratio <= 0:
        raise SearchError(
            f"questions per context ({questions_per_context}) and price ratio ({price_ratio}) "
            "must be positive"
        )
    examples = list(dev_examples)
    if not examples:
        raise SearchError("the dev split is empty; check --data/--split (or --limit) so trials have examples")
    space = (space or SearchSpace()).validate()
    storage_url = storage or default_storage_url()
    probe = open_study(
        storage_url,
        study_name,
        questions_per_context=questions_per_context,
        price_ratio=price_ratio,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
    )
    recovered = recover_interrupted_trials(probe, stale_after=float(grace_period or 3 * heartbeat_interval))
    if recovered and progress:
        print(f"re-queued trial(s) {recovered} left running by a stopped worker")
    # Seeded and reproducible for a fresh single-process study; a resumed study or a worker of a shared
    # server study gets its own stream so it does not replay the first worker's suggestions.
    effective_seed = None if seed is None else seed + len(probe.trials)
    if seed is not None and _shared_server(probe._storage):
        effective_seed = random.Random(
            f"{seed}-{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        ).randrange(2**31)
    study = optuna.load_study(
        study_name=study_name, storage=probe._storage, sampler=make_sampler(sampler, effective_seed)
    )
    study.set_user_attr("space", {k: [v for v in vals] for k, vals in space.dimensions().items()})

    results_dir = Path(results_dir or default_mlruns_dir() / "results" / study_name)
    own_tracker = Tracker() if tracker is None else (tracker or None)
    parent_run_id = None
    tags = {
        "sleeptime.split": split,
        "sleeptime.study": study_name,
        "sleeptime.storage": redact_url(storage_url),
    }
    if own_tracker is not None:
        parent_run_id = own_tracker.start_parent(
            f"search-{study_name}",
            kind="search",
            tags=tags,
            params={
                "questions_per_context": questions_per_context,
                "price_ratio": price_ratio,
                "sampler": sampler,
                "seed": seed,
                "n_examples": len(examples),
                "split": split,
            },
            resume_key=f"search:{study_name}@{redact_url(storage_url)}",
        )
        study.set_user_attr("mlflow_parent_run_id", parent_run_id)
    ctx = _TrialContext(
        examples=examples,
        space=space,
        questions_per_context=questions_per_context,
        price_ratio=price_ratio,
        evaluator=evaluator,
        summarize=summarize,
        results_dir=results_dir,
        tracker=own_tracker,
        parent_run_id=parent_run_id,
        tags=tags,
        store=store,
        ledger=ledger,
    )
    status = "FAILED"
    try:
        study.optimize(
            _objective(ctx),
            n_trials=n_trials,
            n_jobs=n_jobs,
            catch=(),
            show_progress_bar=progress,
            gc_after_trial=False,
        )
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        write_results(
            study, results_dir, questions_per_context=questions_per_context, price_ratio=price_ratio
        )
        if own_tracker is not None and parent_run_id is not None:
            try:
                log_parent_results(own_tracker, parent_run_id, results_dir)
            finally:
                own_tracker.finish(parent_run_id, status)
    return study


# -- results ------------------------------------------------------------------------------------------------
def distinct_front(study) -> list:
    """The Pareto-front trials, most accurate first, one per distinct Budget.

    Samplers may propose the same Budget twice; both trials are on the front but they are one point.
    """
    front = sorted(study.best_trials, key=lambda t: -t.values[0])
    return list({str(t.user_attrs.get("budget", t.params)): t for t in front}.values())


def study_configs(study, *, questions_per_context: float, price_ratio: float):
    """One row per COMPLETE trial: the Budget, the summary metrics and whether it is on the Pareto front."""
    import pandas as pd
    from optuna.trial import TrialState

    from optimize.pareto import pareto_front

    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        summary = trial.user_attrs.get("summary", {})
        row = {
            "config_id": trial.user_attrs.get("config_id"),
            "trial": trial.number,
            "source": "search",
            **trial.user_attrs.get("budget", {}),
            **summary,
            "questions_per_context": questions_per_context,
            "price_ratio": price_ratio,
        }
        for (name, _), value in zip(OBJECTIVES, trial.values, strict=True):
            row[name] = value
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        front = pareto_front(df[[n for n, _ in OBJECTIVES]].to_numpy().tolist(), [d for _, d in OBJECTIVES])
        df["on_front"] = False
        df.loc[df.index[front], "on_front"] = True
    return df


def write_results(study, results_dir: Path, *, questions_per_context: float, price_ratio: float) -> Path:
    """``configs.csv`` (+ ``.md``) and ``examples.csv`` of the study's finished trials in ``results_dir``."""
    configs = study_configs(study, questions_per_context=questions_per_context, price_ratio=price_ratio)
    return write_tables(configs, results_dir)


def write_tables(configs, results_dir: Path) -> Path:
    import pandas as pd

    from optimize.tracking import markdown_table

    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    configs.to_csv(results_dir / "configs.csv", index=False)
    (results_dir / "configs.md").write_text(
        markdown_table(configs) if len(configs) else "(no finished configs)\n"
    )
    frames = []
    if len(configs):
        for config_id in configs["config_id"].unique():
            path = results_dir / "frames" / f"{config_id}.csv"
            if path.exists():
                frames.append(pd.read_csv(path))
    examples = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["config_id"])
    examples.to_csv(results_dir / "examples.csv", index=False)
    (results_dir / "meta.json").write_text(json.dumps({"written_at": time.time()}))
    return results_dir


def log_parent_results(tracker: Tracker, parent_run_id: str, results_dir: Path) -> None:
    """Parent run artifacts: result tables, per-example rows, the Pareto front and report figures."""
    import pandas as pd

    results_dir = Path(results_dir)
    configs = (
        pd.read_csv(results_dir / "configs.csv")
        if (results_dir / "configs.csv").stat().st_size > 1
        else pd.DataFrame()
    )
    for name in ("configs.csv", "configs.md", "examples.csv"):
        tracker.log_file(parent_run_id, results_dir / name, "results")
    if len(configs) == 0:
        return
    front = configs[configs["on_front"]] if "on_front" in configs else configs
    tracker.log_dataframe(parent_run_id, front, "pareto_front.csv")
    tracker.log_dataframe(parent_run_id, front, "pareto_front.md")
    best = configs.sort_values("accuracy", ascending=False).iloc[0]
    tracker.log_metrics(
        parent_run_id,
        {
            "best_accuracy": float(best["accuracy"]),
            "n_configs": float(len(configs)),
            "n_pareto": float(len(front)),
        },
    )
    from optimize.report import write_report

    report_dir = results_dir / "report"
    write_report(configs, pd.read_csv(results_dir / "examples.csv"), report_dir)
    tracker.log_dir(parent_run_id, report_dir, "report")
