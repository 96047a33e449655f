"""S then T: the sleep-time program, sharing one learned context per context through the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dspy

from programs.adapter import LMBinding
from programs.budget import Budget
from programs.lm.ledger import TokenLedger, default_ledger
from programs.sleep_time import SleepTimeRewriter
from programs.store import InMemoryStore, learned_context_key
from programs.test_time import TestTimeAnswerer


@dataclass(frozen=True)
class SleepResult:
    """A learned context, its store key, what making it cost, and whether it came from the store."""

    learned_context: str
    key: str
    cost: dict
    store_hit: bool


class _Shared:
    """Run-time things a program uses but never saves; optimizer copies of a program share them."""

    def __init__(self, ledger: TokenLedger | None, store: InMemoryStore | None, api_base: str | None) -> None:
        self.ledger = ledger if ledger is not None else default_ledger()
        self.store = store if store is not None else InMemoryStore()
        self.api_base = api_base

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self


class BudgetedProgram(dspy.Module):
    """Common shape of every program here: a Budget, an optional rewriter S, an answerer T, save/load.

    Subclasses choose what ``forward`` does with them; the constructor arguments besides the run-time
    ones (``ledger``, ``store``, ``api_base``, ``lm_options`` for make_lm) are returned by
    :meth:`config` and saved in the manifest.
    """

    def __init__(self, budget: Budget, *, ledger: TokenLedger | None = None,
                 store: InMemoryStore | None = None, api_base: str | None = None, adapter: str = "chat",
                 combine: str = "concat", sleep_temperature: float = 0.7, seed: int = 0,
                 lm_options: dict | None = None) -> None:
        super().__init__()
        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be a programs.Budget, got {type(budget).__name__}; "
                            "build one with Budget(...) or Budget.from_dict(...)")
        self.budget = budget
        self.shared = _Shared(ledger, store, api_base)
        self._settings = {"adapter": adapter, "combine": combine, "sleep_temperature": sleep_temperature,
                          "seed": seed}
        run_time = dict(adapter=adapter, ledger=self.shared.ledger, api_base=api_base, lm_options=lm_options)
        test_lm = LMBinding(budget.test_model, phase="test", max_tokens=budget.test_max_tokens, **run_time)
        self.answerer = TestTimeAnswerer(verbosity=budget.test_verbosity,
                                         with_learned_context=budget.use_sleep, lm=test_lm)
        self.rewriter = None
        if budget.use_sleep:
            sleep_lm = LMBinding(budget.sleep_model, phase="sleep", max_tokens=budget.sleep_max_tokens,
                                 **run_time)
            self.rewriter = SleepTimeRewriter(samples=budget.sleep_samples, rounds=budget.sleep_rounds,
                                              combine=combine, temperature=sleep_temperature, seed=seed,
                                              lm=sleep_lm)

    def config(self) -> dict[str, Any]:
        """The constructor arguments (besides budget and run-time ones) that rebuild this program."""
        return dict(self._settings)

    @property
    def ledger(self) -> TokenLedger:
        return self.shared.ledger

    @property
    def store(self) -> InMemoryStore:
        return self.shared.store

    def sleep_phase(self, context: str) -> SleepResult | None:
        """The learned context for ``context``: from the store if made before, else made now and stored."""
        if self.rewriter is None:
            return None
        key = learned_context_key(context, self.rewriter.fingerprint(), self.budget.sleep_key(),
                                  self.rewriter.lm_binding.model_label)
        with self.store.lock(key):
            found = self.store.get(key)
            if found is not None:
                return SleepResult(found.learned_context, key, found.cost(), store_hit=True)
            with self.ledger.scope() as scope:
                notes = self.rewriter(context=context).learned_context
            spent = scope.usage("sleep")
            stored = self.store.put(key, notes, prompt_tokens=spent.prompt_tokens,
                                    completion_tokens=spent.completion_tokens, seconds=spent.seconds,
                                    model=self.rewriter.lm_binding.model_label)
        # Another process may have stored first: use its learned context so every question shares one.
        return SleepResult(stored.learned_context, key, stored.cost(), store_hit=False)

    def sleep(self, context: str) -> str:
        """Sleep-time phase only: the learned context c' for ``context`` (made once, then from the store)."""
        if self.rewriter is None:
            raise ValueError(f"{type(self).__name__} was built without a sleep phase "
                             "(Budget.use_sleep=False); build it with Budget(use_sleep=True) to make "
                             "learned contexts")
        return self.sleep_phase(context).learned_context

    def _test_phase(self, context: str, question: str, learned_context: str | None,
                    config: dict | None = None) -> tuple[dspy.Prediction, dict]:
        with self.ledger.scope() as scope:
            pred = self.answerer(context=context, question=question, learned_context=learned_context,
                                 config=config)
        usage = scope.usage("test")
        return pred, {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                      "seconds": usage.seconds}

    @staticmethod
    def _prediction(pred: dspy.Prediction, sleep: SleepResult | None, test_usage: dict,
                    learned_context: str | None = None, **extra: Any) -> dspy.Prediction:
        return dspy.Prediction(
            answer=pred.answer, reasoning=pred.get("reasoning"),
            learned_context=sleep.learned_context if sleep else learned_context,
            learned_context_key=sleep.key if sleep else None,
            sleep_cost=dict(sleep.cost) if sleep else None,
            store_hit=bool(sleep and sleep.store_hit), test_usage=test_usage, **extra)

    def answer(self, question: str, context: str, learned_context: str | None = None) -> dspy.Prediction:
        """Test-time phase (making or fetching the learned context first if none is given)."""
        raise NotImplementedError

    def forward(self, context: str, question: str) -> dspy.Prediction:
        return self.answer(question=question, context=context)

    def save(self, path, *, data: dict | None = None, seed: int | None = None,
             scores: dict | None = None) -> None:
        """Write ``program.json`` (DSPy state), ``budget.json`` and ``manifest.json`` into directory ``path``.

        ``data``, ``seed`` and ``scores`` go into the manifest as given."""
        from programs.persistence import save_program

        save_program(self, path, data=data, seed=seed, scores=scores)

    def load(self, path) -> BudgetedProgram:
        """Load saved prompts and demos from directory ``path`` into this program (same shape required)."""
        from programs.persistence import load_state_into

        load_state_into(self, path)
        return self


class SleepTimeProgram(BudgetedProgram):
    """Sleep-time compute: S rewrites the context into a learned context once, T answers each question.

    Every question on the same context shares one learned context through the store; the prediction says
    what it cost (``sleep_cost``) and whether it came from the store (``store_hit``).

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> def reply(messages, request):
        ...     text = messages[-1]["content"]
        ...     fields = {"answer": "12"} if "question" in text else {"learned_context": "n = 12"}
        ...     return chat_adapter_reply(**fields)
        >>> with FakeEngine(reply) as engine:
        ...     spec = f"openai/fake@{engine.api_base}"
        ...     program = SleepTimeProgram(Budget(sleep_model=spec, test_model=spec))
        ...     first = program(context="3 boxes of 4 apples.", question="How many apples?")
        ...     second = program(context="3 boxes of 4 apples.", question="How many boxes?")
        >>> first.answer, first.store_hit, second.store_hit
        ('12', False, True)
    """

    def __init__(self, budget: Budget, **kwargs: Any) -> None:
        if not budget.use_sleep:
            raise ValueError("SleepTimeProgram needs Budget(use_sleep=True); for a test-time-only baseline "
                             "use programs.baselines.TestTimeOnly or programs.build_program(budget)")
        super().__init__(budget, **kwargs)

    def answer(self, question: str, context: str, learned_context: str | None = None) -> dspy.Prediction:
        sleep = self.sleep_phase(context) if learned_context is None else None
        notes = sleep.learned_context if sleep else learned_context
        pred, usage = self._test_phase(context, question, notes)
        return self._prediction(pred, sleep, usage, learned_context=notes)
