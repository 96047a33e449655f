"""Budget: validation names field and range; JSON round-trip; sleep_key covers what shapes c'."""

import json
import re
from dataclasses import fields

import pytest

from programs.budget import DEFAULT_TEST_MAX_TOKENS, STRATEGY_KNOBS, Budget, BudgetError, reading_strategy


@pytest.mark.parametrize("field, value, message", [
    ("test_verbosity", 5, "Budget.test_verbosity=5 is out of range; allowed: 0..4"),
    ("test_verbosity", -1, "allowed: 0..4"),
    ("sleep_samples", 0, "Budget.sleep_samples=0 is out of range; allowed: 1..32"),
    ("sleep_samples", 33, "allowed: 1..32"),
    ("sleep_rounds", 4, "Budget.sleep_rounds=4 is out of range; allowed: 0..3"),
    ("test_max_tokens", 0, "Budget.test_max_tokens=0"),
    ("test_verbosity", 2.0, "must be an integer in 0..4"),
    ("sleep_samples", True, "must be an integer"),
    ("use_sleep", "yes", "use_sleep must be true or false"),
    ("sleep_model", "", "Budget.sleep_model must be a model spec"),
    ("test_model", "nonsense", "Budget.test_model='nonsense' is not a usable model spec"),
    ("test_model", "local:qwen9", "known local models"),
    ("sleep_model", "openai/m@ftp://x", "not an http(s) URL"),
])
def test_out_of_range_values_name_field_and_allowed_range(field, value, message):
    with pytest.raises(BudgetError) as caught:
        Budget(**{field: value})
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_round_trips_through_dict_and_json():
    budget = Budget(use_sleep=True, test_verbosity=3, sleep_samples=4, sleep_rounds=2, compiled="runs/x")
    assert Budget.from_dict(budget.to_dict()) == budget
    assert Budget.from_json(budget.to_json()) == budget
    assert json.loads(budget.to_json())["sleep_samples"] == 4


def test_is_frozen_and_rejects_unknown_fields():
    budget = Budget()
    with pytest.raises(AttributeError):
        budget.test_verbosity = 2
    with pytest.raises(BudgetError, match="unknown Budget field"):
        Budget.from_dict({"verbosity": 2})
    with pytest.raises(BudgetError, match="not valid JSON"):
        Budget.from_json("{oops")


def test_sleep_key_depends_only_on_what_shapes_the_learned_context():
    base = Budget()
    assert base.sleep_key() == Budget().sleep_key()
    test_only = base.replace(test_verbosity=4, test_max_tokens=32, test_model="openai/x")
    assert base.sleep_key() == test_only.sleep_key()
    changes = ({"sleep_samples": 2}, {"sleep_rounds": 1}, {"sleep_max_tokens": 100},
               {"sleep_model": "openai/y"})
    for change in changes:
        assert base.replace(**change).sleep_key() != base.sleep_key()


def test_every_field_documents_itself_and_validation_reads_the_same_range():
    for spec in fields(Budget):
        assert spec.metadata["help"], spec.name
        assert "range" in spec.metadata
        low_high = spec.metadata["range"]
        if low_high is None:
            continue
        low, high = low_high
        with pytest.raises(BudgetError, match=f"allowed: {low}..{high}"):
            Budget(**{spec.name: high + 1})
        assert getattr(Budget(**{spec.name: low, **reading_strategy(spec.name)}), spec.name) == low


def test_unknown_model_spec_names_the_accepted_forms():
    with pytest.raises(BudgetError) as caught:
        Budget(test_model="nonsense")
    assert "test_model" in str(caught.value) and "openai/<model>" in str(caught.value)


def test_test_cap_defaults_per_verbosity_and_an_explicit_cap_wins():
    assert Budget().test_max_tokens is None
    for verbosity in range(5):
        budget = Budget(test_verbosity=verbosity)
        assert budget.resolved_test_max_tokens == DEFAULT_TEST_MAX_TOKENS[verbosity]
        assert budget.replace(test_max_tokens=77).resolved_test_max_tokens == 77
    # Reasoning levels get room to finish (a cap of 256 cut off 11 of 30 verbosity-3 answers).
    assert DEFAULT_TEST_MAX_TOKENS[0] < DEFAULT_TEST_MAX_TOKENS[1] < DEFAULT_TEST_MAX_TOKENS[3] >= 1024


def test_no_model_means_the_dspy_configured_lm():
    budget = Budget(sleep_model=None, test_model=None)
    assert Budget.from_json(budget.to_json()) == budget


@pytest.mark.parametrize("strategy", sorted(STRATEGY_KNOBS))
def test_a_knob_its_strategy_ignores_is_refused_naming_who_reads_it(strategy):
    """A knob the strategy never reads would run the default program under another id (a search would pay
    for it twice, a user would believe it changed something)."""
    changed = {"sleep_rounds": 1, "sleep_combine": "union", "sleep_questions": 4, "sleep_verbosity": 1}
    for knob, value in changed.items():
        if knob in STRATEGY_KNOBS[strategy]:
            assert getattr(Budget(sleep_strategy=strategy, **{knob: value}), knob) == value
        else:
            expected = rf"Budget.{knob}=.* does nothing with sleep_strategy='{re.escape(strategy)}'"
            with pytest.raises(BudgetError, match=expected + r" \(it is read by .*only\): leave it at"):
                Budget(sleep_strategy=strategy, **{knob: value})
    assert Budget(use_sleep=False, sleep_combine="union").sleep_combine == "union"  # no sleep phase to ignore
