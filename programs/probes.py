"""Check notes before publishing them: probe questions answered from the notes at a small budget must agree
with answers from the facts alone at a large budget."""

from __future__ import annotations

import dspy

from programs.answers import extract_number, is_correct
from programs.binding import LMBinding
from programs.signatures import CONTEXT_DESC
from programs.test_time import TestTimeAnswerer


class ProposeProbeQuestions(dspy.Signature):
    """Write questions a user is likely to ask about these facts, each answered by a single number.
    One question per line, nothing else."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    questions: str = dspy.OutputField(prefix="Questions:", desc="one question per line")


class NotesProbe(dspy.Module):
    """Ask ``probes`` self-generated questions twice: with the notes at ``small_verbosity`` and from the facts
    alone at ``large_verbosity``; ``agreement`` is the share of probes whose two answers agree (None when
    no probe had a numeric reference answer). Every call runs on ``lm`` (bind it to the sleep phase: the
    check is sleep-time work).

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> def reply(messages, request):
        ...     text = messages[-1]["content"]
        ...     if "[[ ## question ## ]]" in text:
        ...         return chat_adapter_reply(reasoning="3 * 4", answer="12")
        ...     return chat_adapter_reply(questions="How many apples?\\nHow many boxes?")
        >>> with FakeEngine(reply) as engine:
        ...     lm = LMBinding(f"openai/fake@{engine.api_base}", phase="sleep", max_tokens=256)
        ...     NotesProbe(lm=lm)(context="3 boxes of 4 apples.", learned_context="apples = 12").agreement
        1.0
    """

    def __init__(self, *, probes: int = 3, small_verbosity: int = 0, large_verbosity: int = 3,
                 lm: LMBinding | None = None) -> None:
        super().__init__()
        if probes < 1:
            raise ValueError(f"probes must be >= 1, got {probes}")
        self.probes, self.lm_binding = probes, lm
        self.propose = dspy.Predict(ProposeProbeQuestions)
        self.small = TestTimeAnswerer(verbosity=small_verbosity, with_learned_context=True, lm=lm)
        self.large = TestTimeAnswerer(verbosity=large_verbosity, with_learned_context=False, lm=lm)

    def forward(self, context: str, learned_context: str) -> dspy.Prediction:
        if self.lm_binding is None:
            raise RuntimeError("this NotesProbe has no LM; build it with "
                               "lm=LMBinding(spec, phase='sleep', ...)")
        with self.lm_binding.use():
            text = self.propose(context=context).questions or ""
        lines = [line.strip(" -*0123456789.)") for line in text.splitlines()]
        questions = [line for line in lines if line.endswith("?")][: self.probes]
        checked, agreed = 0, 0
        for question in questions:
            reference = extract_number(self.large(context=context, question=question).answer)
            if reference is None:
                continue
            checked += 1
            small = self.small(context=context, question=question, learned_context=learned_context).answer
            agreed += is_correct(small, reference)
        return dspy.Prediction(questions=questions, checked=checked,
                               agreement=agreed / checked if checked else None)
