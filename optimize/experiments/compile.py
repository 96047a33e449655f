"""Compile a program's prompts (both phases, or one) with a DSPy optimizer against the train split.

Optimizers and metrics: :mod:`optimize.experiments.optimizers`; the default, ``BootstrapFewShot`` with
a few demos, runs offline on the local model in minutes; the others call the program many more times. The
metric is correctness of the answers, optionally minus ``token_penalty * test completion tokens /
test_max_tokens`` (budget-aware). What compiling cost (LM calls, tokens, seconds; the program's own calls
and the optimizer's proposal/reflection/teacher calls apart) goes into the manifest and the MLflow run.
"""

from __future__ import annotations

import inspect
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from optimize.experiments.optimizers import (
    NEEDS_HELPER,
    OPTIMIZERS,
    compile_kwargs,
    correctness_metric,
    feedback_metric,
    freeze_other_phase,
    make_optimizer,
    unfreeze,
)
from programs.budget import Budget

__all__ = ["OPTIMIZERS", "compile_program", "correctness_metric", "log_program_model"]

COMPILE_EXPERIMENT = "sleeptime-compile"


@contextmanager
def _mlflow_run(enabled: bool, tracking_uri: str | None, run_name: str, params: dict) -> Iterator[Any]:
    """A run in the project's store (``optimize.tracking.runs``: ``$SLEEPTIME_MLRUNS_DIR`` or ``mlruns/``), so
    compile runs appear in ``sleeptime ui`` beside searches and sweeps. Opened before any LM work: an
    unwritable store fails first. The fluent run is what ``mlflow.dspy.autolog`` logs the optimizer into."""
    if not enabled:
        yield None
        return
    import mlflow

    from optimize.tracking.runs import Tracker, safe_params

    tracker = Tracker(tracking_uri, experiment=COMPILE_EXPERIMENT)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracker.tracking_uri)
    try:
        mlflow.dspy.autolog(log_compiles=True, log_evals=False, log_traces=False)
    except Exception as exc:  # autolog is a nicety; the run itself is still logged
        warnings.warn(f"mlflow.dspy.autolog unavailable ({exc}); logging params and metrics only",
                      stacklevel=2)
    try:
        with mlflow.start_run(experiment_id=tracker.experiment_id, run_name=run_name) as run:
            mlflow.set_tag("sleeptime.kind", "compile")
            mlflow.log_params({k: v[:500] for k, v in safe_params(params).items()})
            yield run
    finally:
        # Autolog, the active logged model and the fluent URI are process-wide: leave them as they were, or
        # later runs in this process attach their metrics to this compile's model (in another store).
        try:
            mlflow.dspy.autolog(disable=True)
        except Exception:  # noqa: BLE001 - autolog was never enabled
            pass
        mlflow.clear_active_model()
        mlflow.set_tracking_uri(previous)


def compile_program(budget: Budget, trainset: list, *, devset: list | None = None,
                    optimizer: str = "bootstrap", max_demos: int = 2, token_penalty: float = 0.0,
                    phase: str = "both", reflection_model: str | None = None,
                    teacher_model: str | None = None,
                    candidates: int | None = None, max_metric_calls: int | None = None, ledger=None,
                    store=None, api_base: str | None = None,
                    adapter: str = "chat", out_dir=None, seed: int = 0, num_threads: int = 1,
                    data: dict | None = None, track: bool = True, tracking_uri: str | None = None,
                    lm_options: dict | None = None, progress: bool = True, command: str | None = None,
                    shuffle_train: bool = False):
    """Compile the program for ``budget`` on ``trainset``; score it on ``devset``; save it to ``out_dir``.

    Returns ``(program, scores)``; ``scores`` is :func:`~optimize.reports.metrics.summarize` on dev (empty
    without one) plus the compile cost (``compile_calls``, ``compile_tokens``, ``compile_seconds``). The saved
    manifest holds the scores, how it was compiled, data description and seed. With ``track`` the run is
    logged to MLflow (the project's store, :func:`optimize.tracking.runs.default_tracking_uri`, unless
    ``tracking_uri`` is given), the saved program as artifacts.

    ``phase`` ("both", "sleep" or "test") says which phase's prompts the optimizer may change; the other
    keeps its hand-written prompts. A sleep-phase compile takes the train questions one per context per
    round, so the rewriter's demos come from different contexts (``train_order`` in the manifest);
    ``shuffle_train`` visits the train questions in an order drawn with ``seed``, for another draw of demos.
    ``teacher_model`` runs both phases of the teacher program that bootstraps the demos (a stronger model
    teaching a cheaper student). ``store`` keeps learned contexts: by default a fresh in-memory one, so the
    rewriter really runs on train contexts; with ``phase="test"`` a persistent store lets every candidate
    (and later compiles) reuse the same notes.

    Example::

        program, scores = compile_program(Budget(test_verbosity=2), train, devset=dev, out_dir="runs/v2")
    """
    from optimize.data.splits import train_order as order_train
    from optimize.experiments.evaluate import evaluate
    from optimize.reports.metrics import summarize
    from programs.api import build_program
    from programs.lm import TokenLedger, make_lm
    from programs.store import InMemoryStore

    if not trainset:
        raise ValueError("compile needs a non-empty train set: the train split of the data has no examples "
                         "(use a dataset with more templates, or --n > 0)")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; use one of {OPTIMIZERS}")
    ledger = ledger if ledger is not None else TokenLedger()
    budget = budget.replace(compiled=None)
    trainset, train_order = order_train(trainset, phase=phase, shuffle=shuffle_train, seed=seed)
    cap = getattr(budget, "resolved_test_max_tokens", None) or budget.test_max_tokens
    metric = correctness_metric(token_penalty=token_penalty, test_max_tokens=cap)
    params = {**budget.to_dict(), "optimizer": optimizer, "phase": phase, "max_demos": max_demos,
              "teacher_model": teacher_model or "(the student)", "token_penalty": token_penalty,
              "reflection_model": reflection_model or "", "candidates": candidates or "",
              "adapter": adapter, "seed": seed,
              "train_size": len(trainset), "dev_size": len(devset or [])}
    # Optimizer-side calls (proposals, reflection, the teacher) are neither phase's cost at run time.
    helper_ledger = TokenLedger()
    with _mlflow_run(track, tracking_uri, f"compile-{optimizer}-{phase}", params) as run:
        def fresh(program_budget: Budget, program_ledger):
            return build_program(program_budget, ledger=program_ledger,
                                 store=store if store is not None else InMemoryStore(),
                                 api_base=api_base, adapter=adapter, seed=seed, lm_options=lm_options)

        student = fresh(budget, ledger)
        freeze_other_phase(student, phase)
        helper = None
        if optimizer in NEEDS_HELPER:
            spec = reflection_model or (None if optimizer == "gepa" else budget.test_model)
            helper = spec and make_lm(spec, phase="test", ledger=helper_ledger, api_base=api_base,
                                      temperature=1.0, max_tokens=2048, **(lm_options or {}))
        chosen = make_optimizer(optimizer, metric=metric,
                                feedback=feedback_metric(token_penalty=token_penalty, test_max_tokens=cap),
                                max_demos=max_demos, helper_lm=helper, train_size=len(trainset),
                                candidates=candidates, max_metric_calls=max_metric_calls,
                                num_threads=num_threads, seed=seed)
        teacher = None
        if teacher_model:
            teacher = fresh(budget.replace(sleep_model=teacher_model, test_model=teacher_model),
                            helper_ledger)
            freeze_other_phase(teacher, phase)
        kwargs = compile_kwargs(optimizer, chosen, trainset, devset, teacher=teacher, num_trials=candidates,
                                seed=seed)
        before, started = len(ledger.calls), time.perf_counter()
        program = chosen.compile(student, **kwargs)
        cost = _compile_cost(ledger.calls[before:], helper_ledger.calls, time.perf_counter() - started)
        unfreeze(program)
        scores: dict = {}
        if devset:
            frame = evaluate(program, devset, ledger=ledger, num_threads=num_threads, progress=progress)
            scores = {f"dev_{k}": v for k, v in summarize(frame).items() if isinstance(v, int | float)}
        scores.update({f"compile_{k}": v for k, v in cost.items()})
        if out_dir is not None:
            how = {"optimizer": optimizer, "phase": phase, "max_demos": max_demos,
                   "token_penalty": token_penalty, "teacher_model": teacher_model,
                   "reflection_model": reflection_model, "candidates": candidates,
                   "max_metric_calls": max_metric_calls, "adapter": adapter, "train_size": len(trainset),
                   "train_contexts": len({getattr(e, "context_id", None) for e in trainset}),
                   "train_order": train_order, "cost": cost, **({"command": command} if command else {})}
            program.save_bundle(out_dir, data=data, seed=seed, scores=scores, compiled_with=how)
        if run is not None:
            import mlflow

            mlflow.log_metrics({k: float(v) for k, v in scores.items() if v == v})  # skip NaN
            if out_dir is not None:
                mlflow.log_artifacts(str(out_dir), artifact_path="program")
            log_program_model(program)
    return program, scores


def _compile_cost(program_calls: list, helper_calls: list, seconds: float) -> dict[str, float]:
    """LM calls and tokens compiling spent: the program's own calls, and the optimizer's (helper) calls."""
    def tokens(calls: list) -> int:
        return sum(c.prompt_tokens + c.completion_tokens for c in calls)

    return {"seconds": round(seconds, 1), "program_calls": len(program_calls),
            "program_tokens": tokens(program_calls), "helper_calls": len(helper_calls),
            "helper_tokens": tokens(helper_calls),
            "calls": len(program_calls) + len(helper_calls),
            "tokens": tokens(program_calls) + tokens(helper_calls)}


MODEL_NAME = "compiled_program"
"""Name of the MLflow model a compile run logs: ``mlflow.dspy.load_model(f"runs:/{run_id}/compiled_program")``
(MLflow refuses pickled models unless ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true``)."""


def log_program_model(program) -> str | None:
    """Log ``program`` as an MLflow DSPy model in the active run; return its model URI, or None (with a
    warning and the tag ``sleeptime.model_logged=false``) when the program cannot be serialized.

    DSPy's own whole-program save (``save(dir, save_program=True)``) is used when the program's ``save``
    keeps DSPy's meaning; otherwise MLflow's cloudpickle of the program.
    """
    import mlflow

    accepts = "save_program" in inspect.signature(program.save).parameters
    try:
        info = mlflow.dspy.log_model(program, name=MODEL_NAME, use_dspy_model_save=accepts)
    except Exception as exc:  # noqa: BLE001 - the compile result is saved already; the model is a nicety
        mlflow.set_tag("sleeptime.model_logged", "false")
        warnings.warn(f"the compiled program was not logged as an MLflow model ({type(exc).__name__}: "
                      f"{str(exc)[:200]}); its files are under the run's 'program' artifacts", stacklevel=2)
        return None
    mlflow.set_tag("sleeptime.model_logged", "true")
    _drop_autolog_placeholder(mlflow.active_run())
    return info.model_uri


def _drop_autolog_placeholder(run) -> None:
    """``mlflow.dspy.autolog`` makes an empty model named "dspy" at compile start (so the UI shows a Run
    tab) and never finishes it: with the real model logged, that PENDING placeholder only misleads."""
    from mlflow import MlflowClient

    client = MlflowClient()
    try:
        for model in client.search_logged_models([run.info.experiment_id]):
            if model.source_run_id == run.info.run_id and model.name == "dspy" and \
                    str(getattr(model.status, "name", model.status)).upper() == "PENDING":
                client.delete_logged_model(model.model_id)
    except Exception as exc:  # noqa: BLE001 - cosmetic: the real model is logged either way
        warnings.warn(f"could not remove autolog's placeholder model ({exc})", stacklevel=2)
