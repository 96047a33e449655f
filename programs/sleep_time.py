"""S: the sleep-time rewriter, turning a context c into a learned context c' before any question."""

from __future__ import annotations

import re

import dspy

from programs.binding import LMBinding, module_fingerprint, prepare_phase
from programs.sampling import active_lm, rollout_lm
from programs.signatures import LearnContext, MergeLearnedContexts, RethinkContext

COMBINE_MODES = ("concat", "merge")
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.)])\s*")


def combine_by_concatenation(drafts: list[str]) -> str:
    """All lines of all drafts, in order, each distinct statement once (ignoring case, spacing, bullets).

    Example:
        >>> combine_by_concatenation(["a = 2\\nb = 3", "- A = 2\\nc = 5"])
        'a = 2\\nb = 3\\nc = 5'
    """
    seen: set[str] = set()
    kept: list[str] = []
    for draft in drafts:
        for line in (draft or "").splitlines():
            text = line.strip()
            norm = " ".join(_BULLET.sub("", text).lower().split())
            if norm and norm not in seen:
                seen.add(norm)
                kept.append(text)
    return "\n".join(kept)


class SleepTimeRewriter(dspy.Module):
    """Make a learned context from a context: ``samples`` rewrites, combined, then ``rounds`` rethinks.

    With ``samples > 1`` each rewrite runs on its own rollout copy of the LM
    (:func:`programs.sampling.rollout_lm`: rollout id, ``temperature``, seed), so the drafts differ.
    Drafts are combined by concatenation with line-level de-duplication (``"concat"``, the default:
    deterministic, no extra call, and a small model cannot drop a fact while merging) or by
    an LM merge step (``"merge"``). Each rethink round re-reads the context and the current notes, checks
    and extends them. Every call runs on the sleep-phase LM: the one ``lm`` binds to the predictors, one
    set with ``set_lm``, or else the DSPy-configured LM.

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> from programs.binding import LMBinding, without_lms
        >>> with FakeEngine(lambda m, r: chat_adapter_reply(learned_context="total = 12")) as engine:
        ...     lm = LMBinding(f"openai/fake@{engine.api_base}", phase="sleep", max_tokens=64)
        ...     SleepTimeRewriter(lm=lm)(context="3 boxes of 4 apples.").learned_context
        'total = 12'
    """

    def __init__(self, *, samples: int = 1, rounds: int = 0, combine: str = "concat",
                 temperature: float = 0.7, seed: int = 0, lm: LMBinding | None = None) -> None:
        super().__init__()
        if combine not in COMBINE_MODES:
            raise ValueError(f"unknown combine mode {combine!r}; use one of {COMBINE_MODES}")
        if samples > 1 and temperature <= 0:
            raise ValueError(f"{samples} samples at temperature {temperature} would all be identical; "
                             "pass temperature > 0 (e.g. 0.7) or samples=1")
        self.samples, self.rounds, self.combine = samples, rounds, combine
        self.temperature, self.seed, self.lm_binding = temperature, seed, lm
        self.learn = dspy.Predict(LearnContext)
        self.rethink = dspy.Predict(RethinkContext)
        self.merge = dspy.Predict(MergeLearnedContexts)

    def fingerprint(self) -> str:
        """Everything about this rewriter that shapes c' besides the budget: prompts, demos, settings."""
        return module_fingerprint(self, self.lm_binding, combine=self.combine, seed=self.seed,
                                  temperature=self.temperature if self.samples > 1 else 0.0)

    def _draft(self, context: str, index: int, config: dict) -> str:
        if self.samples == 1:
            return self.learn(context=context, config=config).learned_context or ""
        lm = rollout_lm(active_lm(self.learn), index, temperature=self.temperature, seed=self.seed)
        return self.learn(context=context, lm=lm, config=config).learned_context or ""

    def forward(self, context: str) -> dspy.Prediction:
        adapter, config = prepare_phase(self, self.lm_binding)
        with dspy.context(adapter=adapter):
            drafts = [self._draft(context, index, config) for index in range(self.samples)]
            if len(drafts) == 1:
                notes = drafts[0].strip()
            elif self.combine == "merge":
                numbered = "\n\n".join(f"Notes {i + 1}:\n{d.strip()}" for i, d in enumerate(drafts))
                notes = (self.merge(context=context, candidate_notes=numbered,
                                    config=config).learned_context or "").strip()
                notes = notes or combine_by_concatenation(drafts)
            else:
                notes = combine_by_concatenation(drafts)
            for _ in range(self.rounds):
                revised = self.rethink(context=context, draft_learned_context=notes,
                                       config=config).learned_context or ""
                # An empty or truncated-to-nothing rethink keeps the notes it was asked to improve.
                notes = revised.strip() or notes
        return dspy.Prediction(learned_context=notes, drafts=drafts)
