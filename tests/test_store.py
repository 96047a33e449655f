"""The learned-context store: first writer wins, and a second process pays no sleep tokens."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.lm.ledger import TokenLedger
from programs.program import SleepTimeProgram
from programs.store import InMemoryStore, LearnedContextStore, learned_context_key, worker_id

REPO = Path(__file__).resolve().parents[1]
CONTEXT = "Ann has 3 boxes. Each box holds 4 apples."


def reply(messages, request):
    text = messages[-1]["content"]
    return chat_adapter_reply(**({"answer": "12"} if "question" in text else {"learned_context": "n = 12"}))


def test_sqlite_store_keeps_first_writer_and_costs(tmp_path):
    store = LearnedContextStore(tmp_path / "lc.sqlite")
    first = store.put("k", "a", prompt_tokens=10, completion_tokens=5, seconds=1.5, model="m")
    second = store.put("k", "b", prompt_tokens=99, completion_tokens=99, seconds=9, model="m")
    assert second == first and second.learned_context == "a"
    assert LearnedContextStore(tmp_path / "lc.sqlite").get("k").cost() == {
        "prompt_tokens": 10, "completion_tokens": 5, "seconds": 1.5}
    assert store.get("missing") is None and len(store) == 1


def test_sqlite_store_is_safe_under_concurrent_threads(tmp_path):
    store = LearnedContextStore(tmp_path / "lc.sqlite")
    errors = []

    def write(i):
        try:
            for j in range(20):
                store.put(f"k{j}", f"v{i}", prompt_tokens=i, completion_tokens=j, seconds=0.0, model="m")
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(store) == 20


def test_key_changes_with_each_part():
    base = learned_context_key("c", "s", "b", "m")
    assert len({base, learned_context_key("c2", "s", "b", "m"), learned_context_key("c", "s2", "b", "m"),
                learned_context_key("c", "s", "b2", "m"), learned_context_key("c", "s", "b", "m2")}) == 5


def test_second_process_reuses_learned_context_without_sleep_tokens(tmp_path):
    path = tmp_path / "lc.sqlite"
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        ledger = TokenLedger()
        program = SleepTimeProgram(Budget(sleep_model=spec, test_model=spec), ledger=ledger,
                                   store=LearnedContextStore(path), lm_options={"num_retries": 0})
        first = program(context=CONTEXT, question="How many apples?")
        assert not first.store_hit and ledger.usage("sleep").calls == 1
        script = textwrap.dedent(f"""
            import json
            from programs.budget import Budget
            from programs.lm.ledger import TokenLedger
            from programs.program import SleepTimeProgram
            from programs.store import LearnedContextStore
            ledger = TokenLedger()
            program = SleepTimeProgram(Budget(sleep_model={spec!r}, test_model={spec!r}), ledger=ledger,
                                       store=LearnedContextStore({str(path)!r}),
                                       lm_options={{"num_retries": 0}})
            pred = program(context={CONTEXT!r}, question="How many boxes?")
            print(json.dumps({{"hit": pred.store_hit, "sleep_calls": ledger.usage("sleep").calls,
                              "sleep_tokens": ledger.usage("sleep").total_tokens, "cost": pred.sleep_cost,
                              "test_calls": ledger.usage("test").calls, "notes": pred.learned_context}}))
        """)
        done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["hit"] is True and child["sleep_calls"] == 0 and child["sleep_tokens"] == 0
    assert child["test_calls"] == 1 and child["notes"] == "n = 12"
    assert child["cost"]["completion_tokens"] == first.sleep_cost["completion_tokens"] > 0


WORKER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from programs.budget import Budget
    from programs.lm.ledger import TokenLedger
    from programs.program import SleepTimeProgram
    from programs.store import LearnedContextStore
    spec, store_path, barrier, me = sys.argv[1:5]
    contexts = json.loads(sys.argv[5])
    ledger = TokenLedger()
    program = SleepTimeProgram(Budget(sleep_model=spec, test_model=spec), ledger=ledger,
                               store=LearnedContextStore(store_path), lm_options={"num_retries": 0})
    Path(barrier, me).touch()
    deadline = time.time() + 60
    while len(os.listdir(barrier)) < 2:  # start together, so both want the same contexts at once
        if time.time() > deadline:
            sys.exit("the other worker never reached the barrier")
        time.sleep(0.05)
    for context in contexts:
        program(context=context, question="How many apples?")
    print(json.dumps({"sleep_calls": ledger.usage("sleep").calls}))
""")


def test_two_processes_make_each_learned_context_once(tmp_path):
    contexts = [f"Ann has {n} boxes. Each box holds 4 apples." for n in (3, 5, 7)]
    path, barrier = tmp_path / "lc.sqlite", tmp_path / "barrier"
    barrier.mkdir()
    with FakeEngine(reply, delay_seconds=0.4) as engine:
        spec = f"openai/fake@{engine.api_base}"
        workers = [subprocess.Popen([sys.executable, "-c", WORKER, spec, str(path), str(barrier), name,
                                     json.dumps(contexts)], cwd=REPO, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
        with ThreadPoolExecutor(2) as pool:  # drain both at once: a worker blocked on a full pipe can stall
            outputs = list(pool.map(lambda worker: worker.communicate(timeout=180), workers))
        sleep_requests = [r for r in engine.requests if "learned_context" in json.dumps(r["messages"][-1])
                          and "question" not in r["messages"][-1]["content"]]
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in outputs]
    assert len(sleep_requests) == 3  # not 6
    assert sum(json.loads(out.strip().splitlines()[-1])["sleep_calls"] for out, _ in outputs) == 3
    summary = LearnedContextStore(path).spend_summary()
    assert (summary["spends"], summary["contexts"], summary["double_spends"]) == (3, 3, 0)


OPENER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from programs.store import LearnedContextStore
    folder, start, rounds = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    for round_ in range(rounds):  # all processes open the same new file at the same moment, round by round
        at = start + 0.25 * round_
        time.sleep(max(0.0, at - time.time() - 0.01))
        while time.time() < at:
            pass
        LearnedContextStore(folder / f"lc{round_}.sqlite")
""")


def test_processes_starting_together_all_open_a_new_store(tmp_path):
    # Switching a new file to WAL fails at once ("database is locked") while another process does the same;
    # before the store retried, 3 processes opening a new file together failed in 11 of 30 rounds.
    command = [sys.executable, "-c", OPENER, str(tmp_path), str(time.time() + 2.0), "24"]
    openers = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(3)]
    errors = [opener.communicate(timeout=120)[1] for opener in openers]
    assert all(opener.returncode == 0 for opener in openers), errors
    assert len(LearnedContextStore(tmp_path / "lc0.sqlite")) == 0


def test_every_spend_is_kept_with_its_spender_and_double_spends_add_up(tmp_path):
    store = LearnedContextStore(tmp_path / "lc.sqlite")
    store.put("k", "a", prompt_tokens=10, completion_tokens=5, seconds=1.0, model="m", spender="host:1")
    store.put("k", "b", prompt_tokens=12, completion_tokens=6, seconds=1.0, model="m", spender="host:2")
    store.put("j", "c", prompt_tokens=1, completion_tokens=1, seconds=0.1, model="m")
    spends = LearnedContextStore(tmp_path / "lc.sqlite").spends("k")
    assert [(s.spender, s.kept) for s in spends] == [("host:1", True), ("host:2", False)]
    summary = store.spend_summary()
    assert summary["spends"] == 3 and summary["contexts"] == 2 and summary["double_spends"] == 1
    assert (summary["wasted_prompt_tokens"], summary["wasted_completion_tokens"]) == (12, 6)
    memory = InMemoryStore()
    memory.put("k", "a", prompt_tokens=1, completion_tokens=1, seconds=0, model="m")
    memory.put("k", "b", prompt_tokens=2, completion_tokens=2, seconds=0, model="m")
    assert memory.spend_summary()["double_spends"] == 1 and memory.get("k").learned_context == "a"


def _lease_row(path, key, owner, expires_at):
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)", (key, owner, expires_at))


def _holder(path, key):
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT owner FROM leases WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def test_a_lease_whose_owner_died_is_taken_over_at_once(tmp_path):
    store = LearnedContextStore(tmp_path / "lc.sqlite", lease_seconds=3600)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lease_row(store.path, "k", f"{socket.gethostname()}:{dead.pid}:abc", time.time() + 3600)
    with store.lock("k"):
        assert _holder(store.path, "k").startswith(worker_id() + ":")
    assert _holder(store.path, "k") is None  # released


def test_an_expired_lease_is_taken_over_and_a_live_one_is_waited_for(tmp_path):
    store = LearnedContextStore(tmp_path / "lc.sqlite")
    _lease_row(store.path, "old", "elsewhere:1:x", time.time() - 1)
    with store.lock("old"):
        assert _holder(store.path, "old").startswith(worker_id())
    # a live lease held by another host: the waiter returns as soon as the holder's result is stored
    _lease_row(store.path, "k", "elsewhere:1:y", time.time() + 3600)
    waited = threading.Event()

    def waiter():
        with store.lock("k"):
            waited.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not waited.wait(0.5)
    store.put("k", "made elsewhere", prompt_tokens=1, completion_tokens=1, seconds=0, model="m")
    thread.join(timeout=30)
    assert waited.is_set() and _holder(store.path, "k") == "elsewhere:1:y"  # not taken from a live owner


def test_a_held_lease_is_renewed_while_its_owner_works(tmp_path):
    store = LearnedContextStore(tmp_path / "lc.sqlite", lease_seconds=0.3)
    with store.lock("k"):
        with sqlite3.connect(store.path) as db:
            first = db.execute("SELECT expires_at FROM leases WHERE key = 'k'").fetchone()[0]
        time.sleep(0.5)  # longer than the lease: only renewal keeps it
        with sqlite3.connect(store.path) as db:
            later = db.execute("SELECT expires_at FROM leases WHERE key = 'k'").fetchone()[0]
        assert later > first and later > time.time()


def test_a_failed_maker_releases_its_lease_so_the_next_worker_makes_it(tmp_path):
    store = LearnedContextStore(tmp_path / "lc.sqlite")
    try:
        with store.lock("k"):
            raise RuntimeError("the sleep phase failed")
    except RuntimeError:
        pass
    assert _holder(store.path, "k") is None
    with store.lock("k"):
        assert _holder(store.path, "k").startswith(worker_id())
