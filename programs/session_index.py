"""Which context id a session knows, its text and where its learned context is: kept beside the store.

The learned-context store is keyed by a hash of the text and the sleep settings; a session also needs the
caller's id for each context and the state of its sleep-time work. That index lives in the same SQLite
file as a persistent store (its own table), so a new session on the same store finds every context it
was given, and a context whose work was pending or running when the process died is scheduled again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

STATES = ("pending", "sleeping", "ready", "skipped", "failed")
UNFINISHED = ("pending", "sleeping")


@dataclass(frozen=True)
class ContextRecord:
    """One context a session was given: its full text, its learned context's store key and its state.

    ``pending_text`` holds facts added by ``update_context`` that the learned context does not cover
    yet; ``plan`` is the scheduler's decision as a dict; ``error`` the last failure, if any.

    Example:
        >>> record = ContextRecord("c1", "Ann has 3 apples.")
        >>> record.with_(state="ready", key="abc").state
        'ready'
    """

    id: str
    text: str
    state: str = "pending"
    key: str | None = None
    pending_text: str = ""
    plan: dict = field(default_factory=dict)
    error: str | None = None
    probe: dict | None = None
    updated_at: float = field(default_factory=time.time)

    def with_(self, **changes) -> ContextRecord:
        return replace(self, updated_at=time.time(), **changes)


class ContextIndex:
    """Context records by id, in memory or in a table of the store's SQLite file.

    Example:
        >>> index = ContextIndex()
        >>> index.put(ContextRecord("c1", "Ann has 3 apples."))
        >>> index.get("c1").state
        'pending'
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._rows: dict[str, ContextRecord] = {}
        self._guard = threading.Lock()
        if self.path is not None:
            with closing(self._connect()) as db, db:
                db.execute("""CREATE TABLE IF NOT EXISTS session_contexts (
                    id TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at REAL NOT NULL)""")
                for (text,) in db.execute("SELECT record FROM session_contexts"):
                    record = ContextRecord(**json.loads(text))
                    self._rows[record.id] = record

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60)
        db.execute("PRAGMA busy_timeout=60000")
        return db

    def get(self, context_id: str) -> ContextRecord | None:
        with self._guard:
            return self._rows.get(context_id)

    def put(self, record: ContextRecord) -> None:
        """Keep ``record`` (in the SQLite file first when persistent, so a crash never loses a state)."""
        if record.state not in STATES:
            raise ValueError(f"unknown context state {record.state!r}; use one of {STATES}")
        with self._guard:
            if self.path is not None:
                with closing(self._connect()) as db, db:
                    db.execute("INSERT OR REPLACE INTO session_contexts VALUES (?, ?, ?)",
                               (record.id, json.dumps(asdict(record)), record.updated_at))
            self._rows[record.id] = record

    def ids(self) -> list[str]:
        with self._guard:
            return list(self._rows)

    def unfinished(self) -> list[ContextRecord]:
        """Records whose sleep-time work was queued or running when the last session stopped."""
        with self._guard:
            return [r for r in self._rows.values() if r.state in UNFINISHED or r.pending_text]
