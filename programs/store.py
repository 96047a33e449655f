"""Learned contexts, made once per context and kept with what they cost.

The store is what makes sleep-time compute amortize: the second question on a context (in this process or
another one reading the same SQLite file, or the same PostgreSQL database from another machine: see
:class:`PostgresStore`) finds the learned context here and spends no sleep tokens, while the row still says
what making it cost.

Workers that need the same learned context at once make it once: ``with store.lock(key):`` holds a lock
per key for the threads of a process and, in the SQLite store, a *lease* for the processes sharing the file
(a row with its owner and an expiry, renewed while the owner works and taken over when it expired or its
process died). A waiting worker then finds the first one's learned context. Every sleep spend that does
happen is kept with who made it (:meth:`InMemoryStore.spends`, :meth:`InMemoryStore.spend_summary`), so a
report can show a double spend instead of hiding it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from programs.redact import redact
from programs.session_index import STATES, UNFINISHED, ContextRecord

STORE_ENV = "SLEEPTIME_STORE"
BUSY_TIMEOUT_MS = 60_000
LEASE_SECONDS = 30.0  # a lease not renewed for this long is free; its owner renews it every third of that
LEASE_POLL_SECONDS = 0.2

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS learned_contexts (
        key TEXT PRIMARY KEY, learned_context TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL, seconds REAL NOT NULL, model TEXT NOT NULL,
        created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sleep_spends (
        id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, spender TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, seconds REAL NOT NULL,
        model TEXT NOT NULL, created_at REAL NOT NULL, kept INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS leases (
        key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)""",
)

logger = logging.getLogger(__name__)


def worker_id() -> str:
    """Who is spending: ``host:pid`` of this process.

    Example:
        >>> worker_id().endswith(f":{os.getpid()}")
        True
    """
    return f"{socket.gethostname()}:{os.getpid()}"


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
    """One learned context and what making it cost (tokens as the server reported them).

    Example:
        >>> store = InMemoryStore()
        >>> row = store.put("k", "x = 2", prompt_tokens=10, completion_tokens=3, seconds=0.1, model="m")
        >>> row.cost()
        {'prompt_tokens': 10, 'completion_tokens': 3, 'seconds': 0.1}
    """

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


@dataclass(frozen=True)
class SleepSpend:
    """One sleep phase that ran: its key, who ran it, what it cost, and whether its result is the one kept
    (``False``: another worker stored first, so this spend was a double spend).

    Example:
        >>> store = InMemoryStore()
        >>> _ = store.put("k", "x = 2", prompt_tokens=10, completion_tokens=3, seconds=0.1, model="m",
        ...               spender="a")
        >>> _ = store.put("k", "x = 2!", prompt_tokens=10, completion_tokens=4, seconds=0.1, model="m",
        ...               spender="b")
        >>> [(s.spender, s.kept) for s in store.spends("k")]
        [('a', True), ('b', False)]
    """

    key: str
    spender: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    model: str
    created_at: float
    kept: bool


def summarize_spends(spends: list[SleepSpend]) -> dict:
    """Totals of sleep spends: how many, for how many contexts, how many were double spends and what those
    wasted.

    Example:
        >>> a = SleepSpend("k", "h:1", 10, 5, 1.0, "m", 0.0, True)
        >>> summarize_spends([a, SleepSpend("k", "h:2", 10, 4, 1.0, "m", 0.0, False)])["double_spends"]
        1
    """
    wasted = [spend for spend in spends if not spend.kept]
    return {
        "spends": len(spends),
        "contexts": len({spend.key for spend in spends}),
        "double_spends": len(wasted),
        "prompt_tokens": sum(spend.prompt_tokens for spend in spends),
        "completion_tokens": sum(spend.completion_tokens for spend in spends),
        "seconds": sum(spend.seconds for spend in spends),
        "wasted_prompt_tokens": sum(spend.prompt_tokens for spend in wasted),
        "wasted_completion_tokens": sum(spend.completion_tokens for spend in wasted),
        "spenders": sorted({spend.spender for spend in spends}),
    }


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
        self._spends: list[SleepSpend] = []
        self._guard = threading.Lock()
        self._locks = _KeyLocks()

    def get(self, key: str) -> StoredContext | None:
        with self._guard:
            return self._rows.get(key)

    def put(self, key: str, learned_context: str, *, prompt_tokens: int, completion_tokens: int,
            seconds: float, model: str, spender: str | None = None) -> StoredContext:
        """Store unless present; returns the stored row (the first writer's, if another got there first).

        Every call is also kept as a :class:`SleepSpend` by ``spender`` (default: :func:`worker_id`)."""
        row = StoredContext(key, learned_context, int(prompt_tokens), int(completion_tokens), float(seconds),
                            model, time.time())
        with self._guard:
            stored = self._rows.setdefault(key, row)
            self._spends.append(SleepSpend(key, spender or worker_id(), row.prompt_tokens,
                                           row.completion_tokens, row.seconds, model, row.created_at,
                                           kept=stored is row))
            return stored

    def lock(self, key: str):
        """``with store.lock(key):`` while making the learned context of ``key``: other workers wait."""
        return self._locks.hold(key)

    def context_index(self):
        """Where a :class:`programs.session.SleepTimeSession` on this store keeps its context records."""
        from programs.session_index import ContextIndex

        return ContextIndex()

    def spends(self, key: str | None = None) -> list[SleepSpend]:
        """Every sleep spend recorded here (of one key when given), oldest first."""
        with self._guard:
            return [spend for spend in self._spends if key is None or spend.key == key]

    def spend_summary(self) -> dict:
        """:func:`summarize_spends` of every spend recorded here."""
        return summarize_spends(self.spends())

    def __len__(self) -> int:
        with self._guard:
            return len(self._rows)

    def __deepcopy__(self, memo: dict) -> InMemoryStore:
        return self  # shared by program copies (optimizers deep-copy programs)


def _owner_is_dead(owner: str) -> bool:
    """A lease owner (``host:pid:token``) on this host whose process no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: the process exists
        return False
    return False


class LearnedContextStore(InMemoryStore):
    """A persistent SQLite store, safe across threads and processes (WAL journal, busy timeout).

    ``lock(key)`` also takes a lease on ``key`` in the file, so two processes never make the same learned
    context at once: the second waits, then finds the first one's result (see :meth:`lock`).

    Example:
        >>> import tempfile, os
        >>> store = LearnedContextStore(os.path.join(tempfile.mkdtemp(), "lc.sqlite"))
        >>> with store.lock("k"):
        ...     _ = store.put("k", "x = 2", prompt_tokens=10, completion_tokens=3, seconds=0.1, model="m")
        >>> LearnedContextStore(store.path).get("k").learned_context
        'x = 2'
        >>> store.spend_summary()["double_spends"]
        0
    """

    def __init__(self, path: str | os.PathLike | None = None, *,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self._locks = _KeyLocks()
        self.lease_seconds = lease_seconds
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._create_schema()
        except (OSError, sqlite3.Error) as exc:
            raise RuntimeError(f"cannot open the learned-context store at {self.path} ({exc}); pass a "
                               f"writable path (--store PATH or ${STORE_ENV})") from exc

    def _create_schema(self) -> None:
        # Switching a new file to WAL answers "database is locked" at once, without the busy timeout, while
        # another process is doing the same: workers started together on a new store retry here.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                with closing(self._connect()) as db, db:
                    db.execute("PRAGMA journal_mode=WAL")
                    for table in SCHEMA:
                        db.execute(table)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(LEASE_POLL_SECONDS / 4)

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
            seconds: float, model: str, spender: str | None = None) -> StoredContext:
        row = StoredContext(key, learned_context, int(prompt_tokens), int(completion_tokens), float(seconds),
                            model, time.time())
        with closing(self._connect()) as db, db:
            inserted = db.execute("INSERT OR IGNORE INTO learned_contexts VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  tuple(asdict(row).values())).rowcount
            db.execute("INSERT INTO sleep_spends (key, spender, prompt_tokens, completion_tokens, seconds, "
                       "model, created_at, kept) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (key, spender or worker_id(), row.prompt_tokens, row.completion_tokens, row.seconds,
                        model, row.created_at, int(inserted == 1)))
        return self.get(key) or row

    def spends(self, key: str | None = None) -> list[SleepSpend]:
        query = ("SELECT key, spender, prompt_tokens, completion_tokens, seconds, model, created_at, kept "
                 "FROM sleep_spends")
        with closing(self._connect()) as db:
            rows = (db.execute(query + " WHERE key = ? ORDER BY id", (key,)) if key is not None
                    else db.execute(query + " ORDER BY id")).fetchall()
        return [SleepSpend(*row[:-1], kept=bool(row[-1])) for row in rows]

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold ``key`` against this process's threads and, through a lease in the file, other processes.

        Returns once this worker holds the lease, or once another worker has stored the learned context
        (the caller's ``get`` then finds it). A held lease is renewed every third of ``lease_seconds``
        while the holder works; a lease that expired, or whose owner's process is gone, is taken over.
        """
        with self._locks.hold(key):
            owner = f"{worker_id()}:{uuid.uuid4().hex[:8]}"
            if not self._wait_for_lease(key, owner):
                yield  # made meanwhile by another worker: nothing to hold
                return
            stop = threading.Event()
            renewer = threading.Thread(target=self._renew, name=f"sleeptime-lease-{key[:8]}", daemon=True,
                                       args=(key, owner, stop, threading.current_thread()))
            renewer.start()
            try:
                yield
            finally:
                stop.set()
                renewer.join()
                self._release(key, owner)

    def _wait_for_lease(self, key: str, owner: str) -> bool:
        """True once ``owner`` holds the lease; False if the learned context appeared while waiting."""
        announced = False
        while True:
            holder = self._try_lease(key, owner)
            if holder is None:
                return True
            if self.get(key) is not None:
                return False
            if not announced:
                logger.info("waiting for %s, which is making learned context %s", holder, key[:12])
                announced = True
            time.sleep(LEASE_POLL_SECONDS)

    def _try_lease(self, key: str, owner: str) -> str | None:
        """Take the lease if it is free, expired or orphaned: None on success, else the current holder."""
        now = time.time()
        with closing(self._connect()) as db:
            db.isolation_level = None  # explicit transaction: read and write under one write lock
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT owner, expires_at FROM leases WHERE key = ?", (key,)).fetchone()
                if row is not None and row[1] >= now and not _owner_is_dead(row[0]):
                    db.execute("COMMIT")
                    return row[0]
                db.execute("INSERT OR REPLACE INTO leases (key, owner, expires_at) VALUES (?, ?, ?)",
                           (key, owner, now + self.lease_seconds))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if row is not None:
            logger.warning("took over the lease on learned context %s from %s (expired or its process is "
                           "gone)", key[:12], row[0])
        return None

    def _extend_lease(self, key: str, owner: str) -> bool:
        """Push the lease's expiry on; False if ``owner`` no longer holds it."""
        with closing(self._connect()) as db, db:
            return db.execute("UPDATE leases SET expires_at = ? WHERE key = ? AND owner = ?",
                              (time.time() + self.lease_seconds, key, owner)).rowcount == 1

    def _renew(self, key: str, owner: str, stop: threading.Event, holder: threading.Thread) -> None:
        while not stop.wait(self.lease_seconds / 3) and holder.is_alive():
            if not self._extend_lease(key, owner):
                logger.warning("lost the lease on learned context %s (another worker took it over)",
                               key[:12])
                return

    def _release(self, key: str, owner: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM leases WHERE key = ? AND owner = ?", (key, owner))

    def __len__(self) -> int:
        with closing(self._connect()) as db:
            return db.execute("SELECT COUNT(*) FROM learned_contexts").fetchone()[0]

    def context_index(self):
        from programs.session_index import ContextIndex

        return ContextIndex(self.path)


# -- PostgreSQL: one store for several machines -----------------------------------------------------------
# ``serve`` replicas behind a load balancer and benchmark or search workers share it, given as a URL the way
# Optuna takes its storage. Same rows and lease protocol as the SQLite store; the lease row is taken under
# ``SELECT ... FOR UPDATE``. The session's context index lives here too, so every replica knows every context.

POSTGRES_SCHEMA = (
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
            for table in POSTGRES_SCHEMA:
                cursor.execute(table)


class PostgresStore(LearnedContextStore):
    """Learned contexts, spends and leases in PostgreSQL, for workers on several machines.

    With a server, ``open_store("postgresql://user:pw@db-host/sleeptime")`` is used like the SQLite store;
    without one, the error says so and keeps the password out:

    Example:
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


POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg2://")


def open_store(path: str | os.PathLike | None) -> InMemoryStore:
    """A PostgreSQL store for a ``postgresql://`` URL (shared by machines), a SQLite store at a path, or an
    in-memory one when ``path`` is None or ``":memory:"``.

    Example:
        >>> type(open_store(None)).__name__
        'InMemoryStore'
    """
    if path is None or str(path) == ":memory:":
        return InMemoryStore()
    if str(path).startswith(POSTGRES_SCHEMES):
        return PostgresStore(str(path))
    return LearnedContextStore(path)
