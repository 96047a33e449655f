"""Sleep-time strategies: chosen by the Budget, keyed apart in the store, agreeing across samples."""

from __future__ import annotations

import json

import pytest

from optimize.experiments.runner import budget_id
from programs import build_program
from programs.answers import states_number
from programs.binding import LMBinding
from programs.budget import Budget, BudgetError
from programs.lm import TokenLedger
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.store import InMemoryStore
from programs.strategies import build_answerer, build_sleep_module
from programs.strategies.agreement import agreed_values, majority_value, ranked_values, uncontested_values
from programs.strategies.anticipate import AnticipateAndSolve, parse_questions
from programs.strategies.compute import ranked_notes


def test_budget_names_the_allowed_strategies():
    with pytest.raises(BudgetError, match="notes, anticipate, compute, anticipate\\+compute"):
        Budget(sleep_strategy="guess")
    with pytest.raises(BudgetError, match="answer, code"):
        Budget(test_strategy="guess")


def test_notes_keep_the_store_key_they_had():
    # Learned contexts already in users' stores were made under this key; the new fields must not move it.
    key = json.loads(Budget().sleep_key())
    assert key == {"sleep_max_tokens": 512, "sleep_model": "local:qwen2.5-coder-0.5b", "sleep_rounds": 0,
                   "sleep_samples": 1}


def test_each_strategy_and_its_knobs_key_the_store_apart():
    keys = {Budget(sleep_strategy=s).sleep_key() for s in ("notes", "anticipate", "compute",
                                                            "anticipate+compute")}
    assert len(keys) == 4
    anticipate = Budget(sleep_strategy="anticipate")
    assert anticipate.replace(sleep_questions=4).sleep_key() != anticipate.sleep_key()
    assert anticipate.replace(sleep_verbosity=1).sleep_key() != anticipate.sleep_key()
    # Sleep verbosity does not shape a computed program's notes, so a compute Budget refuses it.
    with pytest.raises(BudgetError, match="sleep_verbosity=1 does nothing with sleep_strategy='compute'"):
        Budget(sleep_strategy="compute").replace(sleep_verbosity=1)


def test_build_sleep_module_sizes_the_strategy_from_the_budget():
    module = build_sleep_module(Budget(sleep_strategy="anticipate", sleep_questions=5, sleep_verbosity=2,
                                       sleep_samples=3), lm=None)
    assert isinstance(module, AnticipateAndSolve)
    assert (module.questions, module.verbosity, module.samples) == (5, 2, 3)
    assert type(build_sleep_module(Budget(), lm=None)).__name__ == "SleepTimeRewriter"


def test_build_answerer_picks_the_test_strategy_and_every_program_uses_it():
    from programs import build_program

    answerer = build_answerer(Budget(use_sleep=False, test_verbosity=3), lm=None)
    assert type(answerer).__name__ == "TestTimeAnswerer"
    assert (answerer.verbosity, answerer.with_learned_context) == (3, False)
    for strategy, name in (("answer", "TestTimeAnswerer"), ("pick", "NoteLinePicker")):
        assert type(build_program(Budget(test_strategy=strategy)).answerer).__name__ == name
    code = build_program(Budget(use_sleep=False, test_strategy="code")).answerer
    assert type(code).__name__ == "ProgramOfThoughtAnswerer"


def test_parse_questions_drops_non_questions_and_repeats():
    text = "Questions:\n1. How many in total?\n2. how many in total?\nThe answer is 5.\n- What is left?"
    assert parse_questions(text, 10) == ["How many in total?", "What is left?"]
    assert parse_questions(text, 1) == ["How many in total?"]


def test_majority_needs_more_than_half_of_all_samples():
    assert majority_value([3.0, 3.0, None]) == 3.0
    assert majority_value([3.0, None, None]) is None  # unreadable samples count against
    assert agreed_values([{"a": 1, "b": 2}, {"a": 1}, {"a": 2, "b": 2}]) == {"a": 1, "b": 2}


def _listing_or_second_answer(messages) -> str | None:
    """The script every anticipating test shares: two questions listed, question 2 answered 7; None for the
    calls each test answers its own way (question 1, the re-derivation)."""
    text = messages[-1]["content"]
    if "## count ##" in text:
        return chat_adapter_reply(questions="1. How many in total?\n2. How many left?")
    if "How many left?" in text:
        return chat_adapter_reply(reasoning="10 - 3 = 7", answer="7")
    return None


def _anticipating_engine(answers_by_seed: dict[int, str], rederived: str):
    """Lists two questions; answers question 1 by the request's seed, question 2 always with 7."""

    def reply(messages, request):
        if (shared := _listing_or_second_answer(messages)) is not None:
            return shared
        if "double-check" in messages[0]["content"]:  # the greedy re-derivation (verbosity 4)
            return chat_adapter_reply(reasoning="checked", answer=rederived)
        seed = request.get("seed")
        return chat_adapter_reply(reasoning="4 * 3 = 12", answer=answers_by_seed.get(seed, "12"))

    return FakeEngine(reply)


def _notes(engine, samples: int) -> tuple[str, dict]:
    lm = LMBinding(f"openai/fake@{engine.api_base}", phase="sleep", max_tokens=128)
    made = AnticipateAndSolve(questions=4, verbosity=1, samples=samples, seed=0, lm=lm)(context="facts")
    return made.learned_context, made.outcomes


def test_agreeing_samples_keep_the_answer_once():
    with _anticipating_engine({0: "12", 1: "12", 2: "13"}, rederived="99") as engine:
        notes, outcomes = _notes(engine, samples=3)
    assert notes.splitlines() == ["- How many in total? 12 (4 * 3 = 12)", "- How many left? 7 (10 - 3 = 7)"]
    assert outcomes == {"agreed": 2, "rederived": 0, "dropped": 0}


def test_disagreement_is_rederived_or_dropped_never_concatenated():
    with _anticipating_engine({0: "12", 1: "13"}, rederived="13") as engine:
        notes, outcomes = _notes(engine, samples=2)
    assert notes.splitlines()[0] == "- How many in total? 13"
    assert outcomes["rederived"] == 1
    with _anticipating_engine({0: "12", 1: "13"}, rederived="99") as engine:
        notes, outcomes = _notes(engine, samples=2)
    assert notes.splitlines() == ["- How many left? 7 (10 - 3 = 7)"]
    assert outcomes["dropped"] == 1


def test_rows_keep_the_notes_and_whether_they_state_the_gold_number(tmp_path):
    import dspy

    from optimize.experiments.evaluate import evaluate
    from programs import build_program
    from programs.lm.ledger import TokenLedger

    def reply(messages, request):
        text = messages[-1]["content"]
        return chat_adapter_reply(answer="12") if "question" in text else chat_adapter_reply(
            learned_context="- total = 3 * 4 = 12")

    examples = [dspy.Example(context_id="c", question_id=f"q{i}", template_id="t", context="3 boxes of 4.",
                             question=f"question {i}", answer=gold).with_inputs("context", "question")
                for i, gold in enumerate((12, 5))]
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        ledger = TokenLedger()
        program = build_program(Budget(sleep_model=spec, test_model=spec), ledger=ledger)
        frame = evaluate(program, examples, ledger=ledger, progress=False,
                         results_path=tmp_path / "rows.jsonl")
    assert list(frame["learned_context"]) == ["- total = 3 * 4 = 12"] * 2
    assert list(frame["notes_state_gold"]) == [True, False]
    written = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [row["notes_state_gold"] for row in written] == [True, False]


def test_an_unparseable_answer_drops_its_question_not_the_learned_context():
    def reply(messages, request):
        if (shared := _listing_or_second_answer(messages)) is not None:
            return shared
        return "[[ ## reasoning ## ]]\nSo the total is \\boxed{12}."  # no answer field: unparseable

    with FakeEngine(reply) as engine:
        notes, outcomes = _notes(engine, samples=1)
    assert notes.splitlines() == ["- How many left? 7 (10 - 3 = 7)"]
    assert outcomes == {"agreed": 1, "rederived": 0, "dropped": 1}


def test_union_keeps_names_only_some_samples_computed_and_drops_names_they_split_on():
    samples = [{"total_eggs": 16, "eggs_eaten": 3}, {"Total_Eggs": 16, "price": 2.0}, {"eggs_eaten": 4}]
    # eggs_eaten: 3 against 4 is a disagreement (dropped); price: one sample, nothing contradicts it.
    assert uncontested_values(samples) == {"total_eggs": 16, "price": 2.0}
    assert agreed_values(samples) == {}  # no name matched in more than half of all three samples
    assert uncontested_values([{"a": 1}, {"a": 1}, {"a": 2}]) == {"a": 1}


def test_sleep_combine_keys_computed_contexts_apart_and_leaves_every_earlier_id_where_it_was():
    compute = Budget(sleep_strategy="compute", sleep_samples=4)
    assert compute.replace(sleep_combine="union").sleep_key() != compute.sleep_key()
    assert "sleep_combine" not in json.loads(compute.sleep_key())
    # Notes are concatenated whatever the rule, so a notes Budget refuses one (its contexts never move).
    with pytest.raises(BudgetError, match="sleep_combine='union' does nothing with sleep_strategy='notes'"):
        Budget().replace(sleep_combine="union")
    # Ids of Budgets made before the strategy fields existed stay put: this one names the standard run's
    # committed sleep v1 rows (docs/benchmarks/standard/ours/<1.5B>/rows/27ec29f5b72f.jsonl).
    assert budget_id(Budget(test_verbosity=1, sleep_model="local:qwen2.5-coder-1.5b",
                            test_model="local:qwen2.5-coder-1.5b")) == "27ec29f5b72f"
    assert budget_id(compute.replace(sleep_combine="union")) != budget_id(compute)
    with pytest.raises(BudgetError, match="agree, union, ranked"):
        Budget(sleep_combine="vote")


def test_computed_notes_combine_samples_by_the_rule_the_budget_names():
    programs = ["total_eggs = 16\neggs_eaten = 3", "total_eggs = 16\nprice = 2.0", "eggs_eaten = 4"]

    def reply(messages, request):
        return chat_adapter_reply(code=programs[(request.get("seed") or 0) % 3])

    made = {}
    for rule in ("agree", "union", "ranked"):
        with FakeEngine(reply) as engine:
            lm = LMBinding(f"openai/fake@{engine.api_base}", phase="sleep", max_tokens=256)
            budget = Budget(sleep_strategy="compute", sleep_samples=3, sleep_combine=rule)
            made[rule] = build_sleep_module(budget, lm=lm, seed=0)(context="16 eggs.").learned_context
    assert made["union"] == "- total eggs = 16\n- price = 2"
    assert made["agree"] == "- total eggs = 16"
    assert made["ranked"] == "- total eggs = 16 (most programs)\n- price = 2 (one program)"


def test_ranked_states_each_union_value_once_most_computed_first_and_adds_no_number():
    samples = [{"eggs": 16, "price": 2.0, "wrong_total": 99}, {"total_eggs": 16, "price": 2}, {"eggs": 16},
               {"Eggs": 16.0, "cartons": 3}]
    ranked = ranked_values(samples)
    # Every value the union keeps, each once (16 under two names), and no other.
    assert sorted(entry.value for entry in ranked) == sorted(set(uncontested_values(samples).values()))
    assert [(entry.names, entry.support) for entry in ranked] == [
        (("eggs", "total_eggs"), 4), (("price",), 2), (("wrong_total",), 1), (("cartons",), 1)]
    notes = build_sleep_module(Budget(sleep_strategy="compute", sleep_samples=4, sleep_combine="ranked"),
                               lm=None)
    assert notes.combine == "ranked"
    text = ranked_notes(ranked, programs=4)
    assert text.splitlines()[0] == "- eggs, total eggs = 16 (most programs)"
    # How many programs computed a value is said in words: coverage must not find the 4 of "4 programs".
    assert not states_number(text, 4)


def test_samples_are_reused_across_k_and_combine_rules_and_charged_what_they_cost():
    writes = []

    def reply(messages, request):
        writes.append(request.get("seed"))
        return chat_adapter_reply(code=f"total = 16\nsample_{request.get('seed') or 0} = 1")

    store, ledger = InMemoryStore(), TokenLedger()
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"

        def sleep(**knobs):
            budget = Budget(sleep_strategy="compute", sleep_model=spec, test_model=spec, **knobs)
            before = len(ledger.calls)
            made = build_program(budget, ledger=ledger, store=store).sleep_phase("16 eggs.")
            return made, ledger.calls[before:]

        four, calls = sleep(sleep_samples=4, sleep_combine="union")
        assert len(calls) == 4 and "sample 3 = 1" in four.learned_context
        two, calls = sleep(sleep_samples=2)  # agree at k=2: samples 0 and 1 of the k=4 context, no new call
        assert calls == [] and two.learned_context == "- total = 16" and not two.store_hit
        per_sample = sum(c.prompt_tokens + c.completion_tokens for c in ledger.calls) / 4
        assert two.cost["prompt_tokens"] + two.cost["completion_tokens"] == 2 * per_sample
        eight, calls = sleep(sleep_samples=8, sleep_combine="union")
        assert len(calls) == 4 and eight.learned_context.count("\n") == 8  # total + one line per sample


def test_asking_whether_a_module_keeps_samples_does_not_trip_dspys_forward_warning():
    import logging

    from programs.strategies.sample_cache import keeps_samples

    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    dspy_logger = logging.getLogger("dspy")  # DSPy's own handler: records do not reach pytest's caplog
    dspy_logger.addHandler(handler)
    try:
        assert keeps_samples(build_sleep_module(Budget(sleep_strategy="compute"), lm=None))
        assert not keeps_samples(build_sleep_module(Budget(), lm=None))
    finally:
        dspy_logger.removeHandler(handler)
    assert not [message for message in logged if "forward" in message]
