"""The paper's baselines: test-time compute alone, pass@k (an oracle) and majority vote over k samples."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import dspy

from programs.answers import extract_number, is_correct
from programs.budget import Budget
from programs.program import BudgetedProgram, SleepResult
from programs.sampling import active_lm, rollout_lm


class TestTimeOnly(BudgetedProgram):
    """Answer with test-time compute only, at the Budget's verbosity and token limit (no learned context).

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> with FakeEngine(lambda m, r: chat_adapter_reply(reasoning="3 * 4", answer="12")) as engine:
        ...     spec = f"openai/fake@{engine.api_base}"
        ...     program = TestTimeOnly(Budget(use_sleep=False, test_verbosity=3, test_model=spec))
        ...     program(context="3 boxes of 4 apples.", question="How many apples?").answer
        '12'
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, budget: Budget, **kwargs: Any) -> None:
        if budget.use_sleep:
            raise ValueError("TestTimeOnly is the no-sleep baseline: pass Budget(use_sleep=False), or use "
                             "SleepTimeProgram for a budget with a sleep phase")
        super().__init__(budget, **kwargs)

    def answer(self, context: str, question: str, learned_context: str | None = None) -> dspy.Prediction:
        if learned_context is not None:
            raise ValueError("TestTimeOnly does not read learned contexts; use SleepTimeProgram.answer")
        pred, usage = self._test_phase(context, question, None)
        return self._prediction(pred, None, usage)


class _Sampled(BudgetedProgram):
    """``baseline_samples`` answers sampled at a temperature (with the learned context too, if the Budget has
    a sleep phase). ``k=`` is the deprecated spelling of ``baseline_samples`` (saved bundles still load)."""

    def __init__(self, budget: Budget, *, baseline_samples: int = 5, temperature: float = 0.7,
                 **kwargs: Any) -> None:
        if "k" in kwargs:
            warnings.warn("k= is deprecated: pass baseline_samples=", DeprecationWarning, stacklevel=2)
            baseline_samples = kwargs.pop("k")
        k = baseline_samples
        if not 1 <= int(k) <= 64:
            raise ValueError(f"baseline_samples must be in 1..64, got {k!r}")
        if k > 1 and temperature <= 0:
            raise ValueError(f"baseline_samples={k} samples at temperature {temperature} would be identical; "
                             "use temperature > 0")
        super().__init__(budget, **kwargs)
        self.baseline_samples, self.temperature = int(k), float(temperature)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "baseline_samples": self.baseline_samples,
                "temperature": self.temperature}

    def _samples(self, context: str, question: str,
                 learned_context: str | None) -> tuple[list[dspy.Prediction], SleepResult | None, dict]:
        sleep = None
        if self.budget.use_sleep and learned_context is None:
            sleep = self.sleep_phase(context)
            learned_context = sleep.learned_context
        preds, total = [], {"prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}
        lm = active_lm(self) if self.baseline_samples > 1 else None
        for index in range(self.baseline_samples):
            sample_lm = None
            if self.baseline_samples > 1:
                sample_lm = rollout_lm(lm, index, temperature=self.temperature, seed=self._settings["seed"])
            pred, usage = self._test_phase(context, question, learned_context, sample_lm)
            preds.append(pred)
            for name in total:
                total[name] += usage[name]
        return preds, sleep, total


class MajorityVote(_Sampled):
    """Sample k answers and return the most common number (ties: the one reached first).

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> replies = iter(["12", "13", "12"])
        >>> with FakeEngine(lambda m, r: chat_adapter_reply(answer=next(replies))) as engine:
        ...     spec = f"openai/fake@{engine.api_base}"
        ...     program = MajorityVote(Budget(use_sleep=False, test_model=spec), baseline_samples=3)
        ...     program(context="3 boxes of 4 apples.", question="How many apples?").answer
        '12'
    """

    def answer(self, context: str, question: str, learned_context: str | None = None) -> dspy.Prediction:
        preds, sleep, usage = self._samples(context, question, learned_context)
        numbers = [extract_number(p.answer) for p in preds]
        votes = Counter(n for n in numbers if n is not None)
        winner = preds[0]
        if votes:
            best = max(votes.values())
            top = next(n for n in numbers if n is not None and votes[n] == best)
            winner = preds[numbers.index(top)]
        return self._prediction(winner, sleep, usage, learned_context=learned_context,
                                samples=[p.answer for p in preds])


class PassAtK(_Sampled):
    """Oracle pass@k: sample k answers; the prediction is correct if ANY sample is correct.

    It needs the gold answer (``program(context=..., question=..., gold=...)``), so it is an upper bound
    for comparison, never a deployable method; :func:`optimize.experiments.evaluate.evaluate` passes the gold
    because ``needs_gold`` is true. The returned answer is the first correct sample, else the first sample.

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> replies = iter(["11", "12"])
        >>> with FakeEngine(lambda m, r: chat_adapter_reply(answer=next(replies))) as engine:
        ...     spec = f"openai/fake@{engine.api_base}"
        ...     program = PassAtK(Budget(use_sleep=False, test_model=spec), baseline_samples=2)
        ...     program(context="3 boxes of 4 apples.", question="How many apples?", gold="12").answer
        '12'
    """

    needs_gold = True

    def forward(self, context: str, question: str, gold: Any = None) -> dspy.Prediction:
        return self.answer(context, question, gold=gold)

    def answer(self, context: str, question: str, learned_context: str | None = None,
               gold: Any = None) -> dspy.Prediction:
        if gold is None:
            raise ValueError("PassAtK is an oracle baseline and needs the gold answer: call "
                             "program(context=..., question=..., gold=...)")
        preds, sleep, usage = self._samples(context, question, learned_context)
        correct = [is_correct(p.answer, gold) for p in preds]
        winner = preds[correct.index(True)] if any(correct) else preds[0]
        return self._prediction(winner, sleep, usage, learned_context=learned_context,
                                samples=[p.answer for p in preds], any_correct=any(correct))
