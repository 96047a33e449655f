"""The break-even scheduler's arithmetic and policies."""

from __future__ import annotations

import math

import pytest

from programs.scheduler import (
    CostModel,
    SleepOption,
    SleepScheduler,
    break_even_questions,
    question_cost,
)

MODEL = CostModel(test_tokens_without=60.0, price_ratio=10.0,
                  options=(SleepOption(1, 120.0, 10.0), SleepOption(4, 480.0, 5.0)))


def test_question_cost_is_sleep_share_plus_expected_test_cost():
    one = MODEL.option(1)
    # S/N + t * (T0 - p * (T0 - T1)) = 120/3 + 10 * (60 - 0.5 * 50)
    assert question_cost(one, MODEL, questions=3, predictability=0.5) == pytest.approx(40 + 350)
    assert question_cost(one, MODEL, questions=1, predictability=0.0) == pytest.approx(120 + 600)


def test_break_even_matches_the_rule_and_is_infinite_without_gain():
    one = MODEL.option(1)
    n_star = break_even_questions(one, MODEL, predictability=0.2)
    assert n_star == pytest.approx(120 / (10 * 0.2 * 50))
    # at N* the sleep cost per question equals the cost without notes
    assert question_cost(one, MODEL, n_star, 0.2) == pytest.approx(10 * 60)
    assert break_even_questions(one, MODEL, predictability=0.0) == math.inf
    useless = CostModel(10.0, (SleepOption(1, 100.0, 12.0),))
    assert break_even_questions(useless.options[0], useless, 1.0) == math.inf


def test_plan_sleeps_above_break_even_and_skips_below():
    scheduler = SleepScheduler(MODEL)
    assert not scheduler.plan(expected_questions=0.1, predictability=0.5).sleep  # N* = 0.48 for k=1
    plan = scheduler.plan(expected_questions=1, predictability=0.5)
    assert plan.sleep and plan.samples == 1 and plan.expected_cost < plan.never_cost
    assert plan.saving == pytest.approx(1 - plan.expected_cost / plan.never_cost)
    assert not scheduler.plan(expected_questions=100, predictability=0.0).sleep


def test_plan_buys_more_samples_when_many_questions_share_them():
    scheduler = SleepScheduler(MODEL)
    # k=4 saves 5 more test tokens per question (x t=10) for 360 more sleep tokens: pays past N = 7.2
    assert scheduler.plan(expected_questions=5, predictability=1.0).samples == 1
    assert scheduler.plan(expected_questions=10, predictability=1.0).samples == 4


def test_always_and_never_policies_ignore_the_arithmetic():
    always = SleepScheduler(MODEL, policy="always").plan(expected_questions=0.01, predictability=0.0)
    assert always.sleep and always.samples == 4
    assert SleepScheduler(MODEL, policy="always", always_samples=1).plan(1, 0.5).samples == 1
    assert not SleepScheduler(MODEL, policy="never").plan(expected_questions=1000, predictability=1).sleep


def test_defaults_and_validation():
    plan = SleepScheduler(MODEL, default_questions=3, default_predictability=0.5).plan()
    assert plan.expected_questions == 3 and plan.predictability == 0.5
    with pytest.raises(ValueError, match="policy"):
        SleepScheduler(policy="sometimes")
    with pytest.raises(ValueError, match="predictability"):
        SleepScheduler().plan(3, 1.5)
    with pytest.raises(ValueError, match="expected_questions"):
        SleepScheduler().plan(0, 0.5)
    with pytest.raises(ValueError, match="SleepOption"):
        CostModel(10.0, ())


def test_from_configs_matches_the_baseline_at_equal_accuracy():
    rows = [
        {"use_sleep": True, "sleep_samples": 1, "accuracy": 0.5, "mean_test_tokens": 10,
         "sleep_tokens_per_context": 120},
        {"use_sleep": "True", "sleep_samples": 1, "accuracy": 0.4, "mean_test_tokens": 8,
         "sleep_tokens_per_context": 120},
        {"use_sleep": True, "sleep_samples": 2, "accuracy": 0.6, "mean_test_tokens": 9,
         "sleep_tokens_per_context": 250},
        {"use_sleep": False, "accuracy": 0.45, "mean_test_tokens": 12},
        {"use_sleep": False, "accuracy": 0.6, "mean_test_tokens": 70},
        {"use_sleep": False, "accuracy": 0.7, "mean_test_tokens": 90},
    ]
    model = CostModel.from_configs(rows, price_ratio=5)
    assert model.test_tokens_without == 70.0 and model.price_ratio == 5
    assert [(o.samples, o.test_tokens, o.sleep_tokens) for o in model.options] == [(1, 10.0, 120.0),
                                                                                   (2, 9.0, 250.0)]
    with pytest.raises(ValueError, match="test-time-only"):
        CostModel.from_configs(rows[:3])
