"""A `dspy.LM` that writes every call it makes into a :class:`TokenLedger`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dspy
from dspy.utils.usage_tracker import UsageTracker

from programs.lm.ledger import LMCall, TokenLedger, default_ledger


def _usage_of(tracker: UsageTracker) -> tuple[int, int, int, bool]:
    entries = [entry for per_model in tracker.usage_data.values() for entry in per_model]
    prompt = sum(int(e.get("prompt_tokens") or 0) for e in entries)
    completion = sum(int(e.get("completion_tokens") or 0) for e in entries)
    cached = 0
    for e in entries:
        details = e.get("prompt_tokens_details") or {}
        cached += int((details.get("cached_tokens") if isinstance(details, dict) else 0) or 0)
    return prompt, completion, cached, bool(entries)


class MeteredLM(dspy.LM):
    """`dspy.LM` that records model, phase, server-reported tokens and wall time of each call.

    Usage is captured with a per-call DSPy usage tracker opened in the calling thread, so calls made from
    worker threads are counted exactly once, and then forwarded to any tracker the caller opened
    (``dspy.configure(track_usage=True)`` keeps working). A call that fails after DSPy's retries is
    recorded with ``ok=False`` and its error before the exception propagates. A response with no usage
    at all (a cache hit) would look free, so :func:`programs.lm.make_lm` builds these with DSPy's cache
    off and the ledger marks such calls as not ok.

    Example:
        >>> from programs.lm import TokenLedger
        >>> lm = MeteredLM("openai/any", phase="test", ledger=TokenLedger(), api_base="http://127.0.0.1:9/v1",
        ...                api_key="unused", cache=False)
        >>> lm.phase
        'test'
    """

    def __init__(self, model: str, *, phase: str, ledger: TokenLedger | None = None,
                 label: str | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.phase = phase
        self.ledger = ledger if ledger is not None else default_ledger()
        # The human-facing model name (e.g. "local:qwen2.5-coder-0.5b"), never containing secrets.
        self.label = label or model

    def _record(self, tracker: UsageTracker, started: float, error: BaseException | None) -> None:
        prompt, completion, cached, reported = _usage_of(tracker)
        problem = None
        if error is not None:
            problem = f"{type(error).__name__}: {error}"[:500]
        elif not reported:
            problem = "the server reported no token usage (cache hit or usage-less endpoint)"
        self.ledger.record(LMCall(model=self.label, phase=self.phase, prompt_tokens=prompt,
                                  completion_tokens=completion, seconds=time.perf_counter() - started,
                                  ok=problem is None, error=problem, cached_prompt_tokens=cached))

    @contextmanager
    def _metering(self) -> Iterator[None]:
        outer = dspy.settings.usage_tracker
        tracker = UsageTracker()
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            with dspy.context(usage_tracker=tracker):
                yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._record(tracker, started, error)
            if outer is not None:
                for model, entries in tracker.usage_data.items():
                    for entry in entries:
                        outer.add_usage(model, entry)

    def __call__(self, prompt=None, *, messages=None, **kwargs):
        with self._metering():
            return super().__call__(prompt, messages=messages, **kwargs)

    async def acall(self, prompt=None, *, messages=None, **kwargs):
        with self._metering():
            return await super().acall(prompt, messages=messages, **kwargs)
