"""The project's one token and latency ledger.

Every LM call made through :func:`programs.lm.make_lm` is recorded here with its model, phase
("sleep" or "test"), the prompt/completion tokens the *server* reported, and wall time. Calls from worker
threads are recorded too: the ledger is a lock-protected list, and per-example attribution uses a
``contextvars`` scope that each worker opens in its own thread (unlike DSPy's usage tracker, which
``dspy.Parallel`` deep-copies away from the caller).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

PHASES = ("sleep", "test")


@dataclass(frozen=True)
class LMCall:
    """One LM request as the server reported it.

    Example:
        >>> call = LMCall("local:qwen2.5-coder-0.5b", "test", 300, 12, 0.4, finish_reason="length")
        >>> call.total_tokens, call.truncated
        (312, True)
    """

    model: str
    phase: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    ok: bool = True
    error: str | None = None
    cached_prompt_tokens: int = 0
    started_at: float = field(default_factory=time.time)
    finish_reason: str | None = None  # as the server said: "stop", "length" (cut off at the cap), ...

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def truncated(self) -> bool:
        """The reply was cut off at its token cap (the server's finish reason was "length")."""
        return self.finish_reason == "length"


@dataclass
class Usage:
    """Token and time totals for one phase (or all phases) over a set of calls.

    Example:
        >>> usage = Usage()
        >>> usage.add(LMCall("m", "sleep", 120, 40, 0.8))
        >>> usage.add(LMCall("m", "sleep", 0, 0, 5.0, ok=False, error="timeout"))
        >>> usage.calls, usage.failed_calls, usage.total_tokens
        (2, 1, 160)
    """

    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    truncated_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, call: LMCall) -> None:
        self.calls += 1
        self.failed_calls += 0 if call.ok else 1
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens
        self.seconds += call.seconds
        self.truncated_calls += 1 if call.truncated else 0

    def __add__(self, other: Usage) -> Usage:
        """Both totals together (e.g. calls made now plus the recorded cost of work reused).

        Example:
            >>> (Usage(calls=1, prompt_tokens=10) + Usage(completion_tokens=3, seconds=0.5)).total_tokens
            13
        """
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in asdict(self)})

    def as_dict(self) -> dict:
        return {**asdict(self), "total_tokens": self.total_tokens}


def summarize(calls: list[LMCall], phase: str | None = None) -> Usage:
    """Totals of ``calls``, restricted to one phase when given."""
    usage = Usage()
    for call in calls:
        if phase is None or call.phase == phase:
            usage.add(call)
    return usage


class LedgerScope:
    """The calls recorded while a scope is open in the current thread or task.

    Example:
        >>> ledger = TokenLedger()
        >>> with ledger.scope() as scope:
        ...     ledger.record(LMCall("m", "test", 10, 2, 0.1))
        >>> scope.usage("test").completion_tokens
        2
    """

    def __init__(self) -> None:
        self.calls: list[LMCall] = []

    def usage(self, phase: str | None = None) -> Usage:
        return summarize(self.calls, phase)


_open_scopes: contextvars.ContextVar[tuple[LedgerScope, ...]] = contextvars.ContextVar(
    "sleeptime_ledger_scopes", default=()
)


class TokenLedger:
    """Thread-safe record of every metered LM call in this process.

    Example:
        >>> ledger = TokenLedger()
        >>> ledger.record(LMCall("openai/gpt-4o-mini", "sleep", 120, 40, 0.8))
        >>> ledger.usage("sleep").total_tokens
        160
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[LMCall] = []

    def record(self, call: LMCall) -> None:
        if call.phase not in PHASES:
            raise ValueError(f"unknown phase {call.phase!r}: use one of {PHASES}")
        with self._lock:
            self._calls.append(call)
        for scope in _open_scopes.get():
            scope.calls.append(call)

    @property
    def calls(self) -> list[LMCall]:
        with self._lock:
            return list(self._calls)

    def usage(self, phase: str | None = None) -> Usage:
        return summarize(self.calls, phase)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    @contextmanager
    def scope(self) -> Iterator[LedgerScope]:
        """Collect the calls made in this thread/task (and scopes nested inside it) until exit."""
        scope = LedgerScope()
        token = _open_scopes.set(_open_scopes.get() + (scope,))
        try:
            yield scope
        finally:
            _open_scopes.reset(token)


_default_ledger = TokenLedger()


def default_ledger() -> TokenLedger:
    """The process-wide ledger used when no ledger is passed to :func:`programs.lm.make_lm`."""
    return _default_ledger
