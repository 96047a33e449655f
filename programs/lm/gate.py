"""One local server computes at a time: calls to two llama.cpp servers on the same cores never overlap.

Two local servers generating at once on a small CPU box slow each other down several times over (measured on
2 cores: a 1.5B sleep-time call took 51 s beside a busy 0.5B test-time server, about 5x its time alone; see
docs/deployment.md). :class:`ServerGate` lets any number of calls to the *same* server run together (its
slots batch them) but makes calls to another server wait until the first server has no call in flight, and
a waiting test-time call goes before waiting sleep-time calls, so sleep time uses the gaps between questions.

``SLEEPTIME_LOCAL_GATE=0`` turns it off (e.g. when each server has its own cores). Remote endpoints never
pass through it: they do not share this machine's CPU.

Example:
    >>> gate = ServerGate()
    >>> with gate.hold("qwen2.5-coder-0.5b", "test"):
    ...     gate.owner
    'qwen2.5-coder-0.5b'
    >>> gate.owner is None
    True
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

GATE_ENV = "SLEEPTIME_LOCAL_GATE"


class ServerGate:
    """Mutual exclusion between servers (not between calls to one server), test-time calls first.

    Example:
        >>> gate = ServerGate()
        >>> with gate.hold("qwen2.5-coder-1.5b", "sleep"), gate.hold("qwen2.5-coder-1.5b", "test"):
        ...     gate.owner  # two calls to one server share the gate (its slots batch them)
        'qwen2.5-coder-1.5b'
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._owner: str | None = None
        self._active = 0
        self._waiting_test = 0

    @property
    def owner(self) -> str | None:
        """The server whose calls hold the gate, or None when no local call is in flight."""
        return self._owner

    def _may_enter(self, server: str, urgent: bool) -> bool:
        if self._owner == server:
            return True  # the server batches calls in its slots
        return self._owner is None and (urgent or self._waiting_test == 0)

    def acquire(self, server: str, phase: str) -> None:
        """Wait until a call to ``server`` for ``phase`` may run ("test" goes first); pair with release."""
        urgent = phase == "test"
        with self._condition:
            self._waiting_test += urgent
            try:
                self._condition.wait_for(lambda: self._may_enter(server, urgent))
            finally:
                self._waiting_test -= urgent
            self._owner = server
            self._active += 1

    def release(self) -> None:
        with self._condition:
            self._active -= 1
            if self._active == 0:
                self._owner = None
            self._condition.notify_all()

    @contextmanager
    def hold(self, server: str, phase: str) -> Iterator[None]:
        """Hold the gate for one call to ``server`` made for ``phase``."""
        self.acquire(server, phase)
        try:
            yield
        finally:
            self.release()


_GATE = ServerGate()


def gate() -> ServerGate | None:
    """The process-wide gate of local calls, or None when ``SLEEPTIME_LOCAL_GATE=0`` turns it off."""
    return None if os.environ.get(GATE_ENV, "1") == "0" else _GATE
