"""What the sleep-time strategies ask the model to do, as DSPy signatures.

The context comes first in every signature, so the calls of one context share a prompt prefix the
llama.cpp server can cache.
"""

from __future__ import annotations

import dspy

from programs.signatures import CONTEXT_DESC


class AnticipateQuestions(dspy.Signature):
    """Before any question is asked, list the questions a user is most likely to ask about these facts:
    the totals, differences, shares, rates and remainders they lead to, what happens step by step, and
    what would change if one stated number changed. Each question must be answerable with a single number
    from the facts. Write one question per line, most likely first, and no answers."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    count: int = dspy.InputField(prefix="How many questions:", desc="how many questions to list")
    questions: str = dspy.OutputField(prefix="Questions:", desc="one question per line")

