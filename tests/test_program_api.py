"""Programs as DSPy users expect them: LMs bound per predictor (get_lm/set_lm), wrappable by dspy.BestOfN
and dspy.Refine, dspy.configure used where the Budget names no model; cut-off replies told apart."""

from __future__ import annotations

import dspy
import pytest
from dspy.utils.exceptions import AdapterParseError

from programs.adapter import TruncatedReplyError
from programs.api import build_program
from programs.budget import DEFAULT_TEST_MAX_TOKENS, Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.lm.ledger import TokenLedger
from programs.lm.metered import MeteredLM

CONTEXT = "Ann has 3 boxes. Each box holds 4 apples."


def is_answer(messages) -> bool:
    return "[[ ## question ## ]]" in messages[-1]["content"]


def scripted(*answers: str):
    """Replies: notes for sleep-time calls, the next scripted answer for each answer call."""
    queue = iter(answers)

    def reply(messages, request):
        if is_answer(messages):
            return chat_adapter_reply(answer=next(queue))
        return chat_adapter_reply(learned_context="apples = 12")
    return reply


def budget(engine, **fields) -> Budget:
    spec = f"openai/fake@{engine.api_base}"
    return Budget(sleep_model=spec, test_model=spec, **fields)


def plain_lm(engine) -> dspy.LM:
    return dspy.LM("openai/plain", api_base=engine.api_base, api_key="unused", cache=False, num_retries=0)


def reward(_inputs, pred) -> float:
    return 1.0 if pred.answer == "12" else 0.0


def test_get_lm_is_the_answering_lm_bound_on_the_predictors():
    with FakeEngine(scripted("12")) as engine:
        program = build_program(budget(engine), lm_options={"num_retries": 0})
        lm = program.get_lm()
        assert isinstance(lm, MeteredLM) and lm.phase == "test"
        assert program.answerer.predict.lm is lm
        program.rewriter.lm_binding.bind(program.rewriter)
        assert program.rewriter.get_lm().phase == "sleep"
        assert program.deepcopy().get_lm() is lm  # copies share run-time LMs, as dspy.LM.copy shares clients


def test_best_of_n_wraps_a_sleep_time_program_and_varies_only_the_answer():
    with FakeEngine(scripted("11", "12", "13")) as engine:
        ledger = TokenLedger()
        program = build_program(budget(engine), ledger=ledger, lm_options={"num_retries": 0})
        best = dspy.BestOfN(program, N=3, reward_fn=reward, threshold=1.0)
        pred = best(context=CONTEXT, question="How many apples?")
        answers = [r for r in engine.requests if is_answer(r["messages"])]
        sleeps = [r for r in engine.requests if not is_answer(r["messages"])]
    assert pred.answer == "12" and len(answers) == 2  # stopped at the threshold
    assert all(r.get("temperature") == 1.0 for r in answers)  # BestOfN's lm.copy(temperature=1.0)
    assert len(sleeps) == 1 and sleeps[0].get("temperature") == 0.0  # sleep kept its own LM, made once
    assert ledger.usage("test").calls == 2 and ledger.usage("sleep").calls == 1


def test_refine_wraps_a_test_time_only_program():
    with FakeEngine(scripted("12")) as engine:
        program = build_program(budget(engine, use_sleep=False), lm_options={"num_retries": 0})
        refined = dspy.Refine(program, N=2, reward_fn=reward, threshold=1.0)
        assert refined(context=CONTEXT, question="How many apples?").answer == "12"
        assert engine.requests[-1].get("temperature") == 1.0


def test_without_a_budget_model_the_dspy_configured_lm_answers_within_the_cap():
    program = build_program(Budget(use_sleep=False, test_model=None))
    assert program.get_lm() is None
    with FakeEngine(scripted("12")) as engine:
        with dspy.context(lm=plain_lm(engine)):
            assert program(context=CONTEXT, question="How many apples?").answer == "12"
        request = engine.requests[-1]
    assert request["model"] == "plain"
    assert (request.get("max_completion_tokens") or request.get("max_tokens")) == DEFAULT_TEST_MAX_TOKENS[0]
    with dspy.context(lm=None), pytest.raises(Exception, match="No LM is loaded"):
        program(context=CONTEXT, question="How many apples?")


def test_set_lm_with_a_plain_lm_binds_every_phase_as_in_dspy():
    with FakeEngine(scripted("12")) as engine:
        program = build_program(Budget(sleep_model="openai/m@http://127.0.0.1:9/v1",
                                       test_model="openai/m@http://127.0.0.1:9/v1"))
        program.set_lm(plain_lm(engine))
        assert program(context=CONTEXT, question="How many apples?").answer == "12"
        assert {r["model"] for r in engine.requests} == {"plain"} and len(engine.requests) == 2


def test_samples_run_on_rollout_copies_with_their_own_seed():
    with FakeEngine(scripted("12", "12", "13")) as engine:
        program = build_program(budget(engine, use_sleep=False), baseline="majority", k=3, seed=5,
                                lm_options={"num_retries": 0})
        assert program(context=CONTEXT, question="How many apples?").answer == "12"
        assert [r.get("seed") for r in engine.requests] == [5, 6, 7]
        assert all(r.get("temperature") == 0.7 for r in engine.requests)
        assert program.get_lm().kwargs.get("rollout_id") is None  # the bound LM itself is untouched


def test_a_reply_cut_off_at_the_cap_raises_truncated_reply_error():
    reasoning = "3 boxes times 4 apples each is twelve apples in total so the answer is"

    def long_reply(messages, request):
        return chat_adapter_reply(reasoning=reasoning, answer="12")
    with FakeEngine(long_reply) as engine:
        program = build_program(budget(engine, use_sleep=False, test_verbosity=3, test_max_tokens=12),
                                lm_options={"num_retries": 0})
        with pytest.raises(TruncatedReplyError) as caught:
            program(context=CONTEXT, question="How many apples?")
    assert isinstance(caught.value, AdapterParseError) and caught.value.max_tokens == 12
    assert "cut off at the 12-token cap" in str(caught.value)


def test_an_unparseable_reply_that_finished_stays_a_plain_parse_error():
    with FakeEngine(lambda messages, request: "no markers here") as engine:
        program = build_program(budget(engine, use_sleep=False), lm_options={"num_retries": 0})
        with pytest.raises(AdapterParseError) as caught:
            program(context=CONTEXT, question="How many apples?")
    assert not isinstance(caught.value, TruncatedReplyError)


@pytest.mark.parametrize("verbosity", [0, 3, 4])
def test_the_default_cap_is_the_one_for_the_verbosity(verbosity):
    reply = chat_adapter_reply(**({"reasoning": "3 * 4"} if verbosity else {}), answer="12")
    with FakeEngine(lambda messages, request: reply) as engine:
        program = build_program(budget(engine, use_sleep=False, test_verbosity=verbosity),
                                lm_options={"num_retries": 0})
        program(context=CONTEXT, question="How many apples?")
        request = engine.requests[-1]
    cap = request.get("max_completion_tokens") or request.get("max_tokens")
    assert cap == DEFAULT_TEST_MAX_TOKENS[verbosity] == program.budget.resolved_test_max_tokens
