"""Sleep-time strategies: each a ``dspy.Module`` mapping a context to a learned context.

``notes`` (:class:`programs.sleep_time.SleepTimeRewriter`) writes one-shot notes; ``anticipate``
(:class:`~programs.strategies.anticipate.AnticipateAndSolve`) lists likely questions and answers each
ahead; ``compute`` has the model write a program whose values, run in the sandbox
(:mod:`programs.sandbox`), are the notes; ``anticipate+compute`` writes one program that also answers each
anticipated question (both :class:`~programs.strategies.computed.ComputedNotes`). Several samples agree
per question or per computed name. :func:`build_sleep_module` picks and sizes one from a Budget;
:func:`build_answerer` picks the test-time module the same way (``answer``, ``code``, ``pick``). The
answer phase does not care which strategy made the notes. Modules here import only ``programs`` modules
below the program layer (signatures, binding, sampling, answers, sandbox).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dspy

    from programs.binding import LMBinding
    from programs.budget import Budget


def build_sleep_module(budget: Budget, *, lm: LMBinding | None, combine: str = "concat",
                       temperature: float = 0.7, seed: int = 0) -> dspy.Module:
    """The sleep-phase module a Budget asks for (``budget.sleep_strategy``), sized by its sleep fields.

    Example:
        >>> from programs.budget import Budget
        >>> type(build_sleep_module(Budget(sleep_strategy="anticipate"), lm=None)).__name__
        'AnticipateAndSolve'
    """
    strategy = budget.sleep_strategy
    if strategy == "notes":
        from programs.sleep_time import SleepTimeRewriter

        return SleepTimeRewriter(samples=budget.sleep_samples, rounds=budget.sleep_rounds, combine=combine,
                                 temperature=temperature, seed=seed, lm=lm)
    if strategy == "anticipate":
        from programs.strategies.anticipate import AnticipateAndSolve

        return AnticipateAndSolve(questions=budget.sleep_questions, verbosity=budget.sleep_verbosity,
                                  samples=budget.sleep_samples, temperature=temperature, seed=seed, lm=lm)
    from programs.strategies.computed import ComputedNotes

    questions = budget.sleep_questions if strategy == "anticipate+compute" else 0
    return ComputedNotes(questions=questions, samples=budget.sleep_samples, combine=budget.sleep_combine,
                         temperature=temperature, seed=seed, lm=lm)


def build_answerer(budget: Budget, *, lm: LMBinding | None) -> dspy.Module:
    """The test-phase module a Budget asks for (``budget.test_strategy``), sized by its test fields.

    Example:
        >>> from programs.budget import Budget
        >>> type(build_answerer(Budget(test_strategy="pick"), lm=None)).__name__
        'NoteLinePicker'
        >>> type(build_answerer(Budget(use_sleep=False, test_verbosity=2), lm=None)).__name__
        'TestTimeAnswerer'
    """
    strategy = budget.test_strategy
    if strategy == "code":
        from programs.strategies.pot import ProgramOfThoughtAnswerer

        return ProgramOfThoughtAnswerer(lm=lm)
    if strategy == "pick":
        from programs.strategies.pick import NoteLinePicker

        return NoteLinePicker(lm=lm)
    from programs.test_time import TestTimeAnswerer

    return TestTimeAnswerer(verbosity=budget.test_verbosity, with_learned_context=budget.use_sleep, lm=lm)
