"""What the sleep-time strategies ask the model to do, as DSPy signatures.

The context comes first in every signature, so the calls of one context share a prompt prefix the
llama.cpp server can cache.
"""

from __future__ import annotations

import dspy

from programs.signatures import CONTEXT_DESC, LEARNED_DESC


class AnticipateQuestions(dspy.Signature):
    """Before any question is asked, list the questions a user is most likely to ask about these facts:
    the totals, differences, shares, rates and remainders they lead to, what happens step by step, and
    what would change if one stated number changed. Each question must be answerable with a single number
    from the facts. Write one question per line, most likely first, and no answers."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    count: int = dspy.InputField(prefix="How many questions:", desc="how many questions to list")
    questions: str = dspy.OutputField(prefix="Questions:", desc="one question per line")

CODE_DESC = "Python source only (no markdown fences, no explanation)"


class WriteQuantitiesProgram(dspy.Signature):
    """Before any question is asked, write a Python program that computes every quantity these facts
    support: each number given in the facts and every intermediate and final result that a question about
    the facts could ask for. Store each quantity in its own top-level variable whose snake_case name says
    what it counts in the words of these facts. Use only numbers stated in the facts.
    Plain Python with the standard library only: no input(), no printing, no functions needed."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    code: str = dspy.OutputField(prefix="Program:", desc=CODE_DESC)


class WriteQuantitiesForQuestionsProgram(dspy.Signature):
    """Before any question is asked, write a Python program that computes every quantity these facts
    support, including one top-level variable per likely question holding that question's answer. Give each
    quantity its own top-level variable whose snake_case name says what it counts in the words of these
    facts. Use only numbers stated in the facts.
    Plain Python with the standard library only: no input(), no printing, no functions needed."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    questions: str = dspy.InputField(prefix="Likely questions:",
                                     desc="one per line; answer each in a variable")
    code: str = dspy.OutputField(prefix="Program:", desc=CODE_DESC)


class RepairQuantitiesProgram(dspy.Signature):
    """A Python program meant to compute the quantities these facts support, each as a top-level variable
    with a descriptive snake_case name, failed when it ran. Fix it using the error, keeping every
    quantity. Use only numbers stated in the facts; standard library only; no input(), no printing."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    code: str = dspy.InputField(prefix="Program:", desc="the program that failed")
    error: str = dspy.InputField(prefix="Error:", desc="what went wrong when it ran")
    fixed_code: str = dspy.OutputField(prefix="Fixed program:", desc=CODE_DESC)


class WriteAnswerProgram(dspy.Signature):
    """Write a Python program that computes the answer to the question from the facts, step by step in
    variables with descriptive names, and stores the final numeric answer in a variable named `answer`.
    Use only numbers stated in the facts. Standard library only: no input(), no printing needed."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    question: str = dspy.InputField(prefix="Question:", desc="a question about the facts")
    code: str = dspy.OutputField(prefix="Program:", desc=CODE_DESC)


class RepairAnswerProgram(dspy.Signature):
    """A Python program meant to compute the answer to the question from the facts, in a variable named
    `answer`, failed when it ran. Fix it using the error. Use only numbers stated in the facts; standard
    library only; no input(), no printing needed."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    question: str = dspy.InputField(prefix="Question:", desc="a question about the facts")
    code: str = dspy.InputField(prefix="Program:", desc="the program that failed")
    error: str = dspy.InputField(prefix="Error:", desc="what went wrong when it ran")
    fixed_code: str = dspy.OutputField(prefix="Fixed program:", desc=CODE_DESC)


class PickNoteLine(dspy.Signature):
    """Answer the question about the facts from the notes, which were worked out in advance from the same
    facts. Find the one notes line whose value is the answer and copy that line exactly, name and value.
    Do not compute anything."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    learned_context: str = dspy.InputField(prefix="Notes:", desc=LEARNED_DESC)
    question: str = dspy.InputField(prefix="Question:", desc="a question about the facts")
    line: str = dspy.OutputField(prefix="Line:", desc="the notes line that answers the question, copied")
