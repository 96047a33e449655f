"""What each phase is asked to do, as DSPy signatures.

Field order matters for speed, not only wording: the context (and the learned context) come before the
question, so every question on one context shares a prompt prefix the llama.cpp server can cache.
"""

from __future__ import annotations

import dspy

CONTEXT_DESC = "the facts of a situation, given before any question is asked"
LEARNED_DESC = "notes worked out in advance from the facts: quantities, intermediate results and inferences"


class LearnContext(dspy.Signature):
    """Before any question is asked, work out with arithmetic the intermediate and final quantities that
    questions about these facts are likely to ask for. Use only numbers stated in the facts. Write one line
    per quantity in the form '- <quantity> = <calculation> = <result>'. Do not restate the facts."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    learned_context: str = dspy.OutputField(
        prefix="Notes:", desc="one line per quantity, e.g. '- total apples = 3 * 4 = 12'")


class RethinkContext(dspy.Signature):
    """Re-read the facts and the notes worked out so far. Check every note against the facts and fix any
    mistake, then add further quantities and inferences that likely questions will need. Return the full,
    corrected notes, one compact, checkable statement per line."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    draft_learned_context: str = dspy.InputField(prefix="Notes so far:", desc="notes to check and extend")
    learned_context: str = dspy.OutputField(prefix="Notes:", desc="the corrected and extended notes")


class MergeLearnedContexts(dspy.Signature):
    """Several sets of notes were worked out independently from the same facts. Merge them into one set:
    keep every distinct correct statement once, drop duplicates, and where two notes disagree keep the
    one that agrees with the facts. One compact, checkable statement per line."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    candidate_notes: str = dspy.InputField(prefix="Candidate notes:", desc="numbered sets of notes")
    learned_context: str = dspy.OutputField(prefix="Notes:", desc="the merged notes")


class AnswerWithLearnedContext(dspy.Signature):
    """Answer the question about the facts. The notes were worked out in advance from the same facts and
    may already contain the needed quantities. The answer is a single number."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    learned_context: str = dspy.InputField(prefix="Notes:", desc=LEARNED_DESC)
    question: str = dspy.InputField(prefix="Question:", desc="a question about the facts")
    answer: str = dspy.OutputField(prefix="Answer:", desc="the final numeric answer, a number only")


class AnswerQuestion(dspy.Signature):
    """Answer the question about the facts. The answer is a single number."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    question: str = dspy.InputField(prefix="Question:", desc="a question about the facts")
    answer: str = dspy.OutputField(prefix="Answer:", desc="the final numeric answer, a number only")


# Test-time verbosity levels as in the paper's prompts (0 = answer directly .. 4 = reason and double-check).
VERBOSITY_INSTRUCTIONS = {
    0: "Answer directly in one sentence, with no reasoning.",
    1: "Give one or two short sentences of reasoning, then the answer.",
    2: "Give a brief list of steps, then the answer.",
    3: "Reason step by step, then give the answer.",
    4: "Reason step by step, then double-check each step against the facts before giving the answer.",
}


def answer_signature(*, with_learned_context: bool, verbosity: int) -> type[dspy.Signature]:
    """The answer signature for one verbosity level: the level's instruction appended to the task.

    Example:
        >>> answer_signature(with_learned_context=False, verbosity=0).instructions.endswith("no reasoning.")
        True
    """
    if verbosity not in VERBOSITY_INSTRUCTIONS:
        raise ValueError(f"verbosity must be one of {sorted(VERBOSITY_INSTRUCTIONS)}, got {verbosity!r}")
    base = AnswerWithLearnedContext if with_learned_context else AnswerQuestion
    return base.with_instructions(f"{base.instructions}\n{VERBOSITY_INSTRUCTIONS[verbosity]}")


def answering_signature(*, with_learned_context: bool, verbosity: int) -> type[dspy.Signature]:
    """:func:`answer_signature` with a ``reasoning`` output before the answer at verbosity 1..4.

    Example:
        >>> list(answering_signature(with_learned_context=False, verbosity=3).output_fields)
        ['reasoning', 'answer']
    """
    signature = answer_signature(with_learned_context=with_learned_context, verbosity=verbosity)
    if verbosity >= 1:
        signature = signature.prepend(name="reasoning", field=dspy.OutputField(prefix="Reasoning:",
                                      desc="${reasoning}"), type_=str)
    return signature
