"""Sharing learned contexts: one per context and sleep setting, made under the store's lock, else fetched.

The sleep phase of a program asks :func:`fetch_or_make` for the learned context of a key; the first caller
(in any thread or process sharing the store) makes it while holding the key's lock, every later caller
reads it from the store. The key (:func:`programs.store.learned_context_key`) holds everything that shapes
a learned context, so two programs share one only when they would have made the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from programs.lm.ledger import Usage
from programs.redact import redact
from programs.store import InMemoryStore


@dataclass(frozen=True)
class SleepResult:
    """A learned context, its store key, what making it cost, and whether it came from the store.

    ``made`` is what a program-writing strategy reported while making it now (``repairs``: programs repaired
    from their error, ``fallbacks``: samples that fell back to text notes); None for a store hit or a strategy
    that reports nothing.

    Example (what :meth:`programs.program.BudgetedProgram.sleep_phase` returns):
        >>> from programs import Budget
        >>> from programs.program import SleepTimeProgram
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> with FakeEngine(lambda messages, request: chat_adapter_reply(learned_context="n = 12")) as engine:
        ...     spec = f"openai/fake@{engine.api_base}"
        ...     program = SleepTimeProgram(Budget(sleep_model=spec, test_model=spec))
        ...     made = program.sleep_phase("3 boxes of 4 apples.")
        ...     again = program.sleep_phase("3 boxes of 4 apples.")
        >>> made.learned_context, made.store_hit, again.store_hit, again.key == made.key
        ('n = 12', False, True, True)
    """

    learned_context: str
    key: str
    cost: dict
    store_hit: bool
    made: dict | None = None


def made_report(prediction) -> dict | None:
    """The counts a sleep module's prediction reports about how it made its notes, or None.

    Example:
        >>> import dspy
        >>> made_report(dspy.Prediction(learned_context="n = 1", repairs=1, fallback=True))
        {'repairs': 1, 'fallbacks': 1}
        >>> made_report(dspy.Prediction(learned_context="n = 1", repairs=0, fallbacks=2))
        {'repairs': 0, 'fallbacks': 2}
        >>> made_report(dspy.Prediction(learned_context="n = 1")) is None
        True
    """
    repairs = prediction.get("repairs")
    if repairs is None:
        return None
    fallbacks = prediction.get("fallbacks")
    if fallbacks is None:
        fallbacks = int(bool(prediction.get("fallback")))
    return {"repairs": int(repairs), "fallbacks": int(fallbacks)}


def fetch_or_make(store: InMemoryStore, key: str, make: Callable[[], tuple[str, Usage]], *,
                  model: str) -> SleepResult:
    """The learned context stored under ``key``, else the one ``make()`` returns, stored with its cost.

    ``make`` returns the learned context and the usage of the calls that made it; it runs while the key's
    lock is held, so concurrent callers wait for it instead of spending the tokens again. ``model`` is
    recorded with the spend (redacted: an API base may hold a password).

    Example:
        >>> from programs.lm.ledger import Usage
        >>> store, calls = InMemoryStore(), []
        >>> def make():
        ...     calls.append(1)
        ...     return "n = 12", Usage(prompt_tokens=30, completion_tokens=5, seconds=0.1, calls=1)
        >>> first = fetch_or_make(store, "k1", make, model="openai/m")
        >>> second = fetch_or_make(store, "k1", make, model="openai/m")
        >>> first.store_hit, second.store_hit, second.learned_context, len(calls)
        (False, True, 'n = 12', 1)
    """
    with store.lock(key):
        found = store.get(key)
        if found is not None:
            return SleepResult(found.learned_context, key, found.cost(), store_hit=True)
        notes, spent = make()
        stored = store.put(key, notes, prompt_tokens=spent.prompt_tokens,
                           completion_tokens=spent.completion_tokens, seconds=spent.seconds,
                           model=redact(model))
    # Another process may have stored first: use its learned context so every question shares one.
    return SleepResult(stored.learned_context, key, stored.cost(), store_hit=False)
