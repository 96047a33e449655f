"""SleepTimeSession on the fake engine: background sleep, policies, updates, persistence, failures, close."""

from __future__ import annotations

import threading
import time

import pytest

from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.scheduler import SleepScheduler
from programs.session import (
    SessionClosedError,
    SleepTimeSession,
    UnknownContextError,
    _PriorityGate,
    merge_notes,
)
from programs.session_index import ContextIndex, ContextRecord


class Engine:
    """A fake engine whose sleep calls can be held back until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        self.kinds: list[str] = []
        self.notes_answer = "12"  # what an answer reading the notes says
        self.engine = FakeEngine(self.reply)

    def reply(self, messages, request) -> str:
        text = messages[-1]["content"]
        if "likely to ask about these facts" in messages[0]["content"]:
            self.kinds.append("probe")
            return chat_adapter_reply(questions="1. How many apples?\n2. How many boxes?")
        if "[[ ## learned_context ## ]]" in text and "[[ ## question ## ]]" in text:
            self.kinds.append("answer")
            return chat_adapter_reply(reasoning="from the notes", answer=self.notes_answer)
        if "[[ ## new_facts ## ]]" in text:
            self.kinds.append("revise")
            return chat_adapter_reply(changes="- apples = 5 * 4 = 20\n- pears = 7")
        if "[[ ## question ## ]]" in text:
            self.kinds.append("answer")
            return chat_adapter_reply(reasoning="3 * 4 = 12", answer="12")
        self.kinds.append("sleep")
        self.release.wait(30)
        return chat_adapter_reply(learned_context="- apples = 3 * 4 = 12\n- boxes = 3")

    def __enter__(self) -> Engine:
        self.engine.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.engine.stop()

    def budget(self) -> Budget:
        spec = f"openai/fake@{self.engine.api_base}"
        return Budget(sleep_model=spec, test_model=spec)


@pytest.fixture
def engine():
    with Engine() as running:
        yield running


def session_for(engine: Engine, **kwargs) -> SleepTimeSession:
    kwargs.setdefault("lm_options", {"num_retries": 0})
    return SleepTimeSession(engine.budget(), **kwargs)


def test_add_returns_at_once_and_ask_uses_the_learned_context_when_ready(engine):
    engine.release.clear()
    with session_for(engine) as session:
        status = session.add_context("shop", "3 boxes of 4 apples.", expected_questions=5)
        assert status["state"] in ("pending", "sleeping")
        early = session.ask("shop", "How many apples?", policy="test-only")
        assert early.mode == "test_only" and early.learned_context is None
        engine.release.set()
        assert session.wait(["shop"], timeout=30)
        late = session.ask("shop", "How many apples?")
        assert late.mode == "learned_context" and "apples = 3 * 4 = 12" in late.learned_context
        plain = session.ask("shop", "How many apples?", engine.budget().replace(use_sleep=False))
        assert plain.mode == "test_only"
        status = session.status("shop")
        assert status["state"] == "ready" and status["sleep_cost"]["completion_tokens"] > 0
        assert status["test_cost"]["questions"] == 3 and status["test_cost"]["completion_tokens"] > 0
        costs = session.costs()
        assert costs["sleep"]["calls"] == 1 and costs["test"]["calls"] == 3
        assert costs["contexts"] == {"ready": 1}


def test_wait_policy_falls_back_after_the_deadline_and_require_raises(engine):
    engine.release.clear()
    with session_for(engine) as session:
        session.add_context("shop", "3 boxes of 4 apples.", expected_questions=5)
        assert session.ask("shop", "How many apples?", policy="wait", deadline=0.05).mode == "test_only"
        with pytest.raises(TimeoutError, match="policy='wait'"):
            session.ask("shop", "How many apples?", policy="require", deadline=0.05)
        engine.release.set()
        answered = session.ask("shop", "How many apples?", policy="require", deadline=30)
        assert answered.mode == "learned_context"


def test_learned_contexts_survive_a_restart_on_the_same_store(engine, tmp_path):
    path = tmp_path / "store.sqlite"
    with session_for(engine, store=path) as session:
        session.add_context("shop", "3 boxes of 4 apples.", expected_questions=5)
        assert session.wait(timeout=30)
        notes = session.status("shop")["learned_context"]
    sleeps = engine.kinds.count("sleep")
    with session_for(engine, store=path) as again:
        assert again.status("shop")["state"] == "ready"
        prediction = again.ask("shop", "How many apples?")
    assert prediction.mode == "learned_context" and prediction.learned_context == notes
    assert engine.kinds.count("sleep") == sleeps  # nothing was made twice


def test_work_left_unfinished_by_a_dead_session_is_resumed(engine, tmp_path):
    path = tmp_path / "store.sqlite"
    with session_for(engine, store=path):
        pass  # creates the store file and its index table
    ContextIndex(path).put(ContextRecord("shop", "3 boxes of 4 apples.", state="sleeping",
                                         plan={"sleep": True, "samples": 1, "saving": 0.5}))
    with session_for(engine, store=path) as session:
        assert session.wait(["shop"], timeout=30)
        assert session.status("shop")["state"] == "ready"


def test_update_revises_the_learned_context_with_the_new_facts_only(engine):
    with session_for(engine) as session:
        session.add_context("shop", "3 boxes of 4 apples.", expected_questions=5)
        assert session.wait(timeout=30)
        before = session.status("shop")
        session.update_context("shop", "Two more boxes arrive.")
        assert session.wait(timeout=30)
        after = session.status("shop")
    assert engine.kinds.count("sleep") == 1 and engine.kinds.count("revise") == 1
    assert after["learned_context"] == "- apples = 5 * 4 = 20\n- boxes = 3\n- pears = 7"
    assert after["sleep_cost"]["completion_tokens"] > before["sleep_cost"]["completion_tokens"]
    revise = next(r for r in engine.engine.requests if "new_facts" in r["messages"][-1]["content"])
    prompt = revise["messages"][-1]["content"]
    assert "Two more boxes arrive." in prompt and "apples = 3 * 4 = 12" in prompt


def test_update_before_sleeping_makes_one_learned_context_over_the_longer_text(engine):
    engine.release.clear()
    with session_for(engine, scheduler=SleepScheduler(policy="always")) as session:
        session.add_context("a", "1 box of 4 apples.")  # occupies the only sleep worker
        session.add_context("b", "3 boxes of 4 apples.")
        session.update_context("b", "Two more boxes arrive.")
        engine.release.set()
        assert session.wait(timeout=30)
    assert engine.kinds.count("sleep") == 2 and "revise" not in engine.kinds
    prompts = [r["messages"][-1]["content"] for r in engine.engine.requests]
    assert any("3 boxes of 4 apples.\nTwo more boxes arrive." in p for p in prompts)


def test_a_skipped_context_is_answered_test_time_only(engine):
    with session_for(engine, scheduler=SleepScheduler(policy="never")) as session:
        assert session.add_context("shop", "3 boxes of 4 apples.")["state"] == "skipped"
        assert session.ask("shop", "How many apples?").mode == "test_only"
    assert "sleep" not in engine.kinds


def test_a_failed_sleep_is_recorded_and_questions_still_get_answers(engine):
    engine.engine.fail_next(1, status=500)
    with session_for(engine) as session:
        session.add_context("shop", "3 boxes of 4 apples.", expected_questions=5)
        assert session.wait(timeout=30)
        status = session.status("shop")
        assert status["state"] == "failed" and status["error"]
        assert session.ask("shop", "How many apples?").mode == "test_only"
        assert session.ledger.usage("sleep").failed_calls == 1


def test_close_stops_every_worker_and_refuses_new_work(engine):
    session = session_for(engine, sleep_workers=3)
    session.close()
    session.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("sleeptime-sleep")]
    with pytest.raises(SessionClosedError):
        session.add_context("shop", "3 boxes of 4 apples.")


def test_bad_input_names_the_fix(engine):
    with session_for(engine) as session:
        with pytest.raises(UnknownContextError, match="add_context"):
            session.ask("nope", "How many?")
        session.add_context("shop", "3 boxes of 4 apples.")
        assert session.add_context("shop", "3 boxes of 4 apples.")["id"] == "shop"  # idempotent
        with pytest.raises(ValueError, match="update_context"):
            session.add_context("shop", "other facts")
        with pytest.raises(ValueError, match="policy"):
            session.ask("shop", "How many?", policy="maybe")
    with pytest.raises(ValueError, match="use_sleep=True"):
        SleepTimeSession(Budget(use_sleep=False))


def test_a_waiting_question_goes_before_waiting_sleep_work():
    gate = _PriorityGate(1)
    order: list[str] = []
    held = threading.Event()
    done = threading.Event()

    def holder() -> None:
        with gate.hold(urgent=False):
            held.set()
            done.wait(10)

    def job(name: str, urgent: bool) -> None:
        with gate.hold(urgent=urgent):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    held.wait(10)
    sleeper = threading.Thread(target=job, args=("sleep", False))
    sleeper.start()
    while gate.waiting < 1:
        time.sleep(0.001)
    asker = threading.Thread(target=job, args=("ask", True))
    asker.start()
    while gate.waiting < 2:
        time.sleep(0.001)
    done.set()
    for thread in (first, sleeper, asker):
        thread.join(10)
    assert order == ["ask", "sleep"]


def test_merge_notes_replaces_changed_quantities_and_appends_new_ones():
    assert merge_notes("- a = 1\n- b = 2", "- B = 3\n- c = 4\n- a = 1") == "- a = 1\n- B = 3\n- c = 4"
    assert merge_notes("", "x = 1") == "x = 1"


def test_prefill_sends_the_answer_prefix_once_the_notes_are_made(engine):
    with session_for(engine, prefill=True) as session:
        session.add_context("shop", "3 boxes of 4 apples.", expected_questions=5)
        assert session.wait(timeout=30)
        session.ask("shop", "How many apples?")
        sleep_calls = session.ledger.usage("sleep").calls
    prefill, answer = [r for r in engine.engine.requests
                       if "[[ ## question ## ]]" in r["messages"][-1]["content"]]
    limit = prefill.get("max_tokens") or prefill.get("max_completion_tokens")
    assert limit == 1 and sleep_calls == 2  # booked as sleep time
    prefix = prefill["messages"][-1]["content"].split("[[ ## question ## ]]")[0]
    assert answer["messages"][-1]["content"].startswith(prefix) and "apples = 3 * 4 = 12" in prefix
    assert answer["messages"][0] == prefill["messages"][0]


def test_notes_are_published_only_when_probe_answers_agree(engine):
    with session_for(engine, probes=2) as session:
        session.add_context("good", "3 boxes of 4 apples.", expected_questions=5)
        assert session.wait(timeout=30)
        good = session.status("good")
        engine.notes_answer = "13"  # the notes now lead answers astray
        session.add_context("bad", "3 crates of 4 pears.", expected_questions=5)
        assert session.wait(timeout=30)
        bad = session.status("bad")
        assert session.ask("bad", "How many pears?").mode == "test_only"
        assert session.ledger.usage("sleep").calls == 2 + 2 * (1 + 2 + 2)  # sleep + (propose, 2 x 2 answers)
    assert good["state"] == "ready" and good["probe"]["agreement"] == 1.0 and good["probe"]["checked"] == 2
    assert good["probe"]["questions"] == ["How many apples?", "How many boxes?"]
    assert bad["state"] == "failed" and bad["probe"]["agreement"] == 0.0 and "probe" in bad["error"]
