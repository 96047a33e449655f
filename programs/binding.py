"""How one phase of a program reaches its LM, through DSPy's own per-predictor binding.

A phase (sleep or test) has a model spec from the Budget, a token cap and a prompt format. Its LM is built
lazily with :func:`programs.lm.make_lm` (so the local server starts only when first needed) and then set on
the phase's predictors (``predictor.lm``), exactly where ``Module.set_lm`` puts an LM: ``program.get_lm()``
returns it and ``dspy.BestOfN`` / ``dspy.Refine`` can replace it with ``lm.copy(rollout_id=...)``. A phase
without a model spec (``None``) leaves its predictors unbound, so DSPy uses the LM set with
``dspy.configure(lm=...)`` / ``dspy.context(lm=...)``; the cap then travels with each call.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import dspy

from programs.adapter import ADAPTERS, make_adapter


class LMBinding:
    """One phase's model spec, phase tag, token cap and adapter; binds the phase's LM to its predictors.

    LMs are never part of a program's saved state; program copies made by optimizers share the binding.

    Example:
        >>> import dspy
        >>> binding = LMBinding("openai/any@http://127.0.0.1:9/v1", phase="test", max_tokens=64, check=False)
        >>> predict = dspy.Predict("question -> answer")
        >>> binding.bind(predict)
        >>> predict.lm is binding.lm, binding.lm.kwargs["max_tokens"]
        (True, 64)
    """

    def __init__(self, spec: str | None, *, phase: str, max_tokens: int, adapter: str = "chat", ledger=None,
                 api_base: str | None = None, check: bool = True, lm_options: dict | None = None) -> None:
        if adapter not in ADAPTERS:
            raise ValueError(f"unknown adapter {adapter!r}; use one of {ADAPTERS}")
        self.spec, self.phase, self.max_tokens = spec, phase, max_tokens
        self.adapter_name, self.api_base, self.check = adapter, api_base, check
        self.ledger = ledger
        self.lm_options = dict(lm_options or {})  # passed to make_lm, e.g. num_retries, local_options
        self.adapter = make_adapter(adapter)
        self._lm = None
        self._guard = threading.Lock()

    @property
    def lm(self) -> dspy.LM | None:
        """This phase's metered LM (built on first use); None when the phase uses the DSPy-configured LM."""
        if self.spec is None:
            return None
        with self._guard:
            if self._lm is None:
                from programs.lm import default_ledger, make_lm

                if self.ledger is None:
                    self.ledger = default_ledger()
                self._lm = make_lm(self.spec, phase=self.phase, ledger=self.ledger, api_base=self.api_base,
                                   max_tokens=self.max_tokens, check=self.check, **self.lm_options)
            return self._lm

    def bind(self, module: dspy.Module) -> None:
        """Give every predictor of ``module`` that has no LM this phase's LM (one set with set_lm stays)."""
        if self.spec is None:
            return
        unbound = [predictor for predictor in module.predictors() if predictor.lm is None]
        if unbound:
            lm = self.lm
            for predictor in unbound:
                predictor.lm = lm

    def use(self):
        """``with binding.use(): predictor(...)`` runs predictors that have no LM of their own on this phase's
        LM and adapter (for modules built outside a program, e.g. a session's reviser)."""
        if self.spec is None:
            return dspy.context(adapter=self.adapter)
        return dspy.context(lm=self.lm, adapter=self.adapter)

    def is_own(self, lm: Any) -> bool:
        """Whether ``lm`` is the LM this binding built (not one set with set_lm or configured in DSPy)."""
        return lm is not None and lm is self._lm

    def call_config(self) -> dict[str, Any]:
        """Per-call settings: the cap, when the LM is the DSPy-configured one (our own LMs carry it)."""
        return {"max_tokens": self.max_tokens} if self.spec is None else {}

    @property
    def model_label(self) -> str | None:
        """The model as it identifies a learned context: the spec plus any separately given API base."""
        if self.spec is None:
            return None
        return self.spec + (f"@{self.api_base}" if self.api_base and "@" not in self.spec else "")

    def __deepcopy__(self, memo: dict) -> LMBinding:
        return self

    def __getstate__(self) -> dict[str, Any]:
        # A pickled program (dspy save_program=True, mlflow.dspy) carries no LM, lock or ledger.
        state = dict(self.__dict__)
        state.update(_lm=None, _guard=None, ledger=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._guard = threading.Lock()


def lm_label(lm: Any) -> str:
    """How an LM someone else bound is named in a learned-context key (never its API key).

    Example:
        >>> import dspy
        >>> lm_label(dspy.LM("openai/m", api_base="http://127.0.0.1:9/v1", api_key="sk-secret", cache=False))
        'openai/m@http://127.0.0.1:9/v1'
    """
    label = getattr(lm, "label", None)
    if label:
        return str(label)
    base = (getattr(lm, "kwargs", None) or {}).get("api_base")
    return f"{getattr(lm, 'model', type(lm).__name__)}" + (f"@{base}" if base else "")


def without_lms(state: dict) -> dict:
    """A module's DSPy state with every predictor's ``lm`` blanked: LMs are run-time, prompts are state.

    Example:
        >>> without_lms({"answerer.predict": {"demos": [], "lm": {"model": "openai/m"}}})
        {'answerer.predict': {'demos': [], 'lm': None}}
    """
    for predictor_state in state.values():
        if isinstance(predictor_state, dict):
            predictor_state["lm"] = None
    return state


def prepare_phase(module: dspy.Module, binding: LMBinding | None) -> tuple[dspy.Adapter, dict[str, Any]]:
    """Bind ``binding``'s LM to ``module``'s predictors; the adapter and per-call config a phase runs with.

    Without a binding the phase uses what DSPy is configured with (its adapter, else a ChatAdapter without
    the JSON fallback, which would silently double a call's tokens).

    Example:
        >>> import dspy
        >>> adapter, config = prepare_phase(dspy.Predict("question -> answer"), None)
        >>> type(adapter).__name__, config
        ('ChatAdapter', {})
    """
    if binding is None:
        return dspy.settings.adapter or make_adapter("chat"), {}
    binding.bind(module)
    return binding.adapter, binding.call_config()


def module_fingerprint(module: dspy.Module, binding: LMBinding | None, **settings: Any) -> str:
    """A hash of what shapes a sleep module's learned context besides the Budget: its prompts and demos
    (state without LMs), the binding's adapter and ``settings``; a store key part (:mod:`programs.store`).

    Example:
        >>> a = module_fingerprint(dspy.Predict("question -> answer"), None, seed=0)
        >>> a == module_fingerprint(dspy.Predict("question -> answer"), None, seed=1)
        False
    """
    adapter = binding.adapter_name if binding else None
    payload = json.dumps({"state": without_lms(module.dump_state()), "adapter": adapter, **settings},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
