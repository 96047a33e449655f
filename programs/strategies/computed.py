"""Computed notes: (optionally anticipated questions, then) programs whose agreed values are the notes."""

from __future__ import annotations

import dspy

from programs.binding import LMBinding, module_fingerprint, prepare_phase
from programs.budget import SLEEP_COMBINES
from programs.sampling import active_lm, rollout_lm
from programs.strategies.agreement import agreed_values, ranked_values, uncontested_values
from programs.strategies.anticipate import anticipating_predictor, parse_questions
from programs.strategies.compute import ComputeQuantities, quantities_as_notes, ranked_notes
from programs.strategies.sample_cache import SampleCache


class ComputedNotes(dspy.Module):
    """Sleep-time strategies ``compute`` and ``anticipate+compute``: notes are values a program computed.

    With ``questions`` > 0 the model first lists that many likely questions and the program computes an
    answer to each as well as every other quantity; with ``questions=0`` it computes every quantity the
    context supports. ``samples`` programs are written (rollout copies of the LM after the first, at
    ``temperature`` with ``seed``) and run in the sandbox (:class:`ComputeQuantities`: one repair, then
    text notes); with several, ``combine="agree"`` keeps a value when more than half of the programs that
    ran give the same value under the same name, ``combine="union"`` keeps every name the programs that
    computed it do not disagree on, and ``combine="ranked"`` states the union's values one line each (under
    their names), the value most programs computed first, with how many did
    (:mod:`programs.strategies.agreement`). When no program runs, the first sample's text notes are the
    learned context. The prediction counts ``repairs`` and ``fallbacks`` over the samples. Given a
    ``sample_cache`` (:class:`~programs.strategies.sample_cache.SampleCache`), each sample is read from it
    when made before, by any k or combine rule, and stored there when made now.

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> from programs.binding import LMBinding
        >>> def reply(messages, request):
        ...     if "## count ##" in messages[-1]["content"]:
        ...         return chat_adapter_reply(questions="1. How many apples in total?")
        ...     return chat_adapter_reply(code="boxes = 3\\ntotal_apples = boxes * 4")
        >>> with FakeEngine(reply) as engine:
        ...     lm = LMBinding(f"openai/fake@{engine.api_base}", phase="sleep", max_tokens=256)
        ...     made = ComputedNotes(questions=2, lm=lm)(context="3 boxes of 4 apples.")
        >>> print(made.learned_context)
        - boxes = 3
        - total apples = 12
        >>> made.questions, made.repairs, made.fallbacks
        (['How many apples in total?'], 0, 0)
    """

    def __init__(self, *, questions: int = 0, samples: int = 1, combine: str = "agree",
                 temperature: float = 0.7, seed: int = 0, timeout_seconds: float = 10.0,
                 memory_mb: int | None = 512, lm: LMBinding | None = None) -> None:
        super().__init__()
        if samples > 1 and temperature <= 0:
            raise ValueError(f"{samples} samples at temperature {temperature} would all be identical; "
                             "pass temperature > 0 (e.g. 0.7) or samples=1")
        if combine not in SLEEP_COMBINES:
            raise ValueError(f"unknown combine rule {combine!r}; use one of {', '.join(SLEEP_COMBINES)}")
        self.questions, self.samples, self.temperature, self.seed = questions, samples, temperature, seed
        self.combine = combine
        self.lm_binding = lm
        self.anticipate = anticipating_predictor()
        self.compute = ComputeQuantities(timeout_seconds=timeout_seconds, memory_mb=memory_mb)

    def fingerprint(self) -> str:
        """Everything about this module that shapes c' besides the Budget: prompts, demos, settings."""
        return module_fingerprint(self, self.lm_binding, strategy="computed", questions=self.questions,
                                  temperature=self.temperature if self.samples > 1 else 0.0, seed=self.seed,
                                  timeout_seconds=self.compute.timeout_seconds,
                                  memory_mb=self.compute.memory_mb)

    def _sample_fingerprint(self, questions: list[str], index: int) -> str:
        """What shapes sample ``index`` (not k, not the combine rule): prompts, questions, cap, bounds, and
        after the greedy first sample the temperature and seed."""
        sampled = {"temperature": self.temperature, "seed": self.seed} if index else {}
        cap = self.lm_binding.max_tokens if self.lm_binding is not None else None
        return module_fingerprint(self.compute, self.lm_binding, strategy="computed sample",
                                  questions=questions, max_tokens=cap,
                                  timeout_seconds=self.compute.timeout_seconds,
                                  memory_mb=self.compute.memory_mb, **sampled)

    def _sample(self, context: str, questions: list[str], index: int, cache: SampleCache | None) -> dict:
        """Sample ``index``: a program written (on a rollout copy of the LM after the first) and run."""

        def make() -> dict:
            lm = None if index == 0 else rollout_lm(active_lm(self.compute.write), index,
                                                    temperature=self.temperature, seed=self.seed)
            run = self.compute(context=context, questions=questions or None, lm=lm)
            return {"learned_context": run.learned_context, "quantities": dict(run.quantities),
                    "code": run.code, "repairs": int(run.repairs), "fallback": bool(run.fallback)}

        if cache is None:
            return make()
        return cache.fetch_or_make(context, self._sample_fingerprint(questions, index), index, make)

    def forward(self, context: str, sample_cache: SampleCache | None = None) -> dspy.Prediction:
        adapter, config = prepare_phase(self, self.lm_binding)
        questions: list[str] = []
        with dspy.context(adapter=adapter):
            if self.questions:
                listed = self.anticipate(context=context, count=self.questions, config=config).questions
                questions = parse_questions(listed, self.questions)
            runs = [self._sample(context, questions, index, sample_cache) for index in range(self.samples)]
        ran = [run for run in runs if not run["fallback"]]
        if not ran:
            notes = runs[0]["learned_context"]
        elif len(runs) == 1:
            notes = ran[0]["learned_context"]
        else:
            computed = [run["quantities"] for run in ran]
            if self.combine == "ranked":
                notes = ranked_notes(ranked_values(computed), programs=len(ran))
            else:
                combined = agreed_values if self.combine == "agree" else uncontested_values
                notes = quantities_as_notes(combined(computed))
        return dspy.Prediction(learned_context=notes, questions=questions,
                               codes=[run["code"] for run in runs],
                               repairs=sum(run["repairs"] for run in runs),
                               fallbacks=sum(run["fallback"] for run in runs))
