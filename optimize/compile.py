"""Compile a program's prompts (both phases) with a DSPy optimizer against the train split.

The default, ``BootstrapFewShot`` with a few demos, runs offline on the local model in reasonable time;
``mipro`` (MIPROv2) and ``gepa`` (GEPA, needs a reflection model) are heavier. The metric is correctness,
optionally minus ``token_penalty * test completion tokens / test_max_tokens`` (budget-aware).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from programs.answers import is_correct
from programs.budget import Budget

OPTIMIZERS = ("bootstrap", "mipro", "gepa")
COMPILE_EXPERIMENT = "sleeptime-compile"


def correctness_metric(*, token_penalty: float = 0.0, test_max_tokens: int = 256) -> Callable:
    """The compile metric: 1 if the answer is right else 0, minus the optional token penalty.

    While bootstrapping demos (``trace`` given) only correctness counts, so a kept demo is a right answer.
    The five-argument form is what GEPA calls; the others ignore the extra arguments.

    Example:
        >>> import dspy
        >>> metric = correctness_metric(token_penalty=0.5, test_max_tokens=100)
        >>> prediction = dspy.Prediction(answer="12", test_usage={"completion_tokens": 20})
        >>> metric(dspy.Example(answer="12"), prediction)
        0.9
    """
    if token_penalty < 0:
        raise ValueError(f"token_penalty must be >= 0, got {token_penalty}")

    def metric(example, prediction, trace=None, pred_name=None, pred_trace=None) -> float | bool:
        right = is_correct(prediction.get("answer"), example.get("answer"))
        if trace is not None:
            return right
        usage = prediction.get("test_usage") or {}
        penalty = token_penalty * float(usage.get("completion_tokens") or 0) / max(test_max_tokens, 1)
        return float(right) - penalty

    return metric


def _accepts(function: Callable, name: str) -> bool:
    return name in inspect.signature(function).parameters


def _optimizer(name: str, metric: Callable, *, budget: Budget, max_demos: int, reflection_model: str | None,
               api_base: str | None, num_threads: int, seed: int, lm_options: dict | None):
    import dspy

    from programs.lm import TokenLedger, make_lm

    if name == "bootstrap":
        return dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=max_demos, max_labeled_demos=0,
                                     max_rounds=1)
    # Optimizer-side calls (proposals, reflection) go to their own ledger: they are neither phase's cost.
    helper_spec = reflection_model or budget.test_model
    helper = make_lm(helper_spec, phase="test", ledger=TokenLedger(), api_base=api_base, temperature=1.0,
                     max_tokens=2048, **(lm_options or {}))
    if name == "mipro":
        return dspy.MIPROv2(metric=metric, prompt_model=helper, auto="light",
                            max_bootstrapped_demos=max_demos, max_labeled_demos=0,
                            num_threads=num_threads, seed=seed)
    if name == "gepa":
        if not reflection_model:
            raise ValueError("GEPA needs a reflection model: pass --reflection-model SPEC (a stronger "
                             "model is best, e.g. openai/gpt-4o-mini)")
        return dspy.GEPA(metric=metric, reflection_lm=helper, auto="light", num_threads=num_threads,
                         seed=seed)
    raise ValueError(f"unknown optimizer {name!r}; use one of {OPTIMIZERS}")


@contextmanager
def _mlflow_run(enabled: bool, tracking_uri: str | None, run_name: str, params: dict) -> Iterator[Any]:
    """A run in the project's store (``optimize.tracking``: ``$SLEEPTIME_MLRUNS_DIR`` or ``mlruns/``), so
    compile runs appear in ``sleeptime ui`` beside searches and sweeps. Opened before any LM work: an
    unwritable store fails first. The fluent run is what ``mlflow.dspy.autolog`` logs the optimizer into."""
    if not enabled:
        yield None
        return
    import mlflow

    from optimize.tracking import Tracker, safe_params

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
                    reflection_model: str | None = None, teacher_model: str | None = None, ledger=None,
                    api_base: str | None = None,
                    adapter: str = "chat", out_dir=None, seed: int = 0, num_threads: int = 1,
                    data: dict | None = None, track: bool = True, tracking_uri: str | None = None,
                    lm_options: dict | None = None, progress: bool = True):
    """Compile the program for ``budget`` on ``trainset``; score it on ``devset``; save it to ``out_dir``.

    Returns ``(program, scores)``; ``scores`` is :func:`optimize.metrics.summarize` on the dev set (empty
    without one). The saved manifest holds the scores, data description and seed. With ``track`` the run
    is logged to MLflow (the project's store, :func:`optimize.tracking.default_tracking_uri`, unless
    ``tracking_uri`` is given), the saved program as artifacts. ``teacher_model`` runs both phases of the
    teacher program that bootstraps the demos (a stronger model teaching a cheaper student); the teacher's
    calls go to their own ledger, as they are neither phase's cost at run time.

    Example::

        program, scores = compile_program(Budget(test_verbosity=2), train, devset=dev, out_dir="runs/v2")
    """
    from optimize.evaluate import evaluate
    from optimize.metrics import summarize
    from programs.api import build_program
    from programs.lm import TokenLedger
    from programs.store import InMemoryStore

    if not trainset:
        raise ValueError("compile needs a non-empty train set: the train split of the data has no examples "
                         "(use a dataset with more templates, or --n > 0)")
    ledger = ledger if ledger is not None else TokenLedger()
    budget = budget.replace(compiled=None)
    cap = getattr(budget, "resolved_test_max_tokens", None) or budget.test_max_tokens
    metric = correctness_metric(token_penalty=token_penalty, test_max_tokens=cap)
    params = {**budget.to_dict(), "optimizer": optimizer, "max_demos": max_demos,
              "teacher_model": teacher_model or "(the student)", "token_penalty": token_penalty,
              "adapter": adapter, "seed": seed,
              "train_size": len(trainset), "dev_size": len(devset or [])}
    with _mlflow_run(track, tracking_uri, f"compile-{optimizer}", params) as run:
        def fresh(program_budget: Budget, program_ledger):
            # A fresh store: the rewriter must really run on train contexts for its demos to be bootstrapped.
            return build_program(program_budget, ledger=program_ledger, store=InMemoryStore(),
                                 api_base=api_base, adapter=adapter, seed=seed, lm_options=lm_options)

        student = fresh(budget, ledger)
        chosen = _optimizer(optimizer, metric, budget=budget, max_demos=max_demos,
                            reflection_model=reflection_model, api_base=api_base, num_threads=num_threads,
                            seed=seed, lm_options=lm_options)
        kwargs: dict[str, Any] = {"trainset": list(trainset)}
        if teacher_model:
            kwargs["teacher"] = fresh(budget.replace(sleep_model=teacher_model, test_model=teacher_model),
                                      TokenLedger())
        if optimizer != "bootstrap" and devset:
            kwargs["valset"] = list(devset)
        if _accepts(chosen.compile, "requires_permission_to_run"):
            kwargs["requires_permission_to_run"] = False
        program = chosen.compile(student, **kwargs)
        scores: dict = {}
        if devset:
            frame = evaluate(program, devset, ledger=ledger, num_threads=num_threads, progress=progress)
            scores = {f"dev_{k}": v for k, v in summarize(frame).items() if isinstance(v, int | float)}
        if out_dir is not None:
            how = {"optimizer": optimizer, "max_demos": max_demos, "token_penalty": token_penalty,
                   "teacher_model": teacher_model, "reflection_model": reflection_model, "adapter": adapter,
                   "train_size": len(trainset)}
            program.save_bundle(out_dir, data=data, seed=seed, scores=scores, compiled_with=how)
        if run is not None:
            import mlflow

            mlflow.log_metrics({k: float(v) for k, v in scores.items() if v == v})  # skip NaN
            if out_dir is not None:
                mlflow.log_artifacts(str(out_dir), artifact_path="program")
            log_program_model(program)
    return program, scores


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
