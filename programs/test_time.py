"""T: the test-time answerer, answering one question at a verbosity level within a token limit."""

from __future__ import annotations

import dspy

from programs.binding import LMBinding, prepare_phase
from programs.signatures import VERBOSITY_INSTRUCTIONS, answering_signature


class TestTimeAnswerer(dspy.Module):
    """Answer a question about a context (and its learned context, when given) at one verbosity level.

    Level 0 answers directly; levels 1..4 add a ``reasoning`` output before the answer, as
    ``dspy.ChainOfThought`` does, with the level's instruction saying how much to reason. The token limit
    is the LM's ``max_tokens`` (set on the binding). The predictor is always ``self.predict`` so that
    saved state has the same shape at every level. ``lm=`` on a call runs that one call on another LM
    (a rollout copy, see :mod:`programs.sampling`).

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> from programs.binding import LMBinding
        >>> with FakeEngine(lambda m, r: chat_adapter_reply(answer="12")) as engine:
        ...     lm = LMBinding(f"openai/fake@{engine.api_base}", phase="test", max_tokens=64)
        ...     answerer = TestTimeAnswerer(verbosity=0, with_learned_context=False, lm=lm)
        ...     answerer(context="3 boxes of 4 apples.", question="How many apples?").answer
        '12'
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, *, verbosity: int = 0, with_learned_context: bool = True,
                 lm: LMBinding | None = None) -> None:
        super().__init__()
        if verbosity not in VERBOSITY_INSTRUCTIONS:
            raise ValueError(f"verbosity must be in 0..4, got {verbosity!r}")
        self.verbosity, self.with_learned_context, self.lm_binding = verbosity, with_learned_context, lm
        self.predict = dspy.Predict(answering_signature(with_learned_context=with_learned_context,
                                                        verbosity=verbosity))

    def forward(self, context: str, question: str, learned_context: str | None = None,
                lm: dspy.BaseLM | None = None) -> dspy.Prediction:
        adapter, config = prepare_phase(self, self.lm_binding)
        inputs = {"context": context, "question": question}
        if self.with_learned_context:
            if learned_context is None:
                raise ValueError("this answerer reads a learned context: pass learned_context=... (make one "
                                 "with program.sleep(context)) or build it with with_learned_context=False")
            inputs["learned_context"] = learned_context
        with dspy.context(adapter=adapter):
            if lm is not None:  # Predict reads a passed lm=None as "no LM": pass it only when given
                inputs["lm"] = lm
            return self.predict(**inputs, config=config)
