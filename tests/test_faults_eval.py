"""Faults in evaluation: no silent wrong result. A results file of another configuration is
refused, failed rows make the run fail (unless tolerated) and are retried on resume, truncated and
unparseable replies are their own columns, and threads change the order of work but never the rows."""

from __future__ import annotations

import json

import dspy
import pytest

from optimize.cli.app import main
from optimize.errors import ResumeMismatchError
from optimize.experiments.evaluate import evaluate, score_row
from optimize.experiments.results_file import run_config
from programs.api import build_program
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.lm.ledger import TokenLedger
from programs.store import InMemoryStore

TIMING = ["seconds", "test_seconds", "sleep_seconds"]


def reply(messages, request):
    text = messages[-1]["content"]
    if "question" not in text:
        return chat_adapter_reply(learned_context="apples noted")
    box = int(text.split("Box ")[1].split()[0])
    return chat_adapter_reply(answer=str(box + 2))


def data_file(path, contexts: int = 2, per_context: int = 2):
    rows = [{"context_id": f"c{c}", "template_id": f"t{c}", "level": "base",
             "context": f"Box {c} holds {c + 2} apples.",
             "questions": [{"question_id": f"c{c}-q{q}", "question": f"Q{c}-{q}: how many?",
                            "answer": c + 2 + q, "predictability": "high"} for q in range(per_context)]}
            for c in range(contexts)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def examples(contexts: int, per_context: int) -> list[dspy.Example]:
    return [dspy.Example(context=f"Box {c} holds {c + 2} apples.", question=f"Q{c}-{q}: how many?",
                         answer=str(c + 2 + q % 2), context_id=f"c{c}", question_id=f"c{c}-q{q}",
                         template_id=f"t{c}", level="base", predictability="high"
                         ).with_inputs("context", "question")
            for c in range(contexts) for q in range(per_context)]


def run(engine, tmp_path, *extra: str) -> int:
    spec = f"openai/fake@{engine.api_base}"
    return main(["evaluate", "--data", str(data_file(tmp_path / "rows.jsonl")), "--split", "all",
                 "--model", spec, "--store", ":memory:", "--threads", "1", "--retries", "0", *extra])


def test_a_results_file_of_another_configuration_is_refused_before_any_work(tmp_path, capsys):
    out = str(tmp_path / "results.jsonl")
    with FakeEngine(reply) as engine:
        assert run(engine, tmp_path, "--out", out) == 0
        before = len(engine.requests)
        assert run(engine, tmp_path, "--out", out) == 0  # same configuration: resumed, nothing redone
        assert len(engine.requests) == before
        capsys.readouterr()
        # A sleep-time file reused for a test-time-only run at verbosity 4 would otherwise report its rows
        # (with their sleep tokens) as the new configuration's.
        assert run(engine, tmp_path, "--out", out, "--no-sleep", "--test-verbosity", "4") == 2
        assert len(engine.requests) == before
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "another configuration" in err and "use_sleep" in err
    assert "new --out" in err


def test_a_changed_data_file_or_prompt_is_another_configuration(tmp_path):
    ledger = TokenLedger()
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program = build_program(Budget(sleep_model=spec, test_model=spec), ledger=ledger,
                                store=InMemoryStore(), lm_options={"num_retries": 0})
        path = tmp_path / "r.jsonl"
        config = run_config(program, data={"source": "x", "sha256": "aaa"})
        evaluate(program, examples(1, 1), ledger=ledger, results_path=path, config=config, progress=False)
        with pytest.raises(ResumeMismatchError, match="data.sha256"):
            evaluate(program, examples(1, 1), ledger=ledger, results_path=path, progress=False,
                     config=run_config(program, data={"source": "x", "sha256": "bbb"}))
        program.answerer.predict.signature = program.answerer.predict.signature.with_instructions("Other.")
        with pytest.raises(ResumeMismatchError, match="prompts"):
            evaluate(program, examples(1, 1), ledger=ledger, results_path=path, progress=False, config=config
                     | {"prompts": run_config(program)["prompts"]})


def test_failed_rows_fail_the_run_and_are_retried_on_resume(tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    with FakeEngine(reply) as engine:
        engine.fail_next(1, status=500)  # the sleep call of context c0: row c0-q0 fails
        assert run(engine, tmp_path, "--out", str(out)) == 3
        err = capsys.readouterr().err
        assert "1 of 4 rows failed" in err and "--tolerate-errors" in err and f"--out {out}" in err
        assert run(engine, tmp_path, "--out", str(out)) == 0  # the rerun retries the failed row only
        printed = capsys.readouterr().out
    assert "retried 1 row(s) that had failed before: c0-q0" in printed
    latest = {}
    for line in out.read_text().splitlines():
        row = json.loads(line)
        latest[row["question_id"]] = row
    assert len(latest) == 4 and all(row["error"] is None for row in latest.values())


def test_tolerate_errors_accepts_a_few_failed_rows_but_never_a_mostly_failed_run(tmp_path, capsys):
    with FakeEngine(reply) as engine:
        engine.fail_next(1, status=500)
        assert run(engine, tmp_path, "--tolerate-errors") == 0
        assert "1 of 4 rows failed" in capsys.readouterr().out
        engine.fail_next(1000, status=500)
        assert run(engine, tmp_path, "--tolerate-errors") == 3
    assert "more than half failed" in capsys.readouterr().err


def test_retry_errors_can_be_turned_off(tmp_path):
    ledger = TokenLedger()
    path = tmp_path / "r.jsonl"
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program = build_program(Budget(use_sleep=False, test_model=spec), ledger=ledger,
                                lm_options={"num_retries": 0})
        engine.fail_next(1, status=500)
        first = evaluate(program, examples(1, 2), ledger=ledger, results_path=path, progress=False)
        assert first["error"].notna().sum() == 1
        kept = evaluate(program, examples(1, 2), ledger=ledger, results_path=path, progress=False,
                        retry_errors=False)
        assert kept["error"].notna().sum() == 1 and kept.attrs["retried"] == []
        redone = evaluate(program, examples(1, 2), ledger=ledger, results_path=path, progress=False)
    assert redone["error"].isna().all() and redone.attrs["retried"] == ["c0-q0"]


def test_an_unparseable_reply_is_a_parse_error_row_not_just_a_wrong_answer():
    ledger = TokenLedger()
    with FakeEngine(lambda messages, request: "I think the answer is") as engine:
        spec = f"openai/fake@{engine.api_base}"
        program = build_program(Budget(use_sleep=False, test_model=spec), ledger=ledger,
                                lm_options={"num_retries": 0})
        frame = evaluate(program, examples(1, 1), ledger=ledger, progress=False)
    assert frame["parse_error"].tolist() == [True] and frame["error"].notna().all()
    assert not frame["correct"].any()
    # answered, scored wrong, counted apart: not a failed LM call (a rerun would only repeat it)
    from optimize.reports.metrics import failed_rows, summarize

    assert not failed_rows(frame).any() and summarize(frame)["errors"] == 0



def test_an_unparsed_reply_that_states_the_gold_number_is_counted_apart_not_right():
    """A fair baseline: the table says how many unparsed replies stated the gold number; ``correct`` stays
    strict (the adapter could not read an answer field)."""
    from optimize.reports.analysis import failure_rates

    ledger = TokenLedger()
    replies = iter(["[[ ## reasoning ## ]]\nBox 0 holds 2 apples, so the count is 2.",
                    "[[ ## reasoning ## ]]\nI would guess 7."])
    with FakeEngine(lambda messages, request: next(replies)) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program = build_program(Budget(use_sleep=False, test_model=spec), ledger=ledger,
                                lm_options={"num_retries": 0})
        frame = evaluate(program, examples(1, 2)[:1] + examples(1, 3)[2:], ledger=ledger, progress=False)
    assert frame["parse_error"].tolist() == [True, True] and not frame["correct"].any()
    assert frame["reply_correct"].tolist() == [True, False]
    assert failure_rates(frame) == {"truncation_rate": 0.0, "parse_failures": 2, "unparsed_right": 1}

def _call(phase: str, finish_reason: str):
    import dataclasses

    from programs.lm.ledger import LMCall

    call = LMCall("m", phase, 1, 1, 0.0)
    if "finish_reason" in {field.name for field in dataclasses.fields(LMCall)}:
        return dataclasses.replace(call, finish_reason=finish_reason)
    object.__setattr__(call, "finish_reason", finish_reason)  # before branch lm adds the field
    return call


def test_a_test_call_cut_off_at_its_cap_marks_the_row_truncated():
    from programs.lm.ledger import LedgerScope

    example = examples(1, 1)[0]
    scope = LedgerScope()
    scope.calls = [_call("sleep", "length"), _call("test", "length")]
    assert score_row(example, dspy.Prediction(answer="2"), None, scope, 0.1)["truncated"] is True
    scope.calls = [_call("sleep", "length"), _call("test", "stop")]  # only the sleep call was cut
    assert score_row(example, dspy.Prediction(answer="2"), None, scope, 0.1)["truncated"] is False


def test_threads_change_the_order_of_work_but_not_the_rows():
    """With several threads every context's sleep phase is queued first and each context's
    questions go together; on greedy decoding the rows equal the serial ones, tokens included."""
    frames, orders, sleep_phases = {}, {}, {}
    for threads in (1, 2, 4):
        ledger = TokenLedger()
        with FakeEngine(reply) as engine:
            spec = f"openai/fake@{engine.api_base}"
            program = build_program(Budget(sleep_model=spec, test_model=spec), ledger=ledger,
                                    store=InMemoryStore(), lm_options={"num_retries": 0})
            made, calls = program.sleep_phase, []
            program.sleep_phase = lambda context, made=made, calls=calls: (calls.append(context)
                                                                          or made(context))
            frames[threads] = evaluate(program, examples(5, 3), ledger=ledger, num_threads=threads,
                                       progress=False).drop(columns=TIMING)
            orders[threads] = [m["messages"][-1]["content"] for m in engine.requests]
            sleep_phases[threads] = len(calls)
        assert ledger.usage("sleep").calls == 5
    assert sleep_phases == {1: 15, 2: 20, 4: 20}  # threaded: one ahead per context, then one per answer
    for threads in (2, 4):
        assert frames[threads].equals(frames[1]), threads
    for order in orders.values():  # a context's learned context is made before any of its answers
        for c in range(5):
            sleep_at = [i for i, text in enumerate(order) if "question" not in text and f"Box {c} " in text]
            answers_at = [i for i, text in enumerate(order) if f"Q{c}-" in text]
            assert len(sleep_at) == 1 and sleep_at[0] < min(answers_at)


def test_a_reply_cut_off_at_the_cap_is_reported_truncated_end_to_end():
    ledger = TokenLedger()
    answer = chat_adapter_reply(answer="4")
    with FakeEngine(lambda messages, request: answer, finish_reason="length") as engine:
        spec = f"openai/fake@{engine.api_base}"
        program = build_program(Budget(use_sleep=False, test_model=spec), ledger=ledger,
                                 lm_options={"num_retries": 0})
        frame = evaluate(program, examples(1, 2), ledger=ledger, progress=False)
    assert frame["truncated"].tolist() == [True, True]


def test_the_cli_default_threads_come_from_the_test_models_server():
    import programs.lm
    from optimize.experiments.adapter_runs import default_threads

    assert default_threads("openai/m@http://127.0.0.1:9/v1") == programs.lm.suggested_concurrency(
        "openai/m@http://127.0.0.1:9/v1") == 8
    assert default_threads("") == 1


def test_a_password_in_the_endpoint_url_never_reaches_the_results_file(tmp_path):
    ledger = TokenLedger()
    path = tmp_path / "r.jsonl"
    spec = "openai/dead@http://bob:hunter2@127.0.0.1:1/v1"
    program = build_program(Budget(use_sleep=False, test_model=spec), ledger=ledger,
                            lm_options={"num_retries": 0, "check": False})
    frame = evaluate(program, examples(1, 1), ledger=ledger, results_path=path, progress=False)
    assert frame["error"].notna().all()
    assert "hunter2" not in path.read_text() and "hunter2" not in frame.to_csv()


def test_an_unreachable_endpoint_with_credentials_is_named_without_its_password():
    from programs.lm.factory import LMSetupError, check_endpoint

    with pytest.raises(LMSetupError) as caught:
        check_endpoint("http://bob:hunter2@127.0.0.1:1/v1", timeout=2)
    assert "hunter2" not in str(caught.value) and "bob:***@127.0.0.1:1" in str(caught.value)
