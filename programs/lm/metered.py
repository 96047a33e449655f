"""A `dspy.LM` that writes every call it makes into a :class:`TokenLedger`."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dspy
from dspy.utils.usage_tracker import UsageTracker

from programs.lm.gate import gate
from programs.lm.ledger import LMCall, TokenLedger, default_ledger
from programs.redact import redact

# The finish reasons of the responses of the call being metered in this thread/task.
_finish_reasons: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "sleeptime_finish_reasons", default=None)


def _usage_of(tracker: UsageTracker) -> tuple[int, int, int, bool]:
    entries = [entry for per_model in tracker.usage_data.values() for entry in per_model]
    prompt = sum(int(e.get("prompt_tokens") or 0) for e in entries)
    completion = sum(int(e.get("completion_tokens") or 0) for e in entries)
    cached = 0
    for e in entries:
        details = e.get("prompt_tokens_details") or {}
        cached += int((details.get("cached_tokens") if isinstance(details, dict) else 0) or 0)
    return prompt, completion, cached, bool(entries)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def finish_reasons_of(response: Any) -> list[str]:
    """The finish reasons in a response as DSPy keeps it in history (lm15 responses or OpenAI-shaped).

    Example:
        >>> finish_reasons_of({"choices": [{"finish_reason": "length"}]})
        ['length']
    """
    items = response if isinstance(response, (list, tuple)) else [response]
    reasons = []
    for item in items:
        reason = _field(item, "finish_reason")
        if reason is not None:
            reasons.append(str(getattr(reason, "value", reason)))
            continue
        for choice in _field(item, "choices") or []:
            reason = _field(choice, "finish_reason")
            if reason is not None:
                reasons.append(str(getattr(reason, "value", reason)))
    return reasons


class MeteredLM(dspy.LM):
    """`dspy.LM` that records model, phase, server-reported tokens, finish reason and wall time of each call.

    Usage is captured with a per-call DSPy usage tracker opened in the calling thread, so calls made from
    worker threads are counted exactly once, and then forwarded to any tracker the caller opened
    (``dspy.configure(track_usage=True)`` keeps working). A call that fails after DSPy's retries is
    recorded with ``ok=False`` and its error before the exception propagates. A response with no usage
    at all (a cache hit) would look free, so :func:`programs.lm.make_lm` builds these with DSPy's cache
    off and the ledger marks such calls as not ok. A reply cut off at the token cap is recorded with
    ``finish_reason="length"`` (``LMCall.truncated``).

    ``server`` (optional) is the local server behind ``api_base`` (a
    :class:`programs.lm.server.LocalServer`: ``ensure_running()``, ``has_died(grace)``, ``generation``).
    Before each call a dead server is restarted, and a call that failed because the server died meanwhile
    is sent again to the restarted one; restarts are bounded by the server, past them the call fails
    with the server's error. Calls to a local server pass through the process-wide
    :mod:`programs.lm.gate`: calls to one server overlap, calls to two servers do not (test time first).

    Example:
        >>> from programs.lm import TokenLedger
        >>> lm = MeteredLM("openai/any", phase="test", ledger=TokenLedger(), api_base="http://127.0.0.1:9/v1",
        ...                api_key="unused", cache=False)
        >>> lm.phase
        'test'
    """

    def __init__(self, model: str, *, phase: str, ledger: TokenLedger | None = None,
                 label: str | None = None, server: Any = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.phase = phase
        self.ledger = ledger if ledger is not None else default_ledger()
        # The human-facing model name (e.g. "local:qwen2.5-coder-0.5b"), never containing secrets.
        self.label = label or model
        self.server = server

    def _record(self, tracker: UsageTracker, started: float, error: BaseException | None,
                reasons: list[str]) -> None:
        prompt, completion, cached, reported = _usage_of(tracker)
        problem = None
        if error is not None:
            problem = redact(f"{type(error).__name__}: {error}")[:500]  # errors may quote a URL's password
        elif not reported:
            problem = "the server reported no token usage (cache hit or usage-less endpoint)"
        finish = "length" if "length" in reasons else (reasons[0] if reasons else None)
        self.ledger.record(LMCall(model=self.label, phase=self.phase, prompt_tokens=prompt,
                                  completion_tokens=completion, seconds=time.perf_counter() - started,
                                  ok=problem is None, error=problem, cached_prompt_tokens=cached,
                                  finish_reason=finish))

    @contextmanager
    def _metering(self) -> Iterator[None]:
        outer = dspy.settings.usage_tracker
        tracker = UsageTracker()
        reasons: list[str] = []
        token = _finish_reasons.set(reasons)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            with dspy.context(usage_tracker=tracker):
                yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            _finish_reasons.reset(token)
            self._record(tracker, started, error, reasons)
            if outer is not None:
                for model, entries in tracker.usage_data.items():
                    for entry in entries:
                        outer.add_usage(model, entry)

    def update_history(self, entry: dict) -> None:
        reasons = _finish_reasons.get()
        if reasons is not None:
            reasons.extend(finish_reasons_of(entry.get("response")))
        super().update_history(entry)

    @property
    def _gate_key(self) -> str:
        # One key per server process: calls to it may overlap (its slots batch them), calls to another wait.
        return f"server-{id(self.server)}"

    def _point_at_server(self) -> int:
        """Make sure the local server runs (restarting it if it died); returns its generation."""
        self.kwargs["api_base"] = self.server.ensure_running()
        return self.server.generation

    def _server_was_lost(self, generation: int) -> bool:
        return self.server.generation != generation or self.server.has_died()

    def __call__(self, prompt=None, *, messages=None, **kwargs):
        with self._metering():
            if self.server is None:
                return super().__call__(prompt, messages=messages, **kwargs)
            while True:
                generation = self._point_at_server()
                local = gate()
                if local is not None:
                    local.acquire(self._gate_key, self.phase)
                try:
                    return super().__call__(prompt, messages=messages, **kwargs)
                except Exception:
                    if not self._server_was_lost(generation):
                        raise
                finally:
                    if local is not None:
                        local.release()
                # the server died under this call: the loop restarts it (bounded) and sends the call again

    async def acall(self, prompt=None, *, messages=None, **kwargs):
        with self._metering():
            if self.server is None:
                return await super().acall(prompt, messages=messages, **kwargs)
            while True:
                generation = await asyncio.to_thread(self._point_at_server)
                local = gate()
                if local is not None:
                    await asyncio.to_thread(local.acquire, self._gate_key, self.phase)
                try:
                    return await super().acall(prompt, messages=messages, **kwargs)
                except Exception:
                    if not self._server_was_lost(generation):
                        raise
                finally:
                    if local is not None:
                        local.release()
