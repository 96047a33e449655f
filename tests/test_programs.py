"""Rewriter, answerer, programs and baselines against the fake engine: answers, calls and exact tokens."""

from __future__ import annotations

import dspy
import pytest

from programs.api import build_program
from programs.baselines import MajorityVote, PassAtK, TestTimeOnly
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply, count_tokens
from programs.lm.ledger import TokenLedger
from programs.program import SleepTimeProgram
from programs.store import InMemoryStore

CONTEXT = "Ann has 3 boxes. Each box holds 4 apples."
NOTES = "apples = 3 * 4 = 12"


class Recorder:
    """Chat-adapter replies by request kind, remembering what each request was and what it was sent back."""

    def __init__(self, answer: str = "12", plain: bool = False) -> None:
        self.answer, self.plain = answer, plain
        self.log: list[tuple[str, int, str]] = []  # (kind, prompt tokens, reply)

    def kind(self, messages) -> str:
        text = messages[-1]["content"]
        if "draft_learned_context" in text or "Notes so far:" in text:
            return "rethink"
        if "candidate_notes" in text or "Candidate notes:" in text:
            return "merge"
        if "[[ ## question ## ]]" in text or "Question:" in text:
            return "answer"
        return "learn"

    def __call__(self, messages, request) -> str:
        kind = self.kind(messages)
        reasoning = "[[ ## reasoning ## ]]" in messages[0]["content"]
        if self.plain:
            reply = NOTES if kind != "answer" else f"3 boxes of 4.\nAnswer: {self.answer}"
        elif kind == "answer":
            fields = {"reasoning": "3 * 4 = 12"} if reasoning else {}
            reply = chat_adapter_reply(**fields, answer=self.answer)
        else:
            reply = chat_adapter_reply(learned_context=NOTES)
        prompt = sum(count_tokens(m["content"]) for m in messages)
        self.log.append((kind, prompt, reply))
        return reply

    def tokens(self, kinds) -> tuple[int, int, int]:
        rows = [r for r in self.log if r[0] in kinds]
        return len(rows), sum(r[1] for r in rows), sum(count_tokens(r[2]) for r in rows)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def engine(recorder):
    with FakeEngine(recorder) as running:
        yield running


def make_budget(engine, **fields) -> Budget:
    spec = f"openai/fake@{engine.api_base}"
    return Budget(sleep_model=spec, test_model=spec, **fields)


def test_sleep_program_answers_and_ledger_splits_tokens_by_phase_exactly(engine, recorder):
    ledger = TokenLedger()
    program = build_program(make_budget(engine), ledger=ledger, store=InMemoryStore(),
                            lm_options={"num_retries": 0})
    assert isinstance(program, SleepTimeProgram)
    pred = program(context=CONTEXT, question="How many apples?")
    assert pred.answer == "12" and pred.learned_context == NOTES and pred.store_hit is False
    calls, prompt, completion = recorder.tokens({"learn", "rethink", "merge"})
    sleep = ledger.usage("sleep")
    assert (sleep.calls, sleep.prompt_tokens, sleep.completion_tokens) == (calls, prompt, completion) == (
        1, prompt, completion)
    assert pred.sleep_cost == {"prompt_tokens": prompt, "completion_tokens": completion,
                               "seconds": pred.sleep_cost["seconds"]}
    calls, prompt, completion = recorder.tokens({"answer"})
    test = ledger.usage("test")
    assert (test.calls, test.prompt_tokens, test.completion_tokens) == (1, prompt, completion)
    assert pred.test_usage["completion_tokens"] == completion


@pytest.mark.parametrize("samples, rounds, combine, expected", [
    (1, 0, "concat", 1), (3, 0, "concat", 3), (3, 2, "concat", 5), (2, 1, "merge", 4), (1, 3, "concat", 4),
])
def test_k_samples_and_rethink_rounds_make_the_expected_sleep_calls(engine, recorder, samples, rounds,
                                                                     combine, expected):
    ledger = TokenLedger()
    program = SleepTimeProgram(make_budget(engine, sleep_samples=samples, sleep_rounds=rounds), ledger=ledger,
                               combine=combine, lm_options={"num_retries": 0})
    program(context=CONTEXT, question="How many apples?")
    assert ledger.usage("sleep").calls == expected
    assert [kind for kind, *_ in recorder.log].count("rethink") == rounds
    learn_requests = [r for r in engine.requests if recorder.kind(r["messages"]) == "learn"]
    assert len(learn_requests) == samples
    if samples > 1:  # distinct seeds at a non-zero temperature, so the drafts can differ
        assert sorted(r.get("seed") for r in learn_requests) == list(range(samples))
        assert all(r.get("temperature", 0) > 0 for r in learn_requests)


def test_second_question_on_a_context_costs_no_sleep_tokens(engine):
    ledger = TokenLedger()
    program = SleepTimeProgram(make_budget(engine), ledger=ledger, lm_options={"num_retries": 0})
    first = program(context=CONTEXT, question="How many apples?")
    spent = ledger.usage("sleep").total_tokens
    second = program(context=CONTEXT, question="How many boxes?")
    assert ledger.usage("sleep").total_tokens == spent > 0
    assert second.store_hit and second.learned_context_key == first.learned_context_key
    assert second.sleep_cost["completion_tokens"] == first.sleep_cost["completion_tokens"]
    other = program(context=CONTEXT + " Bob has 2.", question="How many apples?")
    assert not other.store_hit and ledger.usage("sleep").total_tokens > spent


def test_sleep_and_answer_run_separately(engine):
    ledger = TokenLedger()
    program = SleepTimeProgram(make_budget(engine), ledger=ledger, lm_options={"num_retries": 0})
    notes = program.sleep(CONTEXT)
    assert notes == NOTES and ledger.usage("test").calls == 0
    pred = program.answer(CONTEXT, "How many apples?", learned_context="given notes")
    assert pred.answer == "12" and pred.learned_context == "given notes" and ledger.usage("sleep").calls == 1
    assert "given notes" in engine.requests[-1]["messages"][-1]["content"]


def test_context_and_notes_come_before_the_question_in_the_prompt(engine):
    program = SleepTimeProgram(make_budget(engine), lm_options={"num_retries": 0})
    program(context=CONTEXT, question="How many apples?")
    user = engine.requests[-1]["messages"][-1]["content"]
    assert user.index(CONTEXT) < user.index(NOTES) < user.index("How many apples?")


@pytest.mark.parametrize("verbosity, phrase", [(0, "no reasoning"), (1, "one or two short sentences"),
                                               (2, "brief list of steps"), (3, "step by step"),
                                               (4, "double-check")])
def test_verbosity_sets_instruction_reasoning_field_and_max_tokens(engine, verbosity, phrase):
    program = TestTimeOnly(make_budget(engine, use_sleep=False, test_verbosity=verbosity, test_max_tokens=77),
                           lm_options={"num_retries": 0})
    pred = program(context=CONTEXT, question="How many apples?")
    request = engine.requests[-1]
    system = request["messages"][0]["content"]
    assert phrase in system
    assert ("[[ ## reasoning ## ]]" in system) == (verbosity >= 1)
    assert (pred.reasoning is not None) == (verbosity >= 1)
    assert (request.get("max_completion_tokens") or request.get("max_tokens")) == 77


def test_plain_adapter_renders_plain_prompts_and_parses_answer_line():
    recorder = Recorder(plain=True)
    with FakeEngine(recorder) as engine:
        program = SleepTimeProgram(make_budget(engine, test_verbosity=2), adapter="plain",
                                   lm_options={"num_retries": 0})
        pred = program(context=CONTEXT, question="How many apples?")
        prompts = [str(r["messages"]) for r in engine.requests]
    assert pred.answer == "12" and pred.learned_context == NOTES
    assert pred.reasoning == "3 boxes of 4."
    assert all("[[ ##" not in p for p in prompts) and all("Facts:" in p for p in prompts)


def test_chat_adapter_never_falls_back_to_json_on_a_bad_reply():
    with FakeEngine(lambda messages, request: "no markers here") as engine:
        program = TestTimeOnly(make_budget(engine, use_sleep=False), lm_options={"num_retries": 0})
        with pytest.raises(dspy.utils.exceptions.AdapterParseError):
            program(context=CONTEXT, question="How many apples?")
        assert len(engine.requests) == 1


def test_majority_vote_takes_the_most_common_number_from_k_test_calls():
    replies = iter(["13", "12", "12", "14", "12"])
    with FakeEngine(lambda m, r: chat_adapter_reply(answer=next(replies))) as engine:
        ledger = TokenLedger()
        program = MajorityVote(make_budget(engine, use_sleep=False), k=5, ledger=ledger,
                               lm_options={"num_retries": 0})
        pred = program(context=CONTEXT, question="How many apples?")
    assert pred.answer == "12" and pred.samples == ["13", "12", "12", "14", "12"]
    assert ledger.usage("test").calls == 5 and ledger.usage("sleep").calls == 0


def test_pass_at_k_is_an_oracle_that_needs_gold():
    replies = iter(["10", "11", "12"])
    with FakeEngine(lambda m, r: chat_adapter_reply(answer=next(replies))) as engine:
        program = PassAtK(make_budget(engine, use_sleep=False), k=3, lm_options={"num_retries": 0})
        assert program.needs_gold
        with pytest.raises(ValueError, match="gold"):
            program(context=CONTEXT, question="How many apples?")
        pred = program(context=CONTEXT, question="How many apples?", gold=12)
    assert pred.answer == "12" and pred.any_correct


def test_build_program_picks_the_class_for_the_budget(engine):
    assert isinstance(build_program(make_budget(engine)), SleepTimeProgram)
    assert isinstance(build_program(make_budget(engine, use_sleep=False)), TestTimeOnly)
    majority = build_program(make_budget(engine, use_sleep=False), baseline="majority", k=3)
    assert isinstance(majority, MajorityVote)
    with pytest.raises(ValueError, match="use_sleep"):
        SleepTimeProgram(make_budget(engine, use_sleep=False))
    with pytest.raises(ValueError, match="temperature"):
        SleepTimeProgram(make_budget(engine, sleep_samples=2), sleep_temperature=0.0)


def test_lms_are_bound_at_run_time_not_saved_in_state(engine):
    program = SleepTimeProgram(make_budget(engine), lm_options={"num_retries": 0})
    program(context=CONTEXT, question="How many apples?")
    state = program.dump_state()
    assert set(state) == {"rewriter.learn", "rewriter.rethink", "rewriter.merge", "answerer.predict"}
    assert all(value.get("lm") is None for value in state.values())
    assert "fake" not in str(state)


@pytest.mark.parametrize("name", ["SleepTimeProgram", "TestTimeOnly", "MajorityVote", "PassAtK"])
def test_every_program_takes_context_then_question_in_forward_and_answer(name):
    import inspect

    from programs.registry import program_class

    cls = program_class(name)
    for method in (cls.forward, cls.answer):
        assert list(inspect.signature(method).parameters)[1:3] == ["context", "question"], method.__qualname__
