"""The experiment runner under search, sweep and demo: evaluate Budgets on examples and log what ran.

One :class:`Experiment` is one MLflow parent run (description, parameters, the data as a dataset input, the
search space) with one child run per evaluated Budget (a name that says what ran, the Budget's parameters
that apply, rounded metrics, a description with units). Rows go to ``results_dir/rows``, per-example frames
to ``results_dir/frames``; closing the experiment writes ``configs.csv``/``examples.csv``, the distinct-budget
Pareto front as a table and a figure, and the report views, then closes the parent run.

A Budget whose rows failed too often (``max_error_rate``; a Budget with every row failed always) raises
:class:`TrialFailed`: its child run is FAILED and it never enters a configs table or a front.

Example::

    from optimize.experiments.runner import Experiment
    with Experiment(dev_examples, name="sweep-k", kind="sweep", tracker=False) as experiment:
        for budget in budgets:
            experiment.run(budget)
    print(experiment.configs[["sleep_samples", "accuracy", "cost_per_query"]])
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimize.reports.tables import OBJECTIVES, configs_table, log_parent_results, write_tables
from optimize.tracking.runs import Tracker, default_mlruns_dir
from programs.redact import redact

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
SLEEP_FIELDS = ("sleep_samples", "sleep_rounds", "sleep_max_tokens", "sleep_model", "sleep_strategy",
                "sleep_questions", "sleep_verbosity", "sleep_combine")
DEFAULT_MAX_ERROR_RATE = 0.5
# Digits kept when a metric is logged or used as an objective: more would be noise in the UI's columns.
_DIGITS = {"accuracy": 4, "accuracy_ci_low": 4, "accuracy_ci_high": 4, "error_rate": 4}
_SECONDS_DIGITS, _TOKEN_DIGITS = 3, 2

METRIC_UNITS = {
    "accuracy": "fraction of questions answered correctly (0..1)",
    "accuracy_ci_low": "lower end of the 95% Wilson interval of accuracy",
    "accuracy_ci_high": "upper end of the 95% Wilson interval of accuracy",
    "mean_test_tokens": "generated test-time tokens per question",
    "mean_sleep_tokens_amortized": "sleep-time tokens per question (per context / questions per context)",
    "sleep_tokens_per_context": "sleep-time tokens spent making one learned context",
    "cost_per_query": "sleep-token units: price_ratio x test tokens + amortized sleep tokens",
    "errors": "questions whose LM calls failed after retries",
    "error_rate": "errors / n",
    "n": "questions evaluated",
    "mean_test_seconds": "seconds of test-time LM calls per question",
    "mean_seconds": "seconds per question, both phases",
    "mean_sleep_seconds": "seconds spent making the learned context used, per question",
}

Evaluator = Callable[..., Any]  # (budget, examples, *, results_path, store, ledger) -> pd.DataFrame


class ExperimentError(ValueError):
    """Bad experiment input (no examples, no rows): the message names the problem and the fix."""


class TrialFailed(RuntimeError):
    """A Budget's evaluation failed on too many rows to be a result; it must never win a comparison."""

    def __init__(self, message: str, *, summary: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.summary = dict(summary or {})


# -- identities and labels -----------------------------------------------------------------------------------
def budget_id(budget) -> str:
    """A short stable id of a Budget (file names, config ids)."""
    return hashlib.sha1(json.dumps(budget.identity_dict(), sort_keys=True).encode()).hexdigest()[:12]


def safe_budget_dict(budget) -> dict[str, Any]:
    """The Budget as a dict fit to be written anywhere: credentials in model URLs redacted."""
    return {k: redact(v) if isinstance(v, str) else v for k, v in budget.to_dict().items()}


def applicable_params(budget) -> dict[str, Any]:
    """The Budget fields that apply to what ran: a test-time-only Budget has no sleep-time parameters."""
    params = safe_budget_dict(budget)
    if not budget.use_sleep:
        for name in SLEEP_FIELDS:
            params.pop(name, None)
    return params


def model_label(spec: str) -> str:
    """A short model name: ``local:qwen2.5-coder-1.5b`` -> ``1.5B``, ``openai/gpt-4o@URL`` -> ``gpt-4o``."""
    import re

    name = str(spec).split("@", 1)[0]
    name = name.split(":", 1)[1] if name.startswith("local:") else name.rsplit("/", 1)[-1]
    size = re.search(r"(\d+(?:\.\d+)?)b$", name, re.IGNORECASE)
    return f"{size.group(1)}B" if size else name


def run_label(budget) -> str:
    """What ran, in a few words: ``sleep k=2 + v0 (1.5B)``, ``test-only v3 (0.5B)``,
    ``sleep anticipate+compute q=8 k=1 + v0 (1.5B)``, ``test-only code (1.5B)``."""
    test = budget.test_strategy if budget.test_strategy != "answer" else f"v{budget.test_verbosity}"
    compiled = " compiled" if budget.compiled else ""
    if not budget.use_sleep:
        return f"test-only {test}{compiled} ({model_label(budget.test_model)})"
    strategy = budget.sleep_strategy
    if strategy != "notes":
        strategy += f" q={budget.sleep_questions}" if strategy.startswith("anticipate") else ""
        strategy += f" sv={budget.sleep_verbosity}" if strategy.startswith("anticipate q") else ""
        if "compute" in strategy and budget.sleep_combine != "agree":
            strategy += f" {budget.sleep_combine}"
    sleep = ("sleep" if strategy == "notes" else f"sleep {strategy}") + f" k={budget.sleep_samples}"
    sleep += f" r={budget.sleep_rounds}" if budget.sleep_rounds else ""
    if budget.sleep_model == budget.test_model:
        return f"{sleep} + {test}{compiled} ({model_label(budget.test_model)})"
    sleep_model, test_model = model_label(budget.sleep_model), model_label(budget.test_model)
    return f"{sleep} ({sleep_model}) + {test}{compiled} ({test_model})"


def round_metric(name: str, value: float) -> float:
    """A metric at the precision it is shown and compared with (objectives use the same rounding)."""
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return value
    if name in _DIGITS:
        return round(value, _DIGITS[name])
    return round(value, _SECONDS_DIGITS if "seconds" in name else _TOKEN_DIGITS)


def objective_values(summary: Mapping[str, Any]) -> tuple[float, ...]:
    """A summary's objectives, rounded, in the order of :data:`OBJECTIVES`."""
    return tuple(round_metric(name, summary[name]) for name, _ in OBJECTIVES)


@contextmanager
def stop_on_signals() -> Iterator[dict[str, str]]:
    """SIGINT and SIGTERM both raise ``KeyboardInterrupt`` in the main thread while the block runs.

    So ``kill`` stops an experiment as cleanly as Ctrl-C (runs closed KILLED, trials re-queued), and a
    process started with SIGINT ignored (a shell's background job) can still be interrupted. The yielded
    dict names the signal received. Previous handlers come back afterwards.
    """
    received: dict[str, str] = {}
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame) -> None:
        received["signal"] = signal.Signals(signum).name
        raise KeyboardInterrupt(received["signal"])

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


# -- the real evaluation -------------------------------------------------------------------------------------
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
    lm_options: dict | None = None,
    trace_examples: int = 2,
):
    """``build_program(budget)`` then ``evaluate`` on ``examples``; rows that failed before are redone.

    What the model read and wrote for the first ``trace_examples`` questions is kept in the frame's
    ``attrs["traces"]`` (the runner logs them as MLflow traces of the child run).
    """
    from optimize.experiments.evaluate import evaluate
    from optimize.experiments.results_file import run_config
    from optimize.tracking.traces import TraceRecorder
    from programs import build_program
    from programs.lm.ledger import TokenLedger

    ledger = ledger if ledger is not None else TokenLedger()
    settings = {"lm_options": lm_options} if lm_options else {}
    program = build_program(budget, ledger=ledger, store=store, api_base=api_base, **settings)
    recorder = TraceRecorder(list(examples)[:trace_examples])
    with recorder.recording():
        frame = evaluate(
            program,
            list(examples),
            ledger=ledger,
            num_threads=num_threads,
            results_path=results_path,
            progress=progress,
            config=run_config(program, api_base=api_base),  # rows of another configuration are refused
            retry_errors=True,  # an error row is never a cached result
        )
    frame.attrs["traces"] = recorder.records(frame)
    return frame


def _default_summarize():
    from optimize.reports.metrics import summarize

    return summarize


# -- one evaluated Budget ------------------------------------------------------------------------------------
@dataclass
class ConfigResult:
    """One evaluated Budget: its summary, per-example frame and child run.

    Example:
        >>> from programs.budget import Budget
        >>> budget = Budget(use_sleep=False, test_verbosity=2)
        >>> result = ConfigResult(budget, budget_id(budget), {"accuracy": 0.5}, None, None, run_label(budget))
        >>> row = result.row(group="pareto")
        >>> row["label"], row["group"], row["test_verbosity"], row["accuracy"]
        ('test-only v2 (0.5B)', 'pareto', 2, 0.5)
    """

    budget: Any
    config_id: str
    summary: dict[str, Any]
    frame: Any
    run_id: str | None
    label: str

    def row(self, **extra: Any) -> dict[str, Any]:
        """Its row of a configs table (credentials redacted)."""
        return {
            "config_id": self.config_id,
            **extra,
            "label": self.label,
            **safe_budget_dict(self.budget),
            **self.summary,
        }


# -- the experiment ------------------------------------------------------------------------------------------
class Experiment:
    """A list of Budgets evaluated on examples under one MLflow parent run, with result tables on disk.

    ``tracker=None`` logs to the default MLflow store, ``tracker=False`` logs nothing. ``evaluator`` defaults
    to the real program + :func:`optimize.experiments.evaluate.evaluate`; tests inject a deterministic one.
    ``resume_key`` lets a resumed run (or several workers, with ``shared=True``) reopen one parent run; an
    unshared parent's children left RUNNING by a dead process are closed KILLED when it is reopened.

    Example:
        >>> experiment = Experiment([{"context_id": "c1", "question": "1 + 1?"}], name="demo", kind="sweep",
        ...                         tracker=False)
        >>> experiment.tracker is None, experiment.results, experiment.configs  # logs nothing; none ran yet
        (True, [], None)
        >>> Experiment([], name="demo", kind="sweep", tracker=False)
        Traceback (most recent call last):
        ...
        optimize.experiments.runner.ExperimentError: sweep 'demo' has no examples; check --data/--split/...

    A real run (it evaluates the Budget with the model)::

        with Experiment(examples, name="sweep-verbosity", kind="sweep", tracker=False) as experiment:
            result = experiment.run(Budget(test_verbosity=2))
        print(result.summary["accuracy"], experiment.configs)
    """

    def __init__(
        self,
        examples: Sequence,
        *,
        name: str,
        kind: str,
        split: str = "dev",
        questions_per_context: float = 1.0,
        price_ratio: float = 10.0,
        store=None,
        ledger=None,
        tracker: Tracker | bool | None = None,
        evaluator: Evaluator | None = None,
        summarize: Callable | None = None,
        results_dir: Path | None = None,
        max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
        description: str = "",
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        resume_key: str | None = None,
        shared: bool = False,
        space: Mapping[str, Any] | None = None,
        progress: bool = True,
    ) -> None:
        self.examples = list(examples)
        if not self.examples:
            raise ExperimentError(
                f"{kind} {name!r} has no examples; check --data/--split/--n so there is something to evaluate"
            )
        if not 0.0 <= max_error_rate <= 1.0:
            raise ExperimentError(f"--max-error-rate must be in 0..1, got {max_error_rate}")
        self.name, self.kind, self.split = name, kind, split
        self.questions_per_context, self.price_ratio = questions_per_context, price_ratio
        self.store, self.ledger = store, ledger
        self.tracker = Tracker() if tracker is None else (tracker or None)
        self.evaluator = evaluator or (lambda b, ex, **kw: evaluate_budget(b, ex, progress=False, **kw))
        self.summarize = summarize or _default_summarize()
        self.results_dir = Path(results_dir or default_mlruns_dir() / "results" / name)
        self.max_error_rate = max_error_rate
        self.description, self.params, self.space = description, dict(params or {}), space
        self.tags = {"sleeptime.split": split, **(tags or {})}
        self.resume_key, self.shared = resume_key, shared
        self.progress = progress
        self.parent_run_id: str | None = None
        self.results: list[ConfigResult] = []
        self.failures: list[tuple[Any, str]] = []
        self.configs = None

    # -- lifecycle ----------------------------------------------------------------------------------------
    def open(self) -> Experiment:
        """Open (or reopen) the parent run and log what the experiment is: description, data, space."""
        from optimize.tracking.runs import log_dataset

        if self.tracker is None or self.parent_run_id is not None:
            return self
        self.parent_run_id = self.tracker.start_parent(
            self.name,
            kind=self.kind,
            tags=self.tags,
            params={
                "questions_per_context": self.questions_per_context,
                "price_ratio": self.price_ratio,
                "n_examples": len(self.examples),
                "split": self.split,
                "max_error_rate": self.max_error_rate,
                **self.params,
            },
            resume_key=self.resume_key,
            description=self.description or self._default_description(),
        )
        if not self.shared:
            # One process owns this parent: a child still RUNNING was left by a run that died.
            for child in self.tracker.children(self.parent_run_id):
                if child.info.status == "RUNNING":
                    self.tracker.finish(child.info.run_id, "KILLED")
        log_dataset(self.tracker, self.parent_run_id, self.examples, name=f"{self.split}-questions",
                    context=self.split)
        if self.space is not None:
            self.tracker.log_text(self.parent_run_id, json.dumps(self.space, indent=2, default=str),
                                  "search_space.json")
        return self

    def _default_description(self) -> str:
        contexts = len({_get(e, "context_id") for e in self.examples})
        return (
            f"{self.kind} {self.name!r}: each child run is one Budget evaluated on {len(self.examples)} "
            f"{self.split} questions ({contexts} contexts). Objectives: accuracy (fraction correct, up), "
            "mean_test_tokens (generated test-time tokens per question, down), cost_per_query (sleep-token "
            f"units with a test token priced {self.price_ratio:g}x, sleep tokens amortized over "
            f"{self.questions_per_context:g} questions per context, down). Artifacts: "
            "pareto_front.csv/.md/.png (one row per distinct Budget), results/ (every configuration and "
            "example), report/ (figures)."
        )

    def __enter__(self) -> Experiment:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
        self.close(status=status)

    # -- one Budget ---------------------------------------------------------------------------------------
    def run(
        self,
        budget,
        *,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        on_start: Callable[[str], None] | None = None,
    ) -> ConfigResult:
        """Evaluate one Budget and log its child run; raises :class:`TrialFailed` when too many rows failed.

        The child run is FAILED when evaluation fails and KILLED on Ctrl-C/SIGTERM. ``on_start(run_id)`` is
        called once the child run exists (a search records it so a dead worker's run can be closed later).
        """
        config_id = budget_id(budget)
        label = run_label(budget)
        run_id = self._start_child(budget, config_id, run_name or label, tags)
        if run_id and on_start is not None:
            on_start(run_id)
        rows_dir = self.results_dir / "rows"
        rows_dir.mkdir(parents=True, exist_ok=True)
        try:
            frame = self.evaluator(
                budget,
                self.examples,
                results_path=rows_dir / f"{config_id}.jsonl",
                store=self.store,
                ledger=self.ledger,
            )
            if frame is None or len(frame) == 0:
                raise ExperimentError(
                    f"evaluating {redact(budget.to_json())} produced no rows; is the split empty?"
                )
            summary = dict(
                self.summarize(
                    frame, questions_per_context=self.questions_per_context, price_ratio=self.price_ratio
                )
            )
            self._log_traces(run_id, frame, run_label(budget))
            self._check_errors(budget, frame, summary)
            values = objective_values(summary)
            if any(math.isnan(v) for v in values):
                raise ExperimentError(f"objectives {values} for {redact(budget.to_json())} contain NaN")
            summary.update({name: value for (name, _), value in zip(OBJECTIVES, values, strict=True)})
        except KeyboardInterrupt:
            self._finish_child(run_id, "KILLED")
            raise
        except TrialFailed as exc:
            if run_id:
                self.tracker.log_metrics(run_id, self._metrics(exc.summary, frame))
                self.tracker.set_description(run_id, f"FAILED: {exc}")
            self._finish_child(run_id, "FAILED")
            self.failures.append((budget, str(exc)))
            raise
        except BaseException:
            self._finish_child(run_id, "FAILED")
            raise
        frame = frame.copy()
        frame["config_id"] = config_id
        if "error" in frame:  # an LM error message may quote an endpoint URL with its password
            frame["error"] = frame["error"].map(lambda e: redact(e) if isinstance(e, str) else e)
        frames_dir = self.results_dir / "frames"
        frames_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(frames_dir / f"{config_id}.csv", index=False)
        if run_id:
            self.tracker.log_metrics(run_id, self._metrics(summary, frame))
            self._finish_child(run_id, "FINISHED")
        result = ConfigResult(budget, config_id, summary, frame, run_id, label)
        self.results.append(result)
        return result

    def run_all(self, budgets: Sequence) -> Any:
        """Evaluate every Budget (one that fails too often is reported and skipped); returns the configs."""
        from tqdm.auto import tqdm

        rows = []
        for index, budget in enumerate(tqdm(budgets, desc=self.name, disable=not self.progress)):
            try:
                result = self.run(budget)
            except TrialFailed as exc:
                tqdm.write(f"{self.name}: {run_label(budget)} failed and is left out: {exc}")
                continue
            rows.append(result.row(trial=index, source=self.kind))
        self.configs = self._with_objective_spec(configs_table(rows))
        return self.configs

    def _with_objective_spec(self, configs):
        if len(configs):
            configs["questions_per_context"] = self.questions_per_context
            configs["price_ratio"] = self.price_ratio
        return configs

    def _check_errors(self, budget, frame, summary: Mapping[str, Any]) -> None:
        n = int(summary.get("n") or len(frame))
        errors = int(summary.get("errors") or 0)
        rate = errors / n if n else 1.0
        if n and errors < n and rate <= self.max_error_rate:
            return
        first = ""
        if "error" in frame:
            from optimize.reports.metrics import failed_rows

            failed = frame.loc[failed_rows(frame), "error"]
            first = f"; first error: {redact(str(failed.iloc[0]))[:300]}" if len(failed) else ""
        raise TrialFailed(
            f"{errors} of {n} questions failed (error rate {rate:.0%} > allowed {self.max_error_rate:.0%}) "
            f"for {run_label(budget)}{first}",
            summary=summary,
        )

    def _start_child(self, budget, config_id: str, name: str, tags: Mapping[str, str] | None) -> str | None:
        if self.tracker is None or self.parent_run_id is None:
            return None
        all_tags = {
            **self.tags,
            "sleeptime.config_id": config_id,
            **(tags or {}),
            "sleeptime.models": f"sleep={budget.sleep_model if budget.use_sleep else '-'}; "
            f"test={budget.test_model}",
        }
        run_id = self.tracker.start_child(self.parent_run_id, name=name, params=applicable_params(budget),
                                          tags=all_tags)
        self.tracker.set_description(run_id, _child_description(budget, self))
        return run_id

    def _log_traces(self, run_id: str | None, frame, label: str | None = None) -> None:
        records = getattr(frame, "attrs", {}).get("traces")
        if run_id and records and self.tracker is not None:
            from optimize.tracking.traces import log_traces

            log_traces(self.tracker, run_id, records, label=label)

    def _finish_child(self, run_id: str | None, status: str) -> None:
        if run_id and self.tracker is not None:
            self.tracker.finish(run_id, status)

    @staticmethod
    def _metrics(summary: Mapping[str, Any], frame) -> dict[str, float]:
        metrics = {k: summary[k] for k in SUMMARY_METRICS if isinstance(summary.get(k), int | float)}
        if frame is not None and len(frame):
            if "seconds" in frame:
                metrics["mean_seconds"] = float(frame["seconds"].mean())
            if "sleep_seconds" in frame:
                metrics["mean_sleep_seconds"] = float(frame["sleep_seconds"].mean())
            if summary.get("n"):
                metrics["error_rate"] = float(summary.get("errors") or 0) / float(summary["n"])
        return {k: round_metric(k, v) for k, v in metrics.items()}

    # -- the end ------------------------------------------------------------------------------------------
    def close(self, configs=None, *, status: str = "FINISHED") -> None:
        """Write the result tables, log the parent's artifacts (front table + figure, report) and close it."""
        if configs is not None:
            self.configs = configs
        if self.configs is None:
            rows = [r.row(trial=i, source=self.kind) for i, r in enumerate(self.results)]
            self.configs = self._with_objective_spec(configs_table(rows))
        write_tables(self.configs, self.results_dir)
        if self.tracker is None or self.parent_run_id is None:
            return
        try:
            log_parent_results(self.tracker, self.parent_run_id, self.results_dir)
        finally:
            self.tracker.finish(self.parent_run_id, status)


def _get(example, name: str):
    return example.get(name) if hasattr(example, "get") else getattr(example, name, None)


def _child_description(budget, experiment: Experiment) -> str:
    if budget.use_sleep:
        sleep = (f"sleep time: {budget.sleep_samples} rewrite(s) of each context, {budget.sleep_rounds} "
                 f"rethink round(s), at most {budget.sleep_max_tokens} tokens each, model "
                 f"{redact(budget.sleep_model)}")
    else:
        sleep = "no sleep time (test-time only)"
    units = "; ".join(f"{name}: {unit}" for name, unit in METRIC_UNITS.items())
    return (
        f"{run_label(budget)}. {sleep}; test time: verbosity {budget.test_verbosity} (0 = answer directly .. "
        f"4 = reason step by step and double-check), model {redact(budget.test_model)}"
        f"{', compiled prompts ' + redact(budget.compiled) if budget.compiled else ''}. Evaluated on "
        f"{len(experiment.examples)} {experiment.split} questions. Metrics - {units}."
    )


