"""Sleep-time strategy "compute exactly": a program computes the quantities, the sandbox runs it, the notes
list what it computed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dspy
from dspy.utils.exceptions import AdapterParseError

from programs.binding import LMBinding, module_fingerprint, prepare_phase
from programs.sandbox import SandboxRun, thread_sandbox
from programs.signatures import LearnContext
from programs.strategies.agreement import RankedValue
from programs.strategies.code_runs import (
    extract_code,
    format_number,
    readable_name,
    reply_without_field_markers,
    run_with_one_repair,
)
from programs.strategies.signatures import (
    RepairQuantitiesProgram,
    WriteQuantitiesForQuestionsProgram,
    WriteQuantitiesProgram,
)


def quantities_problem(run: SandboxRun) -> str | None:
    """Why a run gives no notes (its error, or no numbers), or None when it computed something.

    Example:
        >>> quantities_problem(SandboxRun(values={}, error=None))
        'the program ran but defined no top-level int or float variables; store each quantity in one'
    """
    if run.error is not None:
        return run.error
    if not run.values:
        return "the program ran but defined no top-level int or float variables; store each quantity in one"
    return None


def output_or_reply(call: Callable[[], dspy.Prediction], field: str) -> str:
    """A predictor's output ``field``, or, when the adapter cannot parse the reply (a sampled program written
    without its field header), the reply without field markers: the program is still in it, and a sample
    whose reply cannot be read must not cost its context the other samples.

    Example:
        >>> from dspy.utils.exceptions import AdapterParseError
        >>> reply = "n = 3\\n[[ ## completed ## ]]"
        >>> def unparsed():
        ...     raise AdapterParseError("ChatAdapter", dspy.Signature("context -> code"), reply)
        >>> output_or_reply(unparsed, "code")
        'n = 3'
    """
    try:
        return getattr(call(), field) or ""
    except AdapterParseError as error:
        return reply_without_field_markers(error.lm_response)


def quantities_as_notes(values: dict[str, int | float]) -> str:
    """One note line per computed quantity, the variable name read as words.

    Example:
        >>> print(quantities_as_notes({"scones_left_after_market": 42, "price_per_scone": 2.5}))
        - scones left after market = 42
        - price per scone = 2.5
    """
    return "\n".join(f"- {readable_name(name)} = {format_number(value)}" for name, value in values.items())


def support_words(support: int, programs: int) -> str:
    """How many programs computed a value, in words: digits here would read as a quantity of the context
    (and count as stating a gold number that happens to equal them).

    Example:
        >>> support_words(5, 8), support_words(4, 8), support_words(1, 8), support_words(1, 1)
        ('most programs', 'some programs', 'one program', 'most programs')
    """
    if support * 2 > programs:
        return "most programs"
    return "one program" if support <= 1 else "some programs"


def ranked_notes(entries: Sequence[RankedValue], programs: int, *, names_per_line: int = 3) -> str:
    """One note line per value: its first ``names_per_line`` names read as words, and how many of
    ``programs`` computed it (:func:`support_words`).

    Example:
        >>> entries = [RankedValue(("total_eggs", "eggs_total"), 16, 3), RankedValue(("price",), 2.0, 1)]
        >>> print(ranked_notes(entries, programs=3))
        - total eggs, eggs total = 16 (most programs)
        - price = 2 (one program)
    """
    return "\n".join(f"- {', '.join(readable_name(name) for name in entry.names[:names_per_line])} = "
                     f"{format_number(entry.value)} ({support_words(entry.support, programs)})"
                     for entry in entries)


class ComputeQuantities(dspy.Module):
    """Make a learned context by computing: the sleep model writes a program, the sandbox runs it.

    The program computes every quantity the context supports as named top-level variables (with
    ``questions``, also one variable answering each). The learned context lists each ``name = value`` the
    run produced. A program that fails (an error, or no numbers) is repaired once from its error; if the
    repair fails too, the notes are today's text notes (:class:`programs.signatures.LearnContext`). The
    prediction carries ``learned_context``, the ``code`` that ran last, the ``quantities`` it computed (name
    to value; not ``values``, which is a Prediction method), ``repairs`` (0 or 1), ``fallback`` (whether the
    notes are text notes), the last ``error`` and ``sandbox_seconds``. Every call runs on the
    sleep-phase LM bound by ``lm`` (as :class:`programs.sleep_time.SleepTimeRewriter` does); programs run in
    the calling thread's :func:`programs.sandbox.thread_sandbox` with the given bounds.

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> from programs.binding import LMBinding
        >>> program = "boxes = 3\\napples_per_box = 4\\ntotal_apples = boxes * apples_per_box"
        >>> with FakeEngine(lambda m, r: chat_adapter_reply(code=program)) as engine:
        ...     lm = LMBinding(f"openai/fake@{engine.api_base}", phase="sleep", max_tokens=256)
        ...     result = ComputeQuantities(lm=lm)(context="3 boxes of 4 apples.")
        >>> print(result.learned_context)
        - boxes = 3
        - apples per box = 4
        - total apples = 12
        >>> result.repairs, result.fallback
        (0, False)
    """

    def __init__(self, *, timeout_seconds: float = 10.0, memory_mb: int | None = 512,
                 lm: LMBinding | None = None) -> None:
        super().__init__()
        self.timeout_seconds, self.memory_mb, self.lm_binding = timeout_seconds, memory_mb, lm
        self.write = dspy.Predict(WriteQuantitiesProgram)
        self.write_for_questions = dspy.Predict(WriteQuantitiesForQuestionsProgram)
        self.repair = dspy.Predict(RepairQuantitiesProgram)
        self.notes = dspy.Predict(LearnContext)

    def fingerprint(self) -> str:
        """Everything about this strategy that shapes c' besides the budget: prompts, demos, bounds."""
        return module_fingerprint(self, self.lm_binding, strategy="compute",
                                  timeout_seconds=self.timeout_seconds, memory_mb=self.memory_mb)

    def forward(self, context: str, questions: list[str] | None = None,
                lm: dspy.BaseLM | None = None) -> dspy.Prediction:
        adapter, config = prepare_phase(self, self.lm_binding)
        sandbox = thread_sandbox(timeout_seconds=self.timeout_seconds, memory_mb=self.memory_mb)
        on_lm = {"lm": lm} if lm is not None else {}  # a sample on a rollout copy; lm=None means "no LM"
        with dspy.context(adapter=adapter):
            if questions:
                listed = "\n".join(f"{index}. {question}" for index, question in enumerate(questions, 1))
                reply = output_or_reply(lambda: self.write_for_questions(
                    context=context, questions=listed, config=config, **on_lm), "code")
            else:
                reply = output_or_reply(lambda: self.write(context=context, config=config, **on_lm), "code")

            def repair(code: str, error: str) -> str:
                fixed = output_or_reply(lambda: self.repair(context=context, code=code, error=error,
                                                            config=config, **on_lm), "fixed_code")
                return extract_code(fixed)

            attempt = run_with_one_repair(sandbox, extract_code(reply), problem_of=quantities_problem,
                                          repair=repair)
            if attempt.ok:
                notes, values = quantities_as_notes(attempt.run.values), dict(attempt.run.values)
            else:
                notes = output_or_reply(lambda: self.notes(context=context, config=config, **on_lm),
                                        "learned_context").strip()
                values = {}
        return dspy.Prediction(learned_context=notes, code=attempt.code, quantities=values,
                               repairs=attempt.repairs, fallback=not attempt.ok, error=attempt.problem,
                               sandbox_seconds=attempt.seconds)
