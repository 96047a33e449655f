"""``sleeptime evaluate`` in MLflow: one run per invocation, in the experiment ``sleeptime-evaluate``.

The run's dataset is the questions it was given; its params what was evaluated (the Budget or the saved
program, the data file and its hash, the split and question count, the results file); its metrics each
adapter's summary (accuracy with its context interval, tokens, cost, failed, truncated and unparsed rows);
its artifacts the results file and its configuration; its description the command and what it scored. An
invocation that resumes a results file is a run of its own whose summary covers every row of the file; one
that fails (bad input, most rows failed) is closed FAILED, one stopped by Ctrl-C (or ``kill``, which
``evaluate`` turns into Ctrl-C) KILLED.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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

    def __init__(self, tracker, run_id: str, *, prefixed: bool = False, command: str | None = None) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.prefixed = prefixed
        self.lines = [f"`{command}`"] if command else []

    def log_adapter(self, adapter: str, summary: Mapping[str, Any], *, rows=None,
                    results_path: str | Path | None = None) -> None:
        """``summary``'s numbers as metrics (named ``<adapter>_<metric>`` when several adapters share the
        run) and the rows: the results file and its configuration when there is one, else a CSV."""
        prefix = f"{adapter}_" if self.prefixed else ""
        metrics = {f"{prefix}{name}": float(value) for name, value in summary.items()
                   if isinstance(value, int | float) and not isinstance(value, bool)}
        self.tracker.log_metrics(self.run_id, metrics)
        self.lines.append(_described(adapter, summary, results_path))
        self.tracker.set_description(self.run_id, "\n\n".join(self.lines))
        path = Path(results_path) if results_path else None
        if path is not None and path.is_file():
            self.tracker.log_file(self.run_id, path, "results")
            config = Path(f"{path}.config.json")
            if config.is_file():
                self.tracker.log_file(self.run_id, config, "results")
        elif rows is not None:
            self.tracker.log_dataframe(self.run_id, rows, f"results/{adapter}.csv")


def _described(adapter: str, summary: Mapping[str, Any], results_path: str | Path | None) -> str:
    """One line of the run's description: what the adapter's rows scored, and where they are."""
    def share(name: str) -> str:
        value = summary.get(name)
        return f"{100 * value:.1f}%" if isinstance(value, int | float) else "?"

    tokens = summary.get("mean_test_tokens")
    line = (f"{adapter}: accuracy {share('accuracy')} [{share('accuracy_ci_low')}, "
            f"{share('accuracy_ci_high')}] by context on {summary.get('n', '?')} questions")
    if isinstance(tokens, int | float):
        line += f", {tokens:.1f} test tokens per question"
    if summary.get("failed_rows"):
        line += f", {summary['failed_rows']} failed rows"
    return line + (f"; rows: `{results_path}`" if results_path else "")


@contextmanager
def tracked_evaluation(enabled: bool, tracking_uri: str | None, *, name: str, params: Mapping[str, Any],
                       examples: Sequence = (), split: str = "eval", adapters: int = 1,
                       command: str | None = None) -> Iterator[EvaluationRun | None]:
    """Open the run, yield it, and close it FINISHED, FAILED when the block raises, KILLED on
    ``KeyboardInterrupt`` (Ctrl-C; ``evaluate`` raises it on ``kill`` too, by
    :func:`optimize.experiments.runner.stop_on_signals`). ``enabled`` False yields None and logs nothing.
    ``examples`` are logged as the run's dataset, as search and sweep log theirs
    (:func:`optimize.tracking.runs.log_dataset`, named ``<split>-questions``); ``command`` (the shell
    command, credentials redacted) heads the description."""
    if not enabled:
        yield None
        return
    from optimize.tracking.runs import Tracker, log_dataset

    tracker = Tracker(tracking_uri, experiment=EVALUATE_EXPERIMENT)
    run_id = tracker.start_parent(name, kind="evaluate", params=params)
    status = "FAILED"
    try:
        if examples:
            log_dataset(tracker, run_id, examples, name=f"{split}-questions")
        yield EvaluationRun(tracker, run_id, prefixed=adapters > 1, command=command)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tracker.finish(run_id, status)
