"""The learned-context store on PostgreSQL: one store for several machines (``serve`` replicas behind a load
balancer, benchmark and search workers), given as a URL the way Optuna takes its storage.

Same rows and the same lease protocol as the SQLite store (:class:`programs.store.LearnedContextStore`):
a worker about to make a learned context takes the lease row of its key under ``SELECT ... FOR UPDATE``,
so two machines never make it at once; the second one waits and then finds the first one's result. The
session's context index lives here too, so a context added through one replica is known to all.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict

from programs.redact import redact
from programs.session_index import STATES, UNFINISHED, ContextRecord
from programs.store import (
    LEASE_SECONDS,
    LearnedContextStore,
    SleepSpend,
    StoredContext,
    _KeyLocks,
    _owner_is_dead,
    logger,
    worker_id,
)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sleeptime_learned_contexts (
        key TEXT PRIMARY KEY, learned_context TEXT NOT NULL, prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL, seconds DOUBLE PRECISION NOT NULL, model TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sleeptime_sleep_spends (
        id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, spender TEXT NOT NULL, prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL, seconds DOUBLE PRECISION NOT NULL, model TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, kept BOOLEAN NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sleeptime_leases (
        key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sleeptime_session_contexts (
        id TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
)
SCHEMA_LOCK = 7_215_301  # pg_advisory_xact_lock id: replicas starting together create the tables once


class _Postgres:
    """Connections to one PostgreSQL URL (one per operation: replicas and threads share nothing)."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg2
        except ImportError as exc:
            raise RuntimeError("a postgresql:// store needs psycopg2: pip install "
                               "'sleeptime-compute[postgres]'") from exc
        self.url, self._driver = url, psycopg2

    @contextmanager
    def transaction(self) -> Iterator:
        """A cursor inside one transaction: committed on success, rolled back on any error."""
        try:
            connection = self._driver.connect(self.url)
        except self._driver.OperationalError as exc:
            raise RuntimeError(f"cannot reach the PostgreSQL store {redact(self.url)} ({redact(exc)}); check "
                               "the URL, that the server runs and that the user may log in") from None
        with closing(connection), connection, connection.cursor() as cursor:
            yield cursor

    def create_schema(self) -> None:
        with self.transaction() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for table in SCHEMA:
                cursor.execute(table)


class PostgresStore(LearnedContextStore):
    """Learned contexts, spends and leases in PostgreSQL, for workers on several machines.

    With a server, ``open_store("postgresql://user:pw@db-host/sleeptime")`` is used like the SQLite store;
    without one, the error says so and keeps the password out:

    Example:
        >>> from programs.store import open_store
        >>> open_store("postgresql://bob:hunter2@127.0.0.1:1/sleeptime")
        Traceback (most recent call last):
        ...
        RuntimeError: cannot reach the PostgreSQL store postgresql://bob:***@127.0.0.1:1/sleeptime (...
    """

    def __init__(self, url: str, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self._locks = _KeyLocks()
        self.lease_seconds = lease_seconds
        self.url, self.path = url, None
        self._db = _Postgres(url)
        self._db.create_schema()

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self.url)!r})"

    def get(self, key: str) -> StoredContext | None:
        with self._db.transaction() as cursor:
            cursor.execute("SELECT key, learned_context, prompt_tokens, completion_tokens, seconds, model, "
                           "created_at FROM sleeptime_learned_contexts WHERE key = %s", (key,))
            row = cursor.fetchone()
        return StoredContext(*row) if row else None

    def put(self, key: str, learned_context: str, *, prompt_tokens: int, completion_tokens: int,
            seconds: float, model: str, spender: str | None = None) -> StoredContext:
        row = StoredContext(key, learned_context, int(prompt_tokens), int(completion_tokens), float(seconds),
                            model, time.time())
        with self._db.transaction() as cursor:
            cursor.execute("INSERT INTO sleeptime_learned_contexts VALUES (%s, %s, %s, %s, %s, %s, %s) "
                           "ON CONFLICT (key) DO NOTHING", tuple(asdict(row).values()))
            inserted = cursor.rowcount == 1
            cursor.execute("INSERT INTO sleeptime_sleep_spends (key, spender, prompt_tokens, "
                           "completion_tokens, seconds, model, created_at, kept) VALUES "
                           "(%s, %s, %s, %s, %s, %s, %s, %s)",
                           (key, spender or worker_id(), row.prompt_tokens, row.completion_tokens,
                            row.seconds, model, row.created_at, inserted))
        return self.get(key) or row

    def spends(self, key: str | None = None) -> list[SleepSpend]:
        query = ("SELECT key, spender, prompt_tokens, completion_tokens, seconds, model, created_at, kept "
                 "FROM sleeptime_sleep_spends")
        with self._db.transaction() as cursor:
            if key is None:
                cursor.execute(query + " ORDER BY id")
            else:
                cursor.execute(query + " WHERE key = %s ORDER BY id", (key,))
            rows = cursor.fetchall()
        return [SleepSpend(*row[:-1], kept=bool(row[-1])) for row in rows]

    def _try_lease(self, key: str, owner: str) -> str | None:
        """Take the lease if free, expired or orphaned (under the lease row's lock): None, else the holder."""
        now = time.time()
        with self._db.transaction() as cursor:
            cursor.execute("INSERT INTO sleeptime_leases VALUES (%s, '', 0) ON CONFLICT (key) DO NOTHING",
                           (key,))
            cursor.execute("SELECT owner, expires_at FROM sleeptime_leases WHERE key = %s FOR UPDATE", (key,))
            holder, expires_at = cursor.fetchone()
            if holder and expires_at >= now and not _owner_is_dead(holder):
                return holder
            cursor.execute("UPDATE sleeptime_leases SET owner = %s, expires_at = %s WHERE key = %s",
                           (owner, now + self.lease_seconds, key))
        if holder:
            logger.warning("took over the lease on learned context %s from %s (expired or its process is "
                           "gone)", key[:12], holder)
        return None

    def _extend_lease(self, key: str, owner: str) -> bool:
        with self._db.transaction() as cursor:
            cursor.execute("UPDATE sleeptime_leases SET expires_at = %s WHERE key = %s AND owner = %s",
                           (time.time() + self.lease_seconds, key, owner))
            return cursor.rowcount == 1

    def _release(self, key: str, owner: str) -> None:
        with self._db.transaction() as cursor:
            cursor.execute("DELETE FROM sleeptime_leases WHERE key = %s AND owner = %s", (key, owner))

    def __len__(self) -> int:
        with self._db.transaction() as cursor:
            cursor.execute("SELECT COUNT(*) FROM sleeptime_learned_contexts")
            return cursor.fetchone()[0]

    def context_index(self) -> _PostgresContextIndex:
        return _PostgresContextIndex(self._db)


class _PostgresContextIndex:
    """A session's context records in PostgreSQL, read through on every call: what one replica writes, the
    others see at once (``shared``: a session polls it while waiting, as no in-process signal arrives)."""

    shared = True

    def __init__(self, db: _Postgres) -> None:
        self._db = db
        self._guard = threading.Lock()

    def get(self, context_id: str) -> ContextRecord | None:
        with self._db.transaction() as cursor:
            cursor.execute("SELECT record FROM sleeptime_session_contexts WHERE id = %s", (context_id,))
            row = cursor.fetchone()
        return ContextRecord(**json.loads(row[0])) if row else None

    def put(self, record: ContextRecord) -> None:
        if record.state not in STATES:
            raise ValueError(f"unknown context state {record.state!r}; use one of {STATES}")
        with self._db.transaction() as cursor:
            cursor.execute("INSERT INTO sleeptime_session_contexts VALUES (%s, %s, %s) ON CONFLICT (id) DO "
                           "UPDATE SET record = EXCLUDED.record, updated_at = EXCLUDED.updated_at",
                           (record.id, json.dumps(asdict(record)), record.updated_at))

    def ids(self) -> list[str]:
        with self._db.transaction() as cursor:
            cursor.execute("SELECT id FROM sleeptime_session_contexts ORDER BY id")
            return [row[0] for row in cursor.fetchall()]

    def unfinished(self) -> list[ContextRecord]:
        with self._db.transaction() as cursor:
            cursor.execute("SELECT record FROM sleeptime_session_contexts")
            records = [ContextRecord(**json.loads(row[0])) for row in cursor.fetchall()]
        return [r for r in records if r.state in UNFINISHED or r.pending_text]
