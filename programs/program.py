"""S then T: the sleep-time program, sharing one learned context per context through the store.

A program composes its phases: the LM bindings (:mod:`programs.binding`), the rewriter S
(:mod:`programs.sleep_time`) whose learned contexts are shared through the store
(:mod:`programs.learned_contexts`), the answerer T (:mod:`programs.test_time`), parse errors explained at
the token cap (:mod:`programs.adapter`), and copying, pickling, saving and loading
(:class:`programs.persistence.SavableProgram`).

LMs are bound the DSPy way, on each phase's predictors: ``program.get_lm()`` is the answering LM,
``program.set_lm(lm)`` rebinds, and DSPy wrappers such as ``dspy.BestOfN`` and ``dspy.Refine`` can wrap a
program. A copy shares the LMs, ledger and store; a pickled program carries only its Budget, settings and
prompts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dspy

from programs.adapter import explaining_parse_errors
from programs.binding import LMBinding, lm_label
from programs.budget import Budget
from programs.learned_contexts import SleepResult, fetch_or_make, made_report
from programs.lm.ledger import TokenLedger, Usage, default_ledger
from programs.persistence import SavableProgram, rebuild_program
from programs.store import InMemoryStore, learned_context_key
from programs.strategies import build_answerer, build_sleep_module
from programs.strategies.sample_cache import SampleCache, keeps_samples

__all__ = ["BudgetedProgram", "SleepResult", "SleepTimeProgram"]

# Pickled programs (mlflow models, DSPy save_program directories) name their rebuild function by this path.
_rebuild = rebuild_program


class _Shared:
    """Run-time things a program uses but never saves; optimizer copies of a program share them."""

    def __init__(self, ledger: TokenLedger | None, store: InMemoryStore | None, api_base: str | None) -> None:
        self.ledger = ledger if ledger is not None else default_ledger()
        self.store = store if store is not None else InMemoryStore()
        self.api_base = api_base

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self


class BudgetedProgram(SavableProgram, dspy.Module):
    """Common shape of every program here: a Budget, an optional rewriter S, an answerer T, save/load.

    Subclasses choose what ``forward`` does with them; the constructor arguments besides the run-time
    ones (``ledger``, ``store``, ``api_base``, ``lm_options`` for make_lm) are returned by
    :meth:`config` and saved in the manifest. ``save(path)`` / ``load(path)`` are DSPy's (one state
    file); :meth:`save_bundle` writes the project's bundle folder, ``programs.load(dir)`` reads it.

    Example (a subclass; :func:`programs.build_program` picks the one a Budget asks for):
        >>> from programs import build_program
        >>> program = build_program(Budget(use_sleep=False, test_verbosity=2))
        >>> isinstance(program, BudgetedProgram), program.budget.test_verbosity
        (True, 2)
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
        test_lm = LMBinding(budget.test_model, phase="test", max_tokens=budget.resolved_test_max_tokens,
                            **run_time)
        self.answerer = build_answerer(budget, lm=test_lm)
        self.rewriter = None
        if budget.use_sleep:
            sleep_lm = LMBinding(budget.sleep_model, phase="sleep", max_tokens=budget.sleep_max_tokens,
                                 **run_time)
            self.rewriter = build_sleep_module(budget, lm=sleep_lm, combine=combine,
                                               temperature=sleep_temperature, seed=seed)

    def config(self) -> dict[str, Any]:
        """The constructor arguments (besides budget and run-time ones) that rebuild this program."""
        return dict(self._settings)

    @property
    def ledger(self) -> TokenLedger:
        return self.shared.ledger

    @property
    def store(self) -> InMemoryStore:
        return self.shared.store

    # --- LMs, the DSPy way -------------------------------------------------------------------------------
    def get_lm(self) -> dspy.BaseLM | None:
        """The LM that answers (the test phase's), as ``dspy.BestOfN`` / ``dspy.Refine`` expect.

        The sleep phase's LM is ``program.rewriter.get_lm()`` once bound (on first use; building it may
        start a local server, so asking for the answering LM does not build it). ``None`` when the Budget
        gives no test model and nothing was set: then DSPy's configured LM (``dspy.configure``) answers.
        """
        if self.answerer.lm_binding is not None:
            self.answerer.lm_binding.bind(self.answerer)
        return self.answerer.get_lm()

    def set_lm(self, lm: dspy.BaseLM) -> None:
        """Bind ``lm`` to every predictor, as DSPy does; an LM made for one phase binds to that phase only.

        An LM from ``programs.lm.make_lm(spec, phase="test")`` (or a ``copy`` of one, as ``dspy.BestOfN``
        makes) carries its phase: setting it leaves the other phase's LM in place.
        """
        phase = getattr(lm, "phase", None)
        for module, module_phase in ((self.rewriter, "sleep"), (self.answerer, "test")):
            if module is not None and phase in (None, module_phase):
                module.set_lm(lm)

    def _sleep_model_label(self) -> str:
        binding = self.rewriter.lm_binding
        bound = {id(p.lm): p.lm for p in self.rewriter.predictors() if p.lm is not None}
        if not bound and binding.spec is not None:
            return binding.model_label  # not built yet: no server starts for a learned context in the store
        if not bound:
            bound = {0: dspy.settings.lm}
        foreign = [lm for lm in bound.values() if not binding.is_own(lm)]
        if not foreign:
            return binding.model_label
        return "+".join(sorted(lm_label(lm) for lm in foreign))

    # --- the two phases ----------------------------------------------------------------------------------
    def sleep_phase(self, context: str) -> SleepResult | None:
        """The learned context for ``context``: from the store if made before, else made now and stored."""
        if self.rewriter is None:
            return None
        model = self._sleep_model_label()
        key = learned_context_key(context, self.rewriter.fingerprint(), self.budget.sleep_key(), model)

        reports: list[dict | None] = []

        def make() -> tuple[str, Usage]:
            samples = SampleCache(self.store, model) if keeps_samples(self.rewriter) else None
            with self.ledger.scope() as scope:
                with explaining_parse_errors(scope.calls, "sleep", self.budget.sleep_max_tokens):
                    made = self.rewriter(context=context, **({"sample_cache": samples} if samples else {}))
            reports.append(made_report(made))
            # Reused samples are charged what they cost when made, as a learned context from the store is.
            reused = samples.take_reused() if samples else Usage()
            return made.learned_context, scope.usage("sleep") + reused

        result = fetch_or_make(self.store, key, make, model=model)
        return replace(result, made=reports[0]) if reports and not result.store_hit else result

    def sleep(self, context: str) -> str:
        """Sleep-time phase only: the learned context c' for ``context`` (made once, then from the store)."""
        if self.rewriter is None:
            raise ValueError(f"{type(self).__name__} was built without a sleep phase "
                             "(Budget.use_sleep=False); build it with Budget(use_sleep=True) to make "
                             "learned contexts")
        return self.sleep_phase(context).learned_context

    def _test_phase(self, context: str, question: str, learned_context: str | None,
                    lm: dspy.BaseLM | None = None) -> tuple[dspy.Prediction, dict]:
        """One answer; a reply the adapter cannot parse because it hit the cap raises TruncatedReplyError."""
        with self.ledger.scope() as scope:
            with explaining_parse_errors(scope.calls, "test", self.budget.resolved_test_max_tokens):
                pred = self.answerer(context=context, question=question, learned_context=learned_context,
                                     lm=lm)
        usage = scope.usage("test")
        return pred, {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                      "seconds": usage.seconds}

    @staticmethod
    def _prediction(pred: dspy.Prediction, sleep: SleepResult | None, test_usage: dict,
                    learned_context: str | None = None, **extra: Any) -> dspy.Prediction:
        return dspy.Prediction(
            answer=pred.answer, reasoning=pred.get("reasoning"), answer_failed=bool(pred.get("failed")),
            learned_context=sleep.learned_context if sleep else learned_context,
            learned_context_key=sleep.key if sleep else None,
            sleep_cost=dict(sleep.cost) if sleep else None,
            store_hit=bool(sleep and sleep.store_hit), sleep_made=sleep.made if sleep else None,
            test_usage=test_usage, **extra)

    def answer(self, context: str, question: str, learned_context: str | None = None) -> dspy.Prediction:
        """Test-time phase (making or fetching the learned context first if none is given)."""
        raise NotImplementedError

    def forward(self, context: str, question: str) -> dspy.Prediction:
        return self.answer(context, question)


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

    def answer(self, context: str, question: str, learned_context: str | None = None) -> dspy.Prediction:
        sleep = self.sleep_phase(context) if learned_context is None else None
        notes = sleep.learned_context if sleep else learned_context
        pred, usage = self._test_phase(context, question, notes)
        return self._prediction(pred, sleep, usage, learned_context=notes)
