"""Everything MLflow: one parent run per search or sweep, one child run per trial, artifacts on the parent.

Runs are created through ``MlflowClient`` with the parent run id passed explicitly (tag
``mlflow.parentRunId``), never through the fluent ``mlflow.start_run`` stack, so trials evaluated in
parallel threads or processes nest correctly.

Example::

    tracker = Tracker()                                   # sqlite:///<cwd>/mlruns/mlflow.db
    parent = tracker.start_parent("search-demo", kind="search", tags={"sleeptime.split": "dev"})
    child = tracker.log_child(parent, name="trial-0", params={"test_verbosity": 2},
                              metrics={"accuracy": 0.5}, tags={})
    tracker.finish(parent)
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from optimize.markdown import markdown_table
from programs.redact import redact

os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")

DEFAULT_EXPERIMENT = "sleeptime"
PARENT_RUN_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"  # the run description shown by the MLflow UI

# Names of secrets. Deliberately not a bare "token": test_max_tokens is a budget, not a credential.
_SECRET_NAME = re.compile(
    r"(api[_-]?key|(^|[_-])key$|secret|passw(or)?d|credential|auth|bearer|access[_-]?token|"
    r"(^|[_-])token$)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(r"^(sk-|Bearer\s)", re.IGNORECASE)


def mlflow_active_model() -> str | None:
    """The id of MLflow's process-wide active logged model, if any."""
    import mlflow

    return mlflow.get_active_model_id()


def default_mlruns_dir() -> Path:
    """The store directory: ``$SLEEPTIME_MLRUNS_DIR`` or ``./mlruns`` (run commands from the repo root)."""
    return Path(os.environ.get("SLEEPTIME_MLRUNS_DIR") or Path.cwd() / "mlruns").resolve()


def default_tracking_uri() -> str:
    return f"sqlite:///{default_mlruns_dir() / 'mlflow.db'}"


def _safe_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Tags with credentials redacted from their values (model specs may carry a password in a URL)."""
    return {name: redact(value)[:8000] for name, value in tags.items()}


def safe_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Params fit for logging: no credentials by name or by look, passwords stripped from URLs."""
    safe = {}
    for name, value in params.items():
        text = "None" if value is None else str(value)
        if _SECRET_NAME.search(name) or _SECRET_VALUE.search(text):
            continue
        safe[name] = redact(text)[:6000]
    return safe


@contextmanager
def _init_lock(tracking_uri: str) -> Iterator[None]:
    """An exclusive file lock beside a SQLite store (no-op for other stores)."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    lock_path = Path(tracking_uri[len("sqlite:///") :]).with_suffix(".init.lock")
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def git_commit(repo: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the source tree, or ``'unknown'`` outside a repository."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo or Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


class Tracker:
    """An MLflow experiment in a SQLite store with artifacts beside it, written through ``MlflowClient``.

    Example:
        >>> import tempfile, pandas as pd
        >>> root = Path(tempfile.mkdtemp())
        >>> tracker = Tracker(f"sqlite:///{root / 'mlflow.db'}", artifact_root=root / "artifacts")
        >>> run_id = tracker.start_parent("sweep-verbosity", kind="sweep", tags={})
        >>> tracker.log_dataframe(run_id, pd.DataFrame({"accuracy": [0.5]}), "results/examples.csv")
        >>> tracker.finish(run_id)
        >>> tracker.status(run_id)
        'FINISHED'
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        experiment: str = DEFAULT_EXPERIMENT,
        artifact_root: str | Path | None = None,
    ) -> None:
        from mlflow.tracking import MlflowClient

        if tracking_uri is None:
            tracking_uri = default_tracking_uri()
            artifact_root = artifact_root or default_mlruns_dir() / "artifacts"
        if tracking_uri.startswith("sqlite:///"):
            db_path = Path(tracking_uri[len("sqlite:///") :])
            db_path.parent.mkdir(parents=True, exist_ok=True)
            if artifact_root is None:
                artifact_root = db_path.parent / "artifacts"
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root).resolve() if artifact_root else None
        self.experiment_name = experiment
        with _init_lock(tracking_uri):
            # The first access creates/migrates the SQLite schema: two workers doing it at once collide.
            self.client = MlflowClient(tracking_uri=tracking_uri)
            self.experiment_id = self._experiment_id(experiment)

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if self.artifact_root is not None:
            self.artifact_root.mkdir(parents=True, exist_ok=True)
            location = (self.artifact_root / name).as_uri()
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException:
            # Another worker created it between our lookup and our create.
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    # -- runs -------------------------------------------------------------------------------------------
    def start_parent(
        self,
        name: str,
        *,
        kind: str,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        resume_key: str | None = None,
        description: str | None = None,
    ) -> str:
        """Create (or, with ``resume_key``, reopen) the parent run of a search or sweep; returns its id.

        Several workers of one study pass the same ``resume_key`` and so share one parent run.
        ``description`` becomes the run's description in the UI (``mlflow.note.content``).
        """
        if description:
            tags = {**(tags or {}), NOTE_TAG: description}
        all_tags = {"sleeptime.kind": kind, "mlflow.source.git.commit": git_commit(), **(tags or {})}
        if resume_key:
            all_tags["sleeptime.resume_key"] = resume_key
            existing = self._parents_with_key(resume_key)
            if existing:
                run_id = existing[0]
                self.client.update_run(run_id, status="RUNNING")
                self._log(run_id, params=params, tags=all_tags)
                return run_id
        run = self.client.create_run(self.experiment_id, run_name=redact(name), tags=_safe_tags(all_tags))
        run_id = run.info.run_id
        if resume_key:
            # Two workers may have created a parent at the same moment: keep the oldest, drop ours.
            existing = self._parents_with_key(resume_key)
            if existing and existing[0] != run_id:
                self.client.delete_run(run_id)
                run_id = existing[0]
                self.client.update_run(run_id, status="RUNNING")
        self._log(run_id, params=params)
        return run_id

    def _parents_with_key(self, key: str) -> list[str]:
        escaped = key.replace("'", "\\'")
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`sleeptime.resume_key` = '{escaped}'",
            order_by=["attributes.start_time ASC"],
        )
        return [r.info.run_id for r in runs]

    def start_child(
        self,
        parent_run_id: str,
        *,
        name: str,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Create a RUNNING child run under ``parent_run_id``; finish it with :meth:`finish`."""
        all_tags = {PARENT_RUN_TAG: parent_run_id, "mlflow.source.git.commit": git_commit(), **(tags or {})}
        run = self.client.create_run(self.experiment_id, run_name=redact(name), tags=_safe_tags(all_tags))
        self._log(run.info.run_id, params=params)
        return run.info.run_id

    def log_child(
        self,
        parent_run_id: str,
        *,
        name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, str] | None = None,
        status: str = "FINISHED",
    ) -> str:
        """One finished child run: params, metrics and tags in one call."""
        run_id = self.start_child(parent_run_id, name=name, params=params, tags=tags)
        self.log_metrics(run_id, metrics)
        self.finish(run_id, status)
        return run_id

    def log_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        self._log(run_id, metrics=metrics)

    def set_description(self, run_id: str, text: str) -> None:
        """The run's description in the UI (markdown, credentials redacted)."""
        self._log(run_id, tags={NOTE_TAG: text})

    def status(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.status

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        """Close a run as FINISHED, FAILED or KILLED."""
        self.client.set_terminated(run_id, status=status)

    def _log(self, run_id, *, params=None, metrics=None, tags=None) -> None:
        import math
        import time

        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        metric_list = [
            Metric(k, float(v), now, 0)
            for k, v in (metrics or {}).items()
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        ]
        param_list = [Param(k, v) for k, v in safe_params(params or {}).items()]
        if param_list:
            # A resumed parent may log a param again: MLflow refuses changing values, so log new ones only.
            logged = self.client.get_run(run_id).data.params
            param_list = [p for p in param_list if p.key not in logged]
        tag_list = [RunTag(k, v) for k, v in _safe_tags(tags or {}).items()]
        if metric_list and mlflow_active_model() is not None:
            # A model loaded earlier in this process (e.g. mlflow.dspy.load_model) becomes MLflow's active
            # model, and log_batch would link these metrics to it, in a store where it may not exist.
            import mlflow

            mlflow.clear_active_model()
        if metric_list or param_list or tag_list:
            self.client.log_batch(run_id, metrics=metric_list, params=param_list, tags=tag_list)

    # -- artifacts --------------------------------------------------------------------------------------
    def log_file(self, run_id: str, path: str | Path, artifact_dir: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_dir)

    def log_dataframe(self, run_id: str, df, artifact_file: str) -> None:
        """A DataFrame as CSV (``.csv``) or markdown (``.md``) under the run's artifacts."""
        buffer = io.StringIO()
        if artifact_file.endswith(".md"):
            buffer.write(markdown_table(df))
        else:
            df.to_csv(buffer, index=False)
        self.client.log_text(run_id, buffer.getvalue(), artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, redact(text), artifact_file)

    def log_dir(self, run_id: str, directory: str | Path, artifact_dir: str | None = None) -> None:
        self.client.log_artifacts(run_id, str(directory), artifact_dir)

    def download(self, run_id: str, artifact_path: str = "") -> Path:
        """Artifacts of a run copied to a temporary directory (for ``report --from-run``)."""
        target = Path(tempfile.mkdtemp(prefix=f"sleeptime-{run_id[:8]}-"))
        return Path(self.client.download_artifacts(run_id, artifact_path, str(target)))

    def children(self, parent_run_id: str) -> list:
        return self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'"
        )


def log_dataset(tracker: Tracker, run_id: str, examples, *, name: str, context: str = "eval") -> None:
    """The questions a run evaluated as an MLflow dataset input (Datasets column and run page of the UI)."""
    import pandas as pd
    from mlflow.data import from_pandas
    from mlflow.entities import DatasetInput, InputTag

    columns = ("context_id", "question_id", "template_id", "level", "predictability", "question", "answer")
    rows = [{c: _field(e, c) for c in columns} for e in examples]
    frame = pd.DataFrame(rows, columns=list(columns)).astype(str)
    dataset = from_pandas(frame, name=name, targets="answer")
    tag = InputTag(key="mlflow.data.context", value=context)
    tracker.client.log_inputs(run_id, [DatasetInput(dataset=dataset._to_mlflow_entity(), tags=[tag])])


def _field(example, name: str):
    return example.get(name) if hasattr(example, "get") else getattr(example, name, None)
