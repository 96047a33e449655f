"""Budget: validation names field and range; JSON round-trip; sleep_key covers what shapes c'."""

import json

import pytest

from programs.budget import Budget, BudgetError


@pytest.mark.parametrize("field, value, message", [
    ("test_verbosity", 5, "Budget.test_verbosity=5 is out of range; allowed: 0..4"),
    ("test_verbosity", -1, "allowed: 0..4"),
    ("sleep_samples", 0, "Budget.sleep_samples=0 is out of range; allowed: 1..10"),
    ("sleep_samples", 11, "allowed: 1..10"),
    ("sleep_rounds", 4, "Budget.sleep_rounds=4 is out of range; allowed: 0..3"),
    ("test_max_tokens", 0, "Budget.test_max_tokens=0"),
    ("test_verbosity", 2.0, "must be an integer in 0..4"),
    ("sleep_samples", True, "must be an integer"),
    ("use_sleep", "yes", "use_sleep must be true or false"),
    ("sleep_model", "", "Budget.sleep_model must be a model spec"),
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
    assert base.sleep_key() == base.replace(test_verbosity=4, test_max_tokens=32, test_model="x").sleep_key()
    changes = ({"sleep_samples": 2}, {"sleep_rounds": 1}, {"sleep_max_tokens": 100}, {"sleep_model": "y"})
    for change in changes:
        assert base.replace(**change).sleep_key() != base.sleep_key()
