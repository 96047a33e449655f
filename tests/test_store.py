"""The learned-context store: first writer wins, and a second process pays no sleep tokens."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.lm.ledger import TokenLedger
from programs.program import SleepTimeProgram
from programs.store import LearnedContextStore, learned_context_key

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
