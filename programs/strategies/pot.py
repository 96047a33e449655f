"""Program of thought at test time, the fair baseline for "compute exactly": code written and run per
question."""

from __future__ import annotations

import dspy

from programs.binding import LMBinding, prepare_phase
from programs.sandbox import SandboxRun, thread_sandbox
from programs.strategies.code_runs import extract_code, format_number, run_with_one_repair
from programs.strategies.signatures import RepairAnswerProgram, WriteAnswerProgram

ANSWER_VARIABLE = "answer"


def answer_problem(run: SandboxRun) -> str | None:
    """Why a run gives no answer (its error, or no numeric ``answer`` variable), or None when it does.

    Example:
        >>> answer_problem(SandboxRun(values={"total": 12}))
        "the program ran but defined no int or float variable named 'answer'; store the final result in it"
    """
    if run.error is not None:
        return run.error
    if ANSWER_VARIABLE not in run.values:
        return (f"the program ran but defined no int or float variable named {ANSWER_VARIABLE!r}; "
                "store the final result in it")
    return None


class ProgramOfThoughtAnswerer(dspy.Module):
    """Answer a question about a context by writing a program per question and running it in the sandbox.

    The answer is the value of the program's variable ``answer``. A program that fails (an error, or no
    numeric ``answer``) is repaired once from its error; if the repair fails too, the answer is empty and
    ``failed`` is True (results count these as unparsed replies; a number read out of program text would
    be a guess, not a lenient reading). The prediction carries ``answer``, the ``code`` that ran last,
    ``repairs`` (0 or 1), ``failed``, the last ``error`` and ``sandbox_seconds``. Every call runs on the
    test-phase LM bound by ``lm`` (tokens go to its ledger); ``lm=`` on a call runs that one question on
    another LM (a rollout copy, see :mod:`programs.sampling`).

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> from programs.binding import LMBinding
        >>> program = "boxes = 3\\napples_per_box = 4\\nanswer = boxes * apples_per_box"
        >>> with FakeEngine(lambda m, r: chat_adapter_reply(code=program)) as engine:
        ...     lm = LMBinding(f"openai/fake@{engine.api_base}", phase="test", max_tokens=256)
        ...     result = ProgramOfThoughtAnswerer(lm=lm)(context="3 boxes of 4 apples.",
        ...                                              question="How many apples?")
        >>> result.answer, result.repairs, result.failed
        ('12', 0, False)
    """

    def __init__(self, *, timeout_seconds: float = 10.0, memory_mb: int | None = 512,
                 lm: LMBinding | None = None) -> None:
        super().__init__()
        self.timeout_seconds, self.memory_mb, self.lm_binding = timeout_seconds, memory_mb, lm
        self.write = dspy.Predict(WriteAnswerProgram)
        self.repair = dspy.Predict(RepairAnswerProgram)

    def forward(self, context: str, question: str, learned_context: str | None = None,
                lm: dspy.BaseLM | None = None) -> dspy.Prediction:
        if learned_context is not None:
            raise ValueError("ProgramOfThoughtAnswerer answers from the context alone and reads no notes; "
                             "pass learned_context=None (a test-time-only baseline)")
        adapter, config = prepare_phase(self, self.lm_binding)
        sandbox = thread_sandbox(timeout_seconds=self.timeout_seconds, memory_mb=self.memory_mb)
        on_lm = {"lm": lm} if lm is not None else {}  # Predict reads a passed lm=None as "no LM"
        with dspy.context(adapter=adapter):
            reply = self.write(context=context, question=question, config=config, **on_lm).code

            def repair(code: str, error: str) -> str:
                fixed = self.repair(context=context, question=question, code=code, error=error,
                                    config=config, **on_lm).fixed_code
                return extract_code(fixed)

            attempt = run_with_one_repair(sandbox, extract_code(reply), problem_of=answer_problem,
                                          repair=repair)
        answer = format_number(attempt.run.values[ANSWER_VARIABLE]) if attempt.ok else ""
        return dspy.Prediction(answer=answer, code=attempt.code, repairs=attempt.repairs,
                               failed=not attempt.ok, error=attempt.problem, sandbox_seconds=attempt.seconds)
