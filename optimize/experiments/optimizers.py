"""The DSPy optimizers ``sleeptime compile`` runs, their metrics, and the phase of a program they change.

Every optimizer is scored on the *answers* of the whole sleep-then-answer program: the notes a rewriter
writes only count through what they do downstream. The choice of optimizer follows DSPy's guidance for
small models and small train sets:

- ``bootstrap``: ``BootstrapFewShot``, demos from the train traces whose answers were right;
- ``random-search``: ``BootstrapFewShotWithRandomSearch``, several bootstrapped candidates scored on dev;
- ``mipro``: ``MIPROv2``, instructions proposed by a (stronger) prompt model plus demos, searched with Optuna;
- ``simba``: ``SIMBA``, mini-batch self-reflective rules and demos (batch size lowered to the train set);
- ``gepa``: ``GEPA``, instructions evolved by a reflection model from written feedback
  (:func:`feedback_metric`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from programs.answers import extract_number, is_correct, numbers_in

OPTIMIZERS = ("bootstrap", "random-search", "mipro", "simba", "gepa")
PHASES = ("both", "sleep", "test")
NEEDS_HELPER = ("mipro", "simba", "gepa")  # optimizers that call a model of their own (proposals, reflection)


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


def feedback_metric(*, token_penalty: float = 0.0, test_max_tokens: int = 256) -> Callable:
    """GEPA's metric: the score of :func:`correctness_metric` and written feedback a reflection model can use.

    The feedback names the gold answer, the given one, and whether the gold number was already stated in
    the learned context (the notes did the work, or the answerer had to compute it from the raw context).

    Example:
        >>> import dspy
        >>> metric = feedback_metric()
        >>> gold = dspy.Example(answer="42")
        >>> result = metric(gold, dspy.Prediction(answer="40", learned_context="Total cost: 42 dollars."))
        >>> result.score, "notes already state 42" in result.feedback
        (0.0, True)
    """
    import dspy

    score_of = correctness_metric(token_penalty=token_penalty, test_max_tokens=test_max_tokens)

    def metric(example, prediction, trace=None, pred_name=None, pred_trace=None) -> Any:
        score = score_of(example, prediction)
        gold, given = example.get("answer"), prediction.get("answer")
        notes = prediction.get("learned_context")
        if is_correct(given, gold):
            text = f"Correct: the answer {gold} is right."
        else:
            shown = extract_number(str(given)) if given is not None else None
            text = (f"Wrong: the answer given was {given!r} (read as {shown}); the correct answer is {gold}."
                    if shown is not None else
                    f"Wrong: no number could be read from {given!r}; the correct answer is {gold}.")
        if notes is not None:
            stated = _states_number(notes, gold)
            if pred_name is None or "rewriter" in str(pred_name):
                text += (" The sleep-time notes already state " if stated else
                         " The sleep-time notes do not state ") + f"{gold}" + (
                    ": the notes did their job." if stated else
                    ": notes that compute the quantities a question is likely to ask would help.")
            else:
                text += (f" The notes already state {gold}: read it from them rather than recomputing."
                         if stated else " The notes do not state it: compute it from the context and notes.")
        return dspy.Prediction(score=score, feedback=text)

    return metric


def _states_number(notes: str, gold: Any) -> bool:
    """True when a number equal to ``gold`` appears in ``notes`` (the same number reading as scoring)."""
    return any(is_correct(value, gold) for value in numbers_in(notes or ""))


def freeze_other_phase(program: Any, phase: str) -> list[Any]:
    """Let an optimizer change only ``phase`` of ``program`` ("both", "sleep" or "test").

    DSPy leaves a sub-module marked compiled out of ``named_parameters``, so optimizers neither bootstrap
    demos for it nor propose instructions to it. Returns the frozen sub-modules; :func:`unfreeze` them before
    saving, or their prompts would be left out of the saved state.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; use one of {PHASES}")
    if phase == "sleep" and getattr(program, "rewriter", None) is None:
        raise ValueError("--phase sleep needs a program with a sleep phase (a Budget with use_sleep)")
    frozen = {"both": [], "sleep": [program.answerer], "test": [program.rewriter]}[phase]
    frozen = [module for module in frozen if module is not None]
    for module in frozen:
        module._compiled = True
    return frozen


def unfreeze(program: Any) -> None:
    """Undo :func:`freeze_other_phase` on ``program`` (the optimizer's result: a copy of the student)."""
    for module in (getattr(program, "rewriter", None), getattr(program, "answerer", None)):
        if module is not None:
            module._compiled = False


def make_optimizer(name: str, *, metric: Callable, feedback: Callable | None = None, max_demos: int = 2,
                   helper_lm: Any = None, train_size: int = 0, candidates: int | None = None,
                   max_metric_calls: int | None = None, num_threads: int = 1, seed: int = 0) -> Any:
    """The DSPy optimizer ``name`` with settings sized for small local models and small train sets.

    ``helper_lm`` proposes instructions (MIPROv2, SIMBA) or reflects (GEPA); ``candidates`` is the number of
    candidate programs (random search), instruction candidates (MIPROv2) or steps (SIMBA);
    ``max_metric_calls`` bounds GEPA (default: about four passes over the train set).

    Example:
        >>> make_optimizer("bootstrap", metric=correctness_metric()).__class__.__name__
        'BootstrapFewShot'
    """
    import dspy

    if name == "bootstrap":
        return dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=max_demos, max_labeled_demos=0,
                                     max_rounds=1)
    if name == "random-search":
        return dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, max_bootstrapped_demos=max_demos, max_labeled_demos=0, max_rounds=1,
            num_candidate_programs=candidates or 4, num_threads=num_threads)
    if name in NEEDS_HELPER and helper_lm is None:
        raise ValueError(f"{name} needs a model of its own: pass --reflection-model SPEC (the stronger local "
                         "model is the usual choice, e.g. local:qwen2.5-coder-1.5b)")
    if name == "mipro":
        return dspy.MIPROv2(metric=metric, prompt_model=helper_lm, task_model=helper_lm, auto=None,
                            num_candidates=candidates or 4, max_bootstrapped_demos=max_demos,
                            max_labeled_demos=0, num_threads=num_threads, seed=seed)
    if name == "simba":
        return dspy.SIMBA(metric=metric, bsize=max(2, min(32, train_size)), num_candidates=4,
                          max_steps=candidates or 4, max_demos=max_demos, prompt_model=helper_lm,
                          num_threads=num_threads)
    if name == "gepa":
        return dspy.GEPA(metric=feedback or metric, reflection_lm=helper_lm,
                         max_metric_calls=max_metric_calls or max(40, 4 * train_size),
                         num_threads=num_threads, seed=seed)
    raise ValueError(f"unknown optimizer {name!r}; use one of {OPTIMIZERS}")


def compile_kwargs(name: str, optimizer: Any, trainset: list, devset: list | None, *, teacher: Any = None,
                   num_trials: int | None = None, seed: int = 0) -> dict[str, Any]:
    """The ``compile(...)`` arguments ``name`` takes: dev selects where the optimizer can use a valset."""
    import inspect

    accepted = inspect.signature(optimizer.compile).parameters
    kwargs: dict[str, Any] = {"trainset": list(trainset)}
    if teacher is not None and "teacher" in accepted:
        kwargs["teacher"] = teacher
    if devset and "valset" in accepted and name != "bootstrap":
        kwargs["valset"] = list(devset)
    if name == "mipro":
        kwargs.update(num_trials=num_trials or 6, minibatch=len(devset or trainset) > 35)
    if "requires_permission_to_run" in accepted:
        kwargs["requires_permission_to_run"] = False
    if name == "simba":
        kwargs["seed"] = seed
    return kwargs
