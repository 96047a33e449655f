"""evaluate(): scored rows, exact per-row tokens, one learned context per context, resume, error rows."""

from __future__ import annotations

import json

import dspy
import pytest

from optimize.experiments.evaluate import COLUMNS, evaluate
from optimize.reports.metrics import summarize
from programs.api import build_program
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.lm.ledger import TokenLedger
from programs.store import InMemoryStore


def examples(contexts: int = 3, per_context: int = 2) -> list[dspy.Example]:
    rows = []
    for c in range(contexts):
        for q in range(per_context):
            rows.append(dspy.Example(context=f"Box {c} holds {c + 2} apples.",
                                     question=f"Q{c}-{q}: how many?",
                                     answer=str(c + 2 + q), context_id=f"c{c}", question_id=f"c{c}-q{q}",
                                     template_id=f"t{c}", level="base", predictability=0.5,
                                     ).with_inputs("context", "question"))
    return rows


def reply(messages, request):
    text = messages[-1]["content"]
    if "question" not in text:
        return chat_adapter_reply(learned_context="apples noted")
    if "Q1-0" in text:
        return chat_adapter_reply(answer="I do not know")  # no number: scored wrong, not a crash
    # Answer the box number + 2, so question 0 of each context is right and question 1 wrong.
    box = int(text.split("Box ")[1].split()[0])
    return chat_adapter_reply(answer=str(box + 2))


def program_for(engine, ledger, **fields):
    spec = f"openai/fake@{engine.api_base}"
    return build_program(Budget(sleep_model=spec, test_model=spec, **fields), ledger=ledger,
                         store=InMemoryStore(), lm_options={"num_retries": 0})


@pytest.mark.parametrize("threads", [1, 4])
def test_rows_are_scored_and_learned_context_is_made_once_per_context(threads):
    ledger = TokenLedger()
    with FakeEngine(reply) as engine:
        frame = evaluate(program_for(engine, ledger), examples(), ledger=ledger, num_threads=threads,
                         progress=False)
    assert list(frame.columns) == COLUMNS and len(frame) == 6
    assert frame["question_id"].tolist() == [e.question_id for e in examples()]
    assert frame["correct"].tolist() == [True, False, False, False, True, False]
    assert frame["extracted"].isna().tolist() == [False, False, True, False, False, False]
    assert ledger.usage("sleep").calls == 3  # one learned context per context, even with 4 threads
    assert frame["store_hit"].sum() == 3 and (frame["sleep_tokens_spent"] > 0).sum() == 3
    assert frame["sleep_tokens_spent"].sum() == ledger.usage("sleep").total_tokens
    assert frame["test_tokens"].sum() == ledger.usage("test").total_tokens
    assert (frame["sleep_tokens"] > 0).all() and frame["error"].isna().all()


def test_resume_skips_finished_rows(tmp_path):
    path = tmp_path / "results.jsonl"
    ledger = TokenLedger()
    data = examples()
    with FakeEngine(reply) as engine:
        program = program_for(engine, ledger, use_sleep=False)
        evaluate(program, data[:4], ledger=ledger, results_path=path, progress=False)  # "interrupted" run
        with path.open("a") as handle:
            handle.write('{"question_id": "c2-q0", "corr')  # a torn last line from the interruption
        before = len(engine.requests)
        with pytest.warns(UserWarning, match="not a complete JSON row"):
            frame = evaluate(program, data, ledger=ledger, results_path=path, progress=False)
        assert len(engine.requests) - before == 2  # only the two unfinished questions ran
    assert frame["question_id"].tolist() == [e.question_id for e in data]
    ids = []
    for line in path.read_text().splitlines():
        try:
            ids.append(json.loads(line)["question_id"])
        except json.JSONDecodeError:
            pass
    assert sorted(ids) == sorted(e.question_id for e in data)


def test_lm_failure_becomes_an_error_row_and_is_counted():
    ledger = TokenLedger()
    with FakeEngine(reply) as engine:
        engine.fail_next(1, status=500)  # the first call (sleep for context c0) fails, no retries
        frame = evaluate(program_for(engine, ledger), examples(), ledger=ledger, progress=False)
    assert len(frame) == 6
    failed = frame[frame["error"].notna()]
    assert failed["question_id"].tolist() == ["c0-q0"] and not failed["correct"].any()
    assert ledger.usage("sleep").failed_calls == 1
    assert summarize(frame)["errors"] == 1


def test_pass_at_k_gets_gold_from_the_examples():
    ledger = TokenLedger()
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program = build_program(Budget(use_sleep=False, test_model=spec), ledger=ledger, baseline="pass-at-k",
                                k=2, lm_options={"num_retries": 0})
        frame = evaluate(program, examples(1, 1), ledger=ledger, progress=False)
    assert frame["correct"].tolist() == [True] and ledger.usage("test").calls == 2


@pytest.mark.parametrize("threads", [1, 2])
def test_an_interrupt_stops_the_run_after_the_questions_in_flight(tmp_path, threads):
    """Ctrl-C or SIGTERM (KeyboardInterrupt in the main thread) must not first answer the whole queue: every
    context's first question is queued at once, and waiting for the executor's exit would run them all."""
    import signal
    import threading

    # CI may start tests with signals ignored: this test installs the handler it needs.
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGUSR1, interrupt)
    main = threading.main_thread().ident
    ledger, out = TokenLedger(), tmp_path / "rows.jsonl"

    def slow_reply(messages, request):
        if len(engine.requests) == 4:
            signal.pthread_kill(main, signal.SIGUSR1)  # as `kill` would, to the main thread
        return reply(messages, request)

    try:
        with FakeEngine(slow_reply, delay_seconds=0.05) as engine:
            with pytest.raises(KeyboardInterrupt):
                evaluate(program_for(engine, ledger), examples(contexts=40, per_context=1), ledger=ledger,
                         num_threads=threads, progress=False, results_path=out)
            calls_at_stop = len(engine.requests)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert calls_at_stop <= 4 + 2 * threads, calls_at_stop  # not 80 (40 sleep + 40 answer calls)
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(kept) < 40  # what finished is kept for a resumed run
