"""``sleeptime evaluate`` in MLflow: one run per results file, in the experiment ``sleeptime-evaluate``.

The run's params are what was evaluated (the Budget or the saved program, the data file and its hash, the
split and question count), its metrics each adapter's summary (accuracy with its context interval, tokens,
cost, coverage, failed, truncated and unparsed rows), its artifacts the results file and its configuration.
A run given ``--out`` is keyed by that file: an evaluation stopped and started again (it resumes the file)
reopens the same MLflow run rather than leaving a second one behind, and a run whose rows mostly failed is
closed FAILED, Ctrl-C closes it KILLED.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

EVALUATE_EXPERIMENT = "sleeptime-evaluate"


class EvaluationRun:
    """The open MLflow run of one ``evaluate``; :meth:`log_adapter` records each adapter as it finishes.

    Example:
        >>> import tempfile
        >>> import pandas as pd
        >>> root = Path(tempfile.mkdtemp())
        >>> with tracked_evaluation(True, f"sqlite:///{root / 'mlflow.db'}", name="evaluate test-only v0",
        ...                         params={"test_verbosity": 0}) as run:
        ...     run.log_adapter("chat", {"accuracy": 0.5, "n": 2}, rows=pd.DataFrame({"correct": [1, 0]}))
        >>> run.tracker.status(run.run_id)
        'FINISHED'
    """

    def __init__(self, tracker, run_id: str, *, prefixed: bool = False) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.prefixed = prefixed

    def log_adapter(self, adapter: str, summary: Mapping[str, Any], *, rows=None,
                    results_path: str | Path | None = None) -> None:
        """``summary``'s numbers as metrics (named ``<adapter>_<metric>`` when several adapters share the
        run) and the rows: the results file and its configuration when there is one, else a CSV."""
        prefix = f"{adapter}_" if self.prefixed else ""
        metrics = {f"{prefix}{name}": float(value) for name, value in summary.items()
                   if isinstance(value, int | float) and not isinstance(value, bool)}
        self.tracker.log_metrics(self.run_id, metrics)
        path = Path(results_path) if results_path else None
        if path is not None and path.is_file():
            self.tracker.log_file(self.run_id, path, "results")
            config = Path(f"{path}.config.json")
            if config.is_file():
                self.tracker.log_file(self.run_id, config, "results")
        elif rows is not None:
            self.tracker.log_dataframe(self.run_id, rows, f"results/{adapter}.csv")


@contextmanager
def tracked_evaluation(enabled: bool, tracking_uri: str | None, *, name: str, params: Mapping[str, Any],
                       results_path: str | Path | None = None,
                       adapters: int = 1) -> Iterator[EvaluationRun | None]:
    """Open the run (or reopen the one of the same ``results_path``), yield it, and close it FINISHED, FAILED
    when the block raises, KILLED on Ctrl-C. ``enabled`` False yields None and logs nothing."""
    if not enabled:
        yield None
        return
    from optimize.tracking.runs import Tracker

    tracker = Tracker(tracking_uri, experiment=EVALUATE_EXPERIMENT)
    key = f"evaluate:{Path(results_path).resolve()}" if results_path else None
    run_id = tracker.start_parent(name, kind="evaluate", params=params, resume_key=key)
    status = "FAILED"
    try:
        yield EvaluationRun(tracker, run_id, prefixed=adapters > 1)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tracker.finish(run_id, status)
