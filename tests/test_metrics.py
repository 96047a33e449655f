"""summarize() and paired_difference(): hand-computed numbers."""

import math

import pandas as pd
import pytest

from optimize.reports.metrics import paired_difference, summarize, wilson_interval


def frame():
    # 2 contexts x 3 questions; learned contexts cost 90 and 150 generated tokens (120 on average).
    return pd.DataFrame({
        "context_id": ["a"] * 3 + ["b"] * 3,
        "question_id": list(range(6)),
        "correct": [True, True, False, True, False, False],
        "error": [None, None, "boom", None, None, None],
        "test_completion_tokens": [10, 20, 30, 40, 50, 60],
        "test_tokens": [110, 120, 130, 140, 150, 160],
        "sleep_completion_tokens": [90, 90, 90, 150, 150, 150],
        "sleep_tokens": [300] * 3 + [500] * 3,
        "test_seconds": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })


def test_amortization_and_cost_per_query_by_hand():
    s = summarize(frame())
    assert s["n"] == 6 and s["accuracy"] == pytest.approx(0.5) and s["errors"] == 1
    assert s["mean_test_tokens"] == pytest.approx(35.0)
    assert s["sleep_tokens_per_context"] == pytest.approx(120.0)
    assert s["questions_per_context"] == pytest.approx(3.0)
    assert s["mean_sleep_tokens_amortized"] == pytest.approx(40.0)
    assert s["cost_per_query"] == pytest.approx(10 * 35 + 40)
    assert s["mean_test_seconds"] == pytest.approx(3.5)


def test_questions_per_context_price_ratio_and_total_tokens():
    s = summarize(frame(), questions_per_context=10, price_ratio=1.0)
    assert s["mean_sleep_tokens_amortized"] == pytest.approx(12.0)
    assert s["cost_per_query"] == pytest.approx(35 + 12)
    total = summarize(frame(), tokens="total")
    assert total["mean_test_tokens"] == pytest.approx(135.0)
    assert total["cost_per_query"] == pytest.approx(10 * 135 + 400 / 3)
    with pytest.raises(ValueError, match="tokens must be one of"):
        summarize(frame(), tokens="prompt")


def test_wilson_interval_matches_known_values():
    low, high = wilson_interval(3, 6)
    assert (round(low, 4), round(high, 4)) == (0.1876, 0.8124)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 6) == (0.0, pytest.approx(0.3903, abs=1e-4))
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    s = summarize(frame())
    assert (s["accuracy_ci_low"], s["accuracy_ci_high"]) == pytest.approx((0.1876, 0.8124), abs=1e-4)


def test_paired_difference_matches_on_question_ids():
    a = pd.DataFrame({"question_id": [1, 2, 3, 4, 5], "correct": [True, True, True, False, True]})
    b = pd.DataFrame({"question_id": [5, 4, 3, 2, 9], "correct": [False, True, True, False, True]})
    d = paired_difference(a, b)  # matched ids 2..5: diffs 1, 0, -1, 1
    assert d["n"] == 4 and d["difference"] == pytest.approx(0.25)
    assert (d["a_only"], d["b_only"]) == (2, 1)
    se = pd.Series([1, 0, -1, 1]).std(ddof=1) / 2
    assert d["ci_low"] == pytest.approx(0.25 - 1.959964 * se, abs=1e-5)
    with pytest.raises(ValueError, match="share no"):
        paired_difference(a, b.assign(question_id=[10, 11, 12, 13, 14]))
