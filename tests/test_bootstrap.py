"""Clustered bootstrap intervals, paired differences and the power estimate: hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimize.reports.metrics import (
    accuracy_intervals,
    cluster_bootstrap_means,
    cluster_interval,
    excludes_zero,
    paired_bootstrap,
    pilot_variance,
    questions_needed,
)


def test_two_contexts_give_the_three_possible_means_with_binomial_weights():
    # Contexts a (all right) and b (all wrong): a replicate draws {a,a}, {a,b} or {b,b} with 1/4, 1/2, 1/4.
    means = cluster_bootstrap_means([1, 1, 0, 0], ["a", "a", "b", "b"], n_resamples=20000, seed=3)
    values, counts = np.unique(means, return_counts=True)
    assert values.tolist() == [0.0, 0.5, 1.0]
    assert (counts / counts.sum()).tolist() == pytest.approx([0.25, 0.5, 0.25], abs=0.02)


def test_perfectly_correlated_clusters_widen_the_interval_against_the_iid_one():
    # 20 contexts of 5 questions each; every question of a context has the same outcome.
    outcomes = np.repeat([1, 0] * 10, 5)
    contexts = np.repeat([f"c{i}" for i in range(20)], 5)
    iid = cluster_interval(outcomes, [str(i) for i in range(100)], seed=0)
    clustered = cluster_interval(outcomes, contexts, seed=0)
    assert iid["mean"] == clustered["mean"] == 0.5
    # With 5 identical answers per context there are 20, not 100, independent draws: ~sqrt(5) wider.
    ratio = (clustered["high"] - clustered["low"]) / (iid["high"] - iid["low"])
    assert 1.8 < ratio < 2.7


def test_template_clustering_widens_when_contexts_of_a_template_agree():
    # 4 templates x 5 contexts x 2 questions; all contexts of a template agree.
    outcomes = np.repeat([1, 0, 1, 0], 10)
    contexts = [f"c{i // 2}" for i in range(40)]
    templates = [f"t{i // 10}" for i in range(40)]
    by_context = cluster_interval(outcomes, contexts, seed=0)
    by_template = cluster_interval(outcomes, contexts, templates, seed=0)
    assert by_template["n_templates"] == 4 and by_context["n_contexts"] == 20
    assert by_template["high"] - by_template["low"] > 1.5 * (by_context["high"] - by_context["low"])


def test_the_same_seed_gives_the_same_interval():
    rng = np.random.default_rng(0)
    outcomes = rng.integers(0, 2, 200)
    contexts = [f"c{i // 4}" for i in range(200)]
    templates = [f"t{i // 20}" for i in range(200)]
    first = cluster_interval(outcomes, contexts, templates, seed=7)
    assert cluster_interval(outcomes, contexts, templates, seed=7) == first
    assert cluster_interval(outcomes, contexts, templates, seed=8) != first


def test_accuracy_intervals_reads_csv_booleans_and_counts_the_clusters():
    rows = pd.DataFrame({"context_id": ["a", "a", "b", "b", "c", "c"],
                         "template_id": ["t", "t", "t", "t", "u", "u"],
                         "correct": ["True", "False", "1.0", 1.0, "false", 0]})
    r = accuracy_intervals(rows)
    assert r["accuracy"] == pytest.approx(0.5)
    assert (r["n"], r["n_contexts"], r["n_templates"]) == (6, 3, 2)
    assert r["ci_low_context"] <= 0.5 <= r["ci_high_context"]


def test_paired_difference_is_significant_only_when_the_interval_excludes_zero():
    contexts = [f"c{i // 3}" for i in range(30)]
    base = pd.DataFrame({"question_id": range(30), "context_id": contexts, "correct": [False] * 30})
    better = base.assign(correct=True)
    d = paired_bootstrap(better, base)
    assert (d["difference"], d["ci_low"], d["ci_high"]) == (1.0, 1.0, 1.0)
    assert d["significant"] and d["n_contexts"] == 10 and d["a_only"] == 30
    same = paired_bootstrap(base, base)
    assert same["difference"] == 0 and not same["significant"]
    # One context of three right answers out of ten: the interval reaches zero.
    one = base.assign(correct=[i < 3 for i in range(30)])
    d = paired_bootstrap(one, base)
    assert d["difference"] == pytest.approx(0.1)
    assert d["ci_low"] == 0.0 and not d["significant"]
    assert not excludes_zero(float("nan"), 1.0)


def test_paired_bootstrap_of_a_thousand_rows_is_vectorized():
    rng = np.random.default_rng(1)
    n = 1000
    frame = pd.DataFrame({"question_id": range(n), "context_id": [f"c{i // 4}" for i in range(n)],
                          "template_id": [f"t{i // 40}" for i in range(n)]})
    a, b = frame.assign(correct=rng.random(n) < 0.6), frame.assign(correct=rng.random(n) < 0.5)
    d = paired_bootstrap(a, b, n_resamples=4000)
    assert d["n"] == 1000 and d["n_templates"] == 25
    assert d["ci_low"] < d["difference"] < d["ci_high"]
    assert d["ci_low_template"] <= d["ci_low"] + 0.01 and d["ci_high"] <= d["ci_high_template"] + 0.01


def test_questions_needed_by_hand():
    # (1.96 + 0.8416)^2 * 0.5^2 / 0.1^2 = 196.2 -> 197 questions; m=4, icc=0.2: design effect 1.6 -> 314.
    assert questions_needed(0.1, sd=0.5, icc=0.0)["questions"] == 197
    r = questions_needed(0.1, sd=0.5, icc=0.2, questions_per_context=4)
    assert (r["questions"], r["contexts"], r["design_effect"]) == (314, 79, pytest.approx(1.6))
    assert questions_needed(0.05, sd=0.5, icc=0.0)["questions"] == 785  # half the difference: ~4x
    with pytest.raises(ValueError, match="difference"):
        questions_needed(0)


def test_pilot_variance_finds_the_intra_context_correlation():
    identical_within = pilot_variance([1, 1, 0, 0, 1, 1, 0, 0], ["a", "a", "b", "b", "c", "c", "d", "d"])
    assert identical_within["icc"] == pytest.approx(1.0)
    alternating = pilot_variance([1, 0, 1, 0, 1, 0, 1, 0], ["a", "a", "b", "b", "c", "c", "d", "d"])
    assert alternating["icc"] == 0.0


def test_missing_template_or_context_labels_are_clusters_of_their_own():
    # pandas 3 turns str(NaN) into NA, which factorizes to -1: such rows must not vanish or crash.
    from optimize.reports.metrics import cluster_interval

    out = cluster_interval([1, 0, 1, 1], ["a", "a", None, float("nan")], [None, None, float("nan"), "t"],
                           n_resamples=200, seed=0)
    assert out["n"] == 4 and 0.0 <= out["low"] <= out["high"] <= 1.0


def test_paired_bootstrap_refuses_runs_that_did_not_answer_the_same_questions():
    from optimize.reports.metrics import UnmatchedQuestionsError

    contexts = [f"c{i // 3}" for i in range(30)]
    base = pd.DataFrame({"question_id": range(30), "context_id": contexts, "correct": [False] * 30})
    shorter = base.assign(correct=True).iloc[:24]  # six questions never answered: they were all right
    with pytest.raises(UnmatchedQuestionsError, match="A answered 24 questions and B 30; 0 of A's are not in "
                       "B and 6 of B's not in A") as caught:
        paired_bootstrap(shorter, base)
    assert "unmatched='report'" in str(caught.value)

    reported = paired_bootstrap(shorter, base, unmatched="report")
    assert (reported["n"], reported["unmatched_a"], reported["unmatched_b"]) == (24, 0, 6)
    matched = paired_bootstrap(base, base)
    assert (matched["unmatched_a"], matched["unmatched_b"]) == (0, 0)


def test_a_paired_table_prints_the_questions_it_left_unpaired():
    from optimize.bench.sections import paired_text
    from optimize.reports.compare import variant_row

    contexts = [f"c{i // 3}" for i in range(30)]
    base = pd.DataFrame({"question_id": range(30), "context_id": contexts, "correct": [False] * 30,
                         "test_completion_tokens": 10})
    line = variant_row("x", base.assign(correct=True).iloc[:24], base, {})
    assert (line["paired"], line["unpaired"]) == (24, "0 / 6")
    text = paired_text(paired_bootstrap(base.iloc[:24], base, unmatched="report"))
    assert "unpaired and left out: 0 questions of the first run, 6 of the second" in text
