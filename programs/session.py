"""Sleep-time compute in deployment: contexts arrive first, the session thinks while idle, questions later.

``SleepTimeSession`` owns a small pool of sleep-time workers, the learned-context store (persistent, so a
restarted session finds every finished learned context), the scheduler that decides whether a context is
worth sleeping on, and the ledger where every phase's cost lands.
"""

from __future__ import annotations

import itertools
import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dspy

from programs.budget import Budget
from programs.lm.ledger import TokenLedger
from programs.redact import redact
from programs.scheduler import SleepPlan, SleepScheduler
from programs.session_index import UNFINISHED, ContextRecord
from programs.signatures import CONTEXT_DESC, LEARNED_DESC
from programs.store import InMemoryStore, learned_context_key, open_store

POLICIES = ("wait", "test-only", "require")
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.)])\s*")


class UnknownContextError(ValueError):
    """A context id the session was never given."""


class SessionClosedError(RuntimeError):
    """The session was closed; open a new one on the same store to continue."""


class ContextConflictError(ValueError):
    """The context's current state refuses the change: another text under its id, or too long with it."""


class SleepQueueFullError(RuntimeError):
    """``max_pending_sleep`` sleep-time jobs are already queued: retry later, or raise the limit."""


SHARED_POLL_SECONDS = 0.2  # how often a wait re-reads a context index shared with other replicas
PROGRAM_CACHE_SIZE = 16  # budgets with built programs kept at once; the least recently used is rebuilt


class ReviseWithNewFacts(dspy.Signature):
    """New facts arrived about a situation whose notes were worked out in advance. Work out only what the
    new facts add or change. Write one line per new or changed quantity in the form
    '- <quantity> = <calculation> = <result>'; for a quantity the new facts change, reuse the exact
    quantity name of its old note. Do not repeat notes that stay true."""

    context: str = dspy.InputField(prefix="Facts:", desc=CONTEXT_DESC)
    learned_context: str = dspy.InputField(prefix="Notes:", desc=LEARNED_DESC)
    new_facts: str = dspy.InputField(prefix="New facts:", desc="facts added since the notes were made")
    changes: str = dspy.OutputField(prefix="Changed or new notes:", desc="only the new or changed notes")


def _quantity(line: str) -> str:
    return " ".join(_BULLET.sub("", line).split("=", 1)[0].lower().split())


def merge_notes(previous: str, changes: str) -> str:
    """The previous notes with ``changes`` applied: a change naming an old note's quantity replaces that
    line in place, any other change is appended, and a line already present is not repeated.

    Example:
        >>> merge_notes("- apples = 3 * 4 = 12\\n- boxes = 3", "- apples = 5 * 4 = 20\\n- pears = 2")
        '- apples = 5 * 4 = 20\\n- boxes = 3\\n- pears = 2'
    """
    lines = [line.strip() for line in (previous or "").splitlines() if line.strip()]
    for change in (line.strip() for line in (changes or "").splitlines()):
        if not change:
            continue
        name = _quantity(change)
        same = [i for i, line in enumerate(lines) if "=" in change and _quantity(line) == name]
        if same:
            lines[same[0]] = change
        elif change not in lines:
            lines.append(change)
    return "\n".join(lines)


class _PriorityGate:
    """At most ``capacity`` LM jobs at once, and a waiting question always goes before waiting sleep work."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self._in_use, self._urgent_waiting, self.waiting = capacity, 0, 0, 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, urgent: bool) -> Iterator[None]:
        with self._cond:
            self._urgent_waiting += urgent
            self.waiting += 1
            try:
                self._cond.wait_for(lambda: self._in_use < self.capacity
                                    and (urgent or self._urgent_waiting == 0))
            finally:
                self._urgent_waiting -= urgent
                self.waiting -= 1
            self._in_use += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_use -= 1
                self._cond.notify_all()


class SleepTimeSession:
    """Give contexts as they arrive, ask questions later; learned contexts are made in the background.

    ``add_context`` returns at once: the scheduler decides whether the context is worth sleeping on (from
    the expected questions N, the price ratio in its cost model and the predictability), and a worker
    makes the learned context while the session is idle (a waiting ``ask`` always runs before waiting
    sleep work; ``sleep_workers`` bounds the sleep jobs at once, ``max_concurrency`` all LM jobs).
    ``update_context`` revises a finished learned context with the new facts only. ``ask`` answers with
    the learned context when it is ready; otherwise ``policy="wait"`` waits up to ``deadline`` seconds and
    then answers test-time-only, ``"test-only"`` answers test-time-only at once, ``"require"`` waits and
    raises ``TimeoutError`` if it is still not ready. ``prefill=True`` sends the answer prompt's prefix
    (instructions, facts, notes) to the test-time server once the notes are made (one output token, booked
    as sleep time), so a llama.cpp server's prompt cache already holds it when the first question comes.
    ``probes=m`` checks notes before publishing them: m self-generated probe questions answered from the
    notes at verbosity 0 must agree with answers from the facts alone at verbosity 3 on at least
    ``probe_threshold`` of them, else the context is marked failed and answered test-time-only (the
    check's calls are sleep time). With a persistent store (a path) the contexts, their
    states and their learned contexts survive restarts; unfinished work is scheduled again. Close with
    ``close()`` or a ``with`` block.

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> def reply(messages, request):
        ...     text = messages[-1]["content"]
        ...     fields = {"answer": "12"} if "question" in text else {"learned_context": "- apples = 12"}
        ...     return chat_adapter_reply(**fields)
        >>> with FakeEngine(reply) as engine:
        ...     spec = f"openai/fake@{engine.api_base}"
        ...     with SleepTimeSession(Budget(sleep_model=spec, test_model=spec)) as session:
        ...         _ = session.add_context("shop", "3 boxes of 4 apples.", expected_questions=5)
        ...         prediction = session.ask("shop", "How many apples?", deadline=30)
        ...         state = session.status("shop")["state"]
        >>> prediction.answer, prediction.mode, state
        ('12', 'learned_context', 'ready')
    """

    def __init__(self, budget: Budget | None = None, *, store: InMemoryStore | str | Path | None = None,
                 ledger: TokenLedger | None = None, scheduler: SleepScheduler | None = None,
                 fallback_budget: Budget | None = None, sleep_workers: int = 1, max_concurrency: int = 2,
                 api_base: str | None = None, adapter: str = "chat", lm_options: dict | None = None,
                 prefill: bool = False, probes: int = 0, probe_threshold: float = 0.5,
                 max_pending_sleep: int | None = None, max_context_chars: int | None = None) -> None:
        budget = budget or Budget()
        if not budget.use_sleep:
            raise ValueError("a SleepTimeSession needs a Budget with use_sleep=True (its sleep fields say "
                             "how to make learned contexts); fallback_budget= sets test-time-only answers")
        if sleep_workers < 1 or max_concurrency < 1:
            raise ValueError(f"sleep_workers and max_concurrency must be >= 1, got {sleep_workers} and "
                             f"{max_concurrency}")
        for name, limit in (("max_pending_sleep", max_pending_sleep),
                            ("max_context_chars", max_context_chars)):
            if limit is not None and limit < 1:
                raise ValueError(f"{name} must be >= 1 (or None for no limit), got {limit}")
        self.max_pending_sleep, self.max_context_chars = max_pending_sleep, max_context_chars
        self.budget = budget
        self.fallback_budget = fallback_budget or budget.replace(use_sleep=False)
        self.store = store if isinstance(store, InMemoryStore) else open_store(store)
        self.ledger = ledger if ledger is not None else TokenLedger()
        self.scheduler = scheduler or SleepScheduler()
        self._build = dict(api_base=api_base, adapter=adapter, lm_options=lm_options)
        self.prefill = prefill
        self._prefill_lm = None
        self.probes, self.probe_threshold = probes, probe_threshold
        self._probe = None
        self.index = self.store.context_index()
        self._reviser = dspy.Predict(ReviseWithNewFacts)
        self._programs: OrderedDict[Budget, Any] = OrderedDict()
        self._lock = threading.RLock()  # guards records' transitions and the program cache
        self._changed = threading.Condition(self._lock)
        self._id_locks: dict[str, threading.Lock] = {}
        self._asked: dict[str, dict] = {}
        self._gate = _PriorityGate(max_concurrency)
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._closed = False
        self._workers = [threading.Thread(target=self._work, name=f"sleeptime-sleep-{i}", daemon=True)
                         for i in range(sleep_workers)]
        for worker in self._workers:
            worker.start()
        for record in self.index.unfinished():  # work a previous session left queued or running
            self.index.put(record.with_(state="pending" if record.state == "sleeping" else record.state))
            self._enqueue(record.id, record.plan)

    # -- programs ---------------------------------------------------------------------------------------
    def _program(self, budget: Budget):
        from programs.api import build_program

        with self._lock:
            if budget not in self._programs:
                self._programs[budget] = build_program(budget, ledger=self.ledger, store=self.store,
                                                       **self._build)
                if len(self._programs) > PROGRAM_CACHE_SIZE:  # callers choosing many budgets stay bounded
                    self._programs.popitem(last=False)
            self._programs.move_to_end(budget)
            return self._programs[budget]

    def _sleep_program(self, plan: dict):
        return self._program(self.budget.replace(sleep_samples=int(plan.get("samples") or
                                                                   self.budget.sleep_samples)))

    # -- adding and updating contexts -------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError("this SleepTimeSession is closed; open a new one on the same store")

    def _record(self, context_id: str) -> ContextRecord:
        record = self.index.get(context_id)
        if record is None:
            raise UnknownContextError(f"unknown context id {context_id!r}; add it first with "
                                      "add_context(id, text)")
        return record

    def _check_room(self, context_id: str, text: str) -> None:
        """Refuse work beyond the session's limits, before anything is recorded."""
        if self.max_context_chars is not None and len(text) > self.max_context_chars:
            raise ContextConflictError(f"context {context_id!r} would be {len(text)} characters, over the "
                                       f"limit of {self.max_context_chars}; send shorter facts or start a "
                                       "new context")
        if self.max_pending_sleep is not None and self._queue.qsize() >= self.max_pending_sleep:
            raise SleepQueueFullError(f"{self._queue.qsize()} sleep-time jobs are queued (limit "
                                      f"{self.max_pending_sleep}); retry once some are done")

    def _enqueue(self, context_id: str, plan: dict) -> None:
        self._queue.put((-float(plan.get("saving") or 0.0), next(self._order), context_id))

    def add_context(self, context_id: str, text: str, *, expected_questions: float | None = None,
                    predictability: float | None = None) -> dict:
        """Register a context and schedule its sleep-time work; returns its status at once.

        Adding the same id with the same text again is a no-op; with another text it is an error (use
        :meth:`update_context` to add facts)."""
        self._check_open()
        if not isinstance(context_id, str) or not context_id.strip():
            raise ValueError(f"a context id must be a non-empty string, got {context_id!r}")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"context {context_id!r} has no text; pass the facts as a non-empty string")
        plan: SleepPlan = self.scheduler.plan(expected_questions, predictability)
        with self._lock:
            found = self.index.get(context_id)
            if found is not None:
                if found.text != text:
                    raise ContextConflictError(f"context id {context_id!r} already holds another text; add "
                                               "new facts with update_context(id, more_text) or use a new id")
                return self.status(context_id)
            self._check_room(context_id, text)
            state = "pending" if plan.sleep else "skipped"
            self.index.put(ContextRecord(context_id, text, state=state, plan=plan.as_dict()))
            if plan.sleep:
                self._enqueue(context_id, plan.as_dict())
            self._changed.notify_all()
        return self.status(context_id)

    def update_context(self, context_id: str, more_text: str) -> dict:
        """Add facts to a context. A finished learned context is revised with the new facts only (one
        call that reads the old notes and the new text); queued work simply covers the longer text."""
        self._check_open()
        if not isinstance(more_text, str) or not more_text.strip():
            raise ValueError("update_context needs the new facts as a non-empty string")
        with self._lock:
            record = self._record(context_id)
            more = more_text.strip()
            self._check_room(context_id, "\n".join(filter(None, (record.text, record.pending_text, more))))
            if record.state == "pending" or (record.state == "skipped"):
                record = record.with_(text=f"{record.text}\n{more}")
            elif record.state == "failed":
                record = record.with_(text=f"{record.text}\n{more}", state="pending", error=None)
                self._enqueue(context_id, record.plan)
            else:  # sleeping or ready: revise once the current work is done
                joined = f"{record.pending_text}\n{more}" if record.pending_text else more
                record = record.with_(pending_text=joined)
                self._enqueue(context_id, record.plan)
            self.index.put(record)
            self._changed.notify_all()
        return self.status(context_id)

    # -- the sleep-time workers -------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            _priority, _order, context_id = self._queue.get()
            if context_id is None:
                return
            with self._id_lock(context_id), self._gate.hold(urgent=False):
                self._refresh(context_id)

    def _id_lock(self, context_id: str) -> threading.Lock:
        with self._lock:
            return self._id_locks.setdefault(context_id, threading.Lock())

    def _set(self, context_id: str, **changes: Any) -> None:
        with self._lock:
            self.index.put(self.index.get(context_id).with_(**changes))
            self._changed.notify_all()

    def _refresh(self, context_id: str) -> None:
        """Make the learned context (first time, or after a failure) or revise it with pending facts."""
        record = self.index.get(context_id)
        finished = record is None or record.state == "skipped"
        if finished or (record.state == "ready" and not record.pending_text):
            return
        pending = record.pending_text
        self._set(context_id, state="sleeping")
        program = self._sleep_program(record.plan)
        try:
            if record.key is None:
                text = f"{record.text}\n{pending}" if pending else record.text
                key = program.sleep_phase(text).key
            else:
                text, key = self._revise(program, record, pending)
        except Exception as exc:  # the LM layer retried already: record the failure, never drop it
            self._set(context_id, state="failed", error=redact(f"{type(exc).__name__}: {exc}")[:500])
            return
        probe = self._check(text, key) if self.probes else None
        if probe is not None and probe["agreement"] is not None and probe["agreement"] < self.probe_threshold:
            self._set(context_id, state="failed", key=key, probe=probe,
                      error=f"the notes disagree with answers from the facts on probe questions (agreement "
                            f"{probe['agreement']:.2f} < {self.probe_threshold}); answering test-time-only")
            return
        if self.prefill:  # before "ready", so the first question finds the prefix in the server's cache
            self._prefill(text, self.store.get(key).learned_context)
        with self._lock:
            current = self.index.get(context_id)
            rest = current.pending_text[len(pending):].strip()  # facts that arrived while we worked
            self.index.put(current.with_(text=text, key=key, state="ready", error=None, pending_text=rest,
                                         probe=probe))
            if rest:
                self._enqueue(context_id, current.plan)
            self._changed.notify_all()

    def _check(self, text: str, key: str) -> dict:
        """The probe check of freshly made notes (see the class docstring)."""
        from programs.binding import LMBinding
        from programs.probes import NotesProbe

        with self._lock:
            if self._probe is None:
                binding = LMBinding(self.budget.sleep_model, phase="sleep",
                                    max_tokens=self.budget.sleep_max_tokens,
                                    adapter=self._build["adapter"], ledger=self.ledger,
                                    api_base=self._build["api_base"], lm_options=self._build["lm_options"])
                self._probe = NotesProbe(probes=self.probes, lm=binding)
        try:
            result = self._probe(context=text, learned_context=self.store.get(key).learned_context)
        except Exception as exc:  # noqa: BLE001 - an unchecked note is still published; the ledger has the call
            return {"agreement": None, "checked": 0, "error": redact(f"{type(exc).__name__}: {exc}")[:300]}
        return {"agreement": result.agreement, "checked": result.checked, "questions": result.questions}

    def _prefill(self, text: str, notes: str) -> None:
        """One 1-token request whose prompt is the answer prompt up to the question: the server caches it."""
        from programs.lm import make_lm

        program = self._program(self.budget)
        predict, binding = program.answerer.predict, program.answerer.lm_binding
        messages = binding.adapter.format(predict.signature, predict.demos,
                                          {"context": text, "learned_context": notes, "question": ""})
        with self._lock:
            if self._prefill_lm is None:
                self._prefill_lm = make_lm(self.budget.test_model, phase="sleep", ledger=self.ledger,
                                           api_base=self._build["api_base"], max_tokens=1,
                                           **(self._build["lm_options"] or {}))
        try:
            self._prefill_lm(messages=messages)
        except Exception:  # noqa: BLE001 - the ledger holds the failed call; the notes are fine without it
            pass

    def _revise(self, program, record: ContextRecord, new_facts: str) -> tuple[str, str]:
        previous = self.store.get(record.key)
        if previous is None:
            raise RuntimeError(f"the learned context {record.key[:12]} of {record.id!r} is not in the store")
        binding = program.rewriter.lm_binding
        with self.ledger.scope() as scope, binding.use():
            changes = self._reviser(context=record.text, learned_context=previous.learned_context,
                                    new_facts=new_facts).changes
        spent = scope.usage("sleep")
        text = f"{record.text}\n{new_facts}"
        notes = merge_notes(previous.learned_context, changes or "")
        sleep_key = program.budget.sleep_key() + f"|revised-from:{record.key}"
        key = learned_context_key(text, program.rewriter.fingerprint(), sleep_key, binding.model_label)
        self.store.put(key, notes, prompt_tokens=previous.prompt_tokens + spent.prompt_tokens,
                       completion_tokens=previous.completion_tokens + spent.completion_tokens,
                       seconds=previous.seconds + spent.seconds, model=binding.model_label)
        return text, key

    # -- answering ------------------------------------------------------------------------------------
    def wait(self, context_ids: list[str] | None = None, timeout: float | None = None) -> bool:
        """Block until the given contexts (default: all) have no queued or running work; False on timeout."""
        ids = context_ids if context_ids is not None else self.index.ids()

        def settled() -> bool:
            if self._closed:
                return True
            records = [self._record(i) for i in ids]
            # a failed revision keeps its pending facts (a later update retries them) but is settled
            return all(r.state not in UNFINISHED and (not r.pending_text or r.state == "failed")
                       for r in records)

        with self._changed:
            if not getattr(self.index, "shared", False):
                return self._changed.wait_for(settled, timeout)
            # Another replica may finish the work: nothing here is notified of that, so look again often.
            end = None if timeout is None else time.monotonic() + timeout
            while not settled():
                left = SHARED_POLL_SECONDS if end is None else min(SHARED_POLL_SECONDS,
                                                                   end - time.monotonic())
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def ask(self, context_id: str, question: str, budget: Budget | None = None, *, policy: str = "wait",
            deadline: float | None = 30.0) -> dspy.Prediction:
        """Answer ``question`` about a context: with its learned context when ready, else per ``policy``.

        ``budget`` sets the test-time part (verbosity, max tokens, test model; default the session's);
        a budget with ``use_sleep=False`` answers test-time-only even when notes are ready.
        The prediction carries ``mode`` ("learned_context" or "test_only"), ``waited_seconds`` and
        ``context_id`` besides the program's fields."""
        self._check_open()
        if policy not in POLICIES:
            raise ValueError(f"unknown ask policy {policy!r}; use one of {POLICIES}")
        if not isinstance(question, str) or not question.strip():
            raise ValueError("ask needs a non-empty question string")
        started = time.perf_counter()
        self._record(context_id)
        if policy != "test-only":
            self.wait([context_id], timeout=deadline)
        record = self._record(context_id)
        waited = time.perf_counter() - started
        stored = self.store.get(record.key) if record.key and record.state != "failed" else None
        if budget is not None and not budget.use_sleep:
            stored = None  # the caller asked for a test-time-only answer
        if stored is None and policy == "require":
            raise TimeoutError(f"the learned context of {context_id!r} is {record.state} after {waited:.1f}s "
                               f"({record.error or 'not ready'}); use policy='wait' to fall back to "
                               "test-time-only answers")
        budget = budget or self.budget
        text = f"{record.text}\n{record.pending_text}" if record.pending_text else record.text
        with self.ledger.scope() as scope, self._gate.hold(urgent=True):
            if stored is not None:
                program = self._program(budget.replace(use_sleep=True))
                prediction = program.answer(text, question, learned_context=stored.learned_context)
            else:
                fallback = self.fallback_budget if budget is self.budget else budget.replace(use_sleep=False)
                prediction = self._program(fallback).answer(text, question)
        test = scope.usage("test")
        with self._lock:
            asked = self._asked.setdefault(context_id, {"questions": 0, "prompt_tokens": 0,
                                                        "completion_tokens": 0, "seconds": 0.0})
            asked["questions"] += 1
            asked["prompt_tokens"] += test.prompt_tokens
            asked["completion_tokens"] += test.completion_tokens
            asked["seconds"] += test.seconds
        prediction.mode = "learned_context" if stored is not None else "test_only"
        prediction.waited_seconds = waited
        prediction.context_id = context_id
        return prediction

    # -- status and costs -------------------------------------------------------------------------------
    def status(self, context_id: str) -> dict:
        """State (pending, sleeping, ready, skipped, failed), the plan, the learned context and its costs."""
        record = self._record(context_id)
        stored = self.store.get(record.key) if record.key else None
        with self._lock:
            asked = dict(self._asked.get(context_id) or {"questions": 0, "prompt_tokens": 0,
                                                         "completion_tokens": 0, "seconds": 0.0})
        return {"id": record.id, "state": record.state, "updating": bool(record.pending_text),
                "plan": record.plan, "error": record.error, "learned_context_key": record.key,
                "learned_context": stored.learned_context if stored else None, "probe": record.probe,
                "sleep_cost": stored.cost() if stored else None, "test_cost": asked}

    def costs(self) -> dict:
        """This session's ledger by phase, and how many contexts are in each state."""
        states: dict[str, int] = {}
        for context_id in self.index.ids():
            state = self.index.get(context_id).state
            states[state] = states.get(state, 0) + 1
        return {"sleep": self.ledger.usage("sleep").as_dict(), "test": self.ledger.usage("test").as_dict(),
                "contexts": states}

    # -- lifetime -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the workers after the jobs they are running; queued work stays pending in the store's index
        (a new session on the same store picks it up). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for _ in self._workers:
            self._queue.put((float("-inf"), next(self._order), None))  # before any queued job
        for worker in self._workers:
            worker.join()
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> SleepTimeSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
