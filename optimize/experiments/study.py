"""The Optuna study of a budget search: storage URLs, create-or-resume with fixed objectives, crash recovery.

A study remembers what it optimizes (objectives, questions per context, price ratio) and which questions its
trials answered, and refuses a run that asks for something else. Trials left RUNNING by a dead worker are
failed and re-queued; the MLflow runs they left open are closed KILLED.

Example::

    from optimize.experiments.study import open_study
    study = open_study("sqlite:///mlruns/optuna.db", "qwen05", questions_per_context=1, price_ratio=10)
    print(study.metric_names)        # ['accuracy', 'mean_test_tokens', 'cost_per_query']
"""

from __future__ import annotations

import hashlib
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from optimize.reports.tables import OBJECTIVES
from optimize.tracking.runs import Tracker, default_mlruns_dir
from programs.redact import redact

RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
METRIC_NAMES = [name for name, _ in OBJECTIVES]


class SearchError(ValueError):
    """Bad search input (space, study, data): the message names the problem and the fix."""


class StorageError(SearchError):
    """The study storage URL is unknown, unreachable or misconfigured."""


def default_storage_url() -> str:
    return f"sqlite:///{default_mlruns_dir() / 'optuna.db'}"


# -- objectives ---------------------------------------------------------------------------------------------
def question_set(examples) -> dict[str, Any]:
    """Which questions a study's trials answer: their number and a hash of their ids (order-free).

    Example:
        >>> question_set([{"question_id": "b"}, {"question_id": "a"}])["questions"]
        2
    """
    ids = sorted(str(e.get("question_id")) for e in examples)
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    return {"questions": len(ids), "question_ids_sha256": digest}


def objective_spec(questions_per_context: float, price_ratio: float) -> dict[str, Any]:
    """What a study optimizes; stored in its user attrs so a resumed study cannot silently change meaning."""
    return {
        "objectives": [list(o) for o in OBJECTIVES],
        "questions_per_context": float(questions_per_context),
        "price_ratio": float(price_ratio),
    }


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
            f"unknown storage URL {redact(url)!r} (scheme {scheme or 'missing'!r}); use sqlite:///PATH, "
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
            f"storage {redact(url)} needs the Python driver {exc.name!r}; install it "
            "(pip install 'sleeptime-compute[postgres]' for PostgreSQL)"
        ) from exc
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(
            f"cannot open study storage {redact(url)}: {redact(first_line)}; check that the database "
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


def is_shared_server(storage) -> bool:
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
    questions: dict[str, Any] | None = None,
):
    """Create or resume a study, refusing one created with different objectives or, when ``questions``
    (:func:`question_set`) is given, one whose trials answered another set of questions."""
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
        _check_same_questions(existing, questions, study_name, storage_url)
        return existing
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=directions, sampler=sampler, load_if_exists=True
    )
    _check_same_objectives(study, spec, study_name, storage_url)
    _check_same_questions(study, questions, study_name, storage_url)
    return study


def _check_same_questions(study, questions: dict[str, Any] | None, study_name: str,
                          storage_url: str | None) -> None:
    # Trials scored on other questions would sit on one front with these ones; a study that records no
    # question set adopts this run's.
    if questions is None:
        return
    stored = study.user_attrs.get("question_set")
    if stored is None:
        study.set_user_attr("question_set", questions)
    elif stored != questions:
        where = f"study {study_name!r} in {redact(storage_url or default_storage_url())}"
        raise SearchError(
            f"{where} answered {stored['questions']} questions (ids {stored['question_ids_sha256']}) but "
            f"this run selects {questions['questions']} (ids {questions['question_ids_sha256']}); its trials "
            "are not comparable. Use the same --data/--split/--contexts/--n/--seed or another --study name"
        )


def _check_same_objectives(study, spec: dict[str, Any], study_name: str, storage_url: str | None) -> None:
    where = f"study {study_name!r} in {redact(storage_url or default_storage_url())}"
    directions = [d.name.lower() for d in study.directions]
    wanted = [d for _, d in OBJECTIVES]
    if directions != wanted:
        raise SearchError(
            f"{where} optimizes {len(directions)} objective(s) {directions}, not {wanted} "
            "(accuracy, mean_test_tokens, cost_per_query); use another --study name"
        )
    if study.metric_names is None:
        with warnings.catch_warnings():  # set_metric_names is marked experimental
            warnings.simplefilter("ignore")
            study.set_metric_names(METRIC_NAMES)  # Optuna's own plots and dashboard label the objectives
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
        requeue_trial(study, trial)
        recovered.append(trial.number)
    return recovered


def requeue_trial(study, trial) -> None:
    study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


def close_dead_runs(study, tracker: Tracker) -> list[str]:
    """Close as KILLED every MLflow child run still RUNNING whose trial has failed (its worker is gone)."""
    from mlflow.exceptions import MlflowException
    from optuna.trial import TrialState

    closed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if not run_id:
            continue
        try:
            if tracker.status(run_id) == "RUNNING":
                tracker.finish(run_id, "KILLED")
                closed.append(run_id)
        except MlflowException:
            continue  # a run of another MLflow store
    return closed


