"""Pareto fronts against fronts worked out by hand."""

import math

import pytest

from optimize.reports.pareto import dominates, pareto_front


def test_two_objectives_front_by_hand():
    # (accuracy up, tokens down): 1 beats 3 (more accurate, fewer tokens); 2 beats 4; 0, 1, 2 trade off.
    points = [(0.40, 10), (0.60, 50), (0.80, 200), (0.55, 60), (0.79, 250)]
    assert pareto_front(points, ["maximize", "minimize"]) == [0, 1, 2]


def test_three_objectives_front_by_hand():
    points = [
        (0.5, 100, 1000),  # 0: front
        (0.5, 100, 900),  # 1: beats 0 on cost -> 0 is dominated
        (0.7, 300, 3000),  # 2: front (most accurate)
        (0.4, 50, 2000),  # 3: front (fewest tokens)
        (0.4, 60, 2000),  # 4: dominated by 3
    ]
    assert pareto_front(points, ["maximize", "minimize", "minimize"]) == [1, 2, 3]


def test_duplicates_are_both_kept_and_nan_is_never_on_the_front():
    points = [(1.0, 1.0), (1.0, 1.0), (math.nan, 0.0)]
    assert pareto_front(points, ["maximize", "minimize"]) == [0, 1]


def test_dominates_needs_one_strict_improvement():
    assert dominates((1, 1), (1, 2), ["maximize", "minimize"])
    assert not dominates((1, 1), (1, 1), ["maximize", "minimize"])


def test_bad_directions_are_refused():
    with pytest.raises(ValueError, match="maximize"):
        pareto_front([(1, 2)], ["up", "down"])
    with pytest.raises(ValueError, match="one direction"):
        pareto_front([(1, 2, 3)], ["maximize", "minimize"])


def test_distinct_front_lists_a_budget_proposed_twice_once():
    import optuna

    from optimize.experiments.search import distinct_front

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for values, budget in (([0.5, 10, 100], "A"), ([0.5, 10, 100], "A"), ([0.8, 50, 500], "B"),
                           ([0.1, 90, 900], "C")):
        study.add_trial(optuna.trial.create_trial(values=values, user_attrs={"budget": budget}))
    front = distinct_front(study)
    assert [t.user_attrs["budget"] for t in front] == ["B", "A"]
