"""Learned contexts, made once per context and kept with what they cost.

The store is what makes sleep-time compute amortize: the second question on a context (in this process or
another one reading the same SQLite file) finds the learned context here and spends no sleep tokens, while
the row still says what making it cost.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

STORE_ENV = "SLEEPTIME_STORE"
BUSY_TIMEOUT_MS = 60_000


def default_store_path() -> Path:
    """``$SLEEPTIME_STORE`` if set, else ``learned_contexts.sqlite`` in the user cache directory."""
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sleeptime")) / "learned_contexts.sqlite"


def learned_context_key(context: str, rewriter_state: str, sleep_key: str, model: str) -> str:
    """sha256 of everything that determines a learned context: the text, the rewriter's prompts, the sleep
    budget and the model.

    Example:
        >>> len(learned_context_key("Ann has 3 apples.", "{}", '{"sleep_samples": 1}', "local:m"))
        64
    """
    payload = json.dumps([context, rewriter_state, sleep_key, model], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredContext:
    """One learned context and what making it cost (tokens as the server reported them)."""

    key: str
    learned_context: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    model: str
    created_at: float

    def cost(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "seconds": self.seconds}


class _KeyLocks:
    """One lock per key, so threads of one process never make the same learned context twice."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


class InMemoryStore:
    """A per-process store (the default when no path is given): shared by threads, gone at exit.

    Example:
        >>> store = InMemoryStore()
        >>> store.put("k", "x = 2", prompt_tokens=10, completion_tokens=3, seconds=0.1, model="m").key
        'k'
        >>> store.get("k").completion_tokens
        3
    """

    def __init__(self) -> None:
        self._rows: dict[str, StoredContext] = {}
        self._guard = threading.Lock()
        self._locks = _KeyLocks()

    def get(self, key: str) -> StoredContext | None:
        with self._guard:
            return self._rows.get(key)

    def put(self, key: str, learned_context: str, *, prompt_tokens: int, completion_tokens: int,
            seconds: float, model: str) -> StoredContext:
        """Store unless present; returns the stored row (the first writer's, if another got there first)."""
        row = StoredContext(key, learned_context, int(prompt_tokens), int(completion_tokens), float(seconds),
                            model, time.time())
        with self._guard:
            return self._rows.setdefault(key, row)

    def lock(self, key: str):
        return self._locks.hold(key)

    def __len__(self) -> int:
        with self._guard:
            return len(self._rows)

    def __deepcopy__(self, memo: dict) -> InMemoryStore:
        return self  # shared by program copies (optimizers deep-copy programs)


class LearnedContextStore(InMemoryStore):
    """A persistent SQLite store, safe across threads and processes (WAL journal, busy timeout).

    Example:
        >>> import tempfile, os
        >>> store = LearnedContextStore(os.path.join(tempfile.mkdtemp(), "lc.sqlite"))
        >>> _ = store.put("k", "x = 2", prompt_tokens=10, completion_tokens=3, seconds=0.1, model="m")
        >>> LearnedContextStore(store.path).get("k").learned_context
        'x = 2'
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self._locks = _KeyLocks()
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("""CREATE TABLE IF NOT EXISTS learned_contexts (
                    key TEXT PRIMARY KEY, learned_context TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
                    completion_tokens INTEGER NOT NULL, seconds REAL NOT NULL, model TEXT NOT NULL,
                    created_at REAL NOT NULL)""")
        except (OSError, sqlite3.Error) as exc:
            raise RuntimeError(f"cannot open the learned-context store at {self.path} ({exc}); pass a "
                               f"writable path (--store PATH or ${STORE_ENV})") from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return db

    def get(self, key: str) -> StoredContext | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT key, learned_context, prompt_tokens, completion_tokens, seconds, model, "
                             "created_at FROM learned_contexts WHERE key = ?", (key,)).fetchone()
        return StoredContext(*row) if row else None

    def put(self, key: str, learned_context: str, *, prompt_tokens: int, completion_tokens: int,
            seconds: float, model: str) -> StoredContext:
        row = StoredContext(key, learned_context, int(prompt_tokens), int(completion_tokens), float(seconds),
                            model, time.time())
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR IGNORE INTO learned_contexts VALUES (?, ?, ?, ?, ?, ?, ?)",
                       tuple(asdict(row).values()))
        return self.get(key) or row

    def __len__(self) -> int:
        with closing(self._connect()) as db:
            return db.execute("SELECT COUNT(*) FROM learned_contexts").fetchone()[0]


def open_store(path: str | os.PathLike | None) -> InMemoryStore:
    """A SQLite store at ``path``, or an in-memory one when ``path`` is None or ``":memory:"``."""
    if path is None or str(path) == ":memory:":
        return InMemoryStore()
    return LearnedContextStore(path)
