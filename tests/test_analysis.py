"""optimize.reports.analysis: the tables every report needs, computed once (hand-checked numbers), and the
question registry the benchmark is built on."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from optimize.reports.analysis import (
    AMORTIZATION_N,
    amortization_table,
    bool_column,
    failure_rates,
    front_table,
    matched_baseline,
    ordered_labels,
    predictability_gap,
    split_by_sleep,
    with_failure_columns,
)

ROOT = Path(__file__).resolve().parents[1]


def configs(use_sleep=("True", "False", "False", "False")) -> pd.DataFrame:
    return pd.DataFrame({
        "config_id": ["s", "t0", "t2", "t3"],
        "use_sleep": list(use_sleep),
        "test_verbosity": [0, 0, 2, 3],
        "accuracy": [0.5, 0.3, 0.5, 0.6],
        "mean_test_tokens": [10.0, 8.0, 60.0, 90.0],
        "sleep_tokens_per_context": [300.0, 0.0, 0.0, 0.0],
    })


def test_csv_booleans_are_read_once_and_float_one_is_true():
    # pandas writes a boolean column with NaN as 1.0/0.0; the old report copy read 1.0 as False.
    values = pd.Series([True, "True", "true", 1, 1.0, "1.0", False, "False", 0, 0.0, "0.0", None, math.nan])
    assert bool_column(values).tolist() == [True] * 6 + [False] * 7
    sleep, test = split_by_sleep(configs(use_sleep=(1.0, 0.0, 0.0, 0.0)))
    assert sleep["config_id"].tolist() == ["s"] and len(test) == 3


def test_matched_baseline_is_the_cheapest_test_only_config_at_least_as_accurate():
    sleep, test = split_by_sleep(configs())
    baseline, matched = matched_baseline(sleep.iloc[0], test)
    assert (baseline["config_id"], matched) == ("t2", True)  # t0 is cheaper but less accurate
    better = sleep.iloc[0].copy()
    better["accuracy"] = 0.9
    baseline, matched = matched_baseline(better, test)
    assert (baseline["config_id"], matched) == ("t3", False)  # none as accurate: the most accurate one
    assert matched_baseline(better, test.iloc[:0]) == (None, False)


def test_amortization_uses_one_n_grid_and_the_matched_baseline():
    table = amortization_table(configs())
    assert AMORTIZATION_N == tuple(range(1, 11))
    assert table["questions_per_context"].tolist() == list(AMORTIZATION_N)
    at = table.set_index("questions_per_context")
    # cost_sleep(N) = 10 * 10 + 300 / N; the baseline t2 costs 10 * 60 = 600 at every N
    assert at.loc[1, "cost_sleep"] == pytest.approx(400.0)
    assert at.loc[10, "cost_sleep"] == pytest.approx(130.0)
    assert at.loc[10, "cost_ratio"] == pytest.approx(600 / 130)
    assert set(table["test_config_id"]) == {"t2"}


def test_report_and_analysis_use_the_same_matched_baseline_and_grid():
    from optimize.reports.figures import amortization_table as report_amortization

    frame = configs().assign(cost_per_query=[400.0, 80.0, 600.0, 900.0], price_ratio=10.0,
                             questions_per_context=1.0, sleep_samples=1, sleep_rounds=0)
    table = report_amortization(frame, pd.DataFrame())
    assert sorted(set(table["questions_per_context"])) == list(AMORTIZATION_N)
    assert set(table.loc[~table["use_sleep"], "config"]) == {"test-time only, verbosity 2"}


def test_front_is_over_distinct_configurations():
    frame = pd.DataFrame({"config_id": ["a", "a", "b", "c"], "accuracy": [0.5, 0.5, 0.6, 0.4],
                          "mean_test_tokens": [10, 10, 20, 30], "cost_per_query": [100, 100, 200, 300]})
    front = front_table(frame)
    assert front["config_id"].tolist() == ["a", "b", "c"]
    assert front["on_front"].tolist() == [True, True, False]


def test_predictability_buckets_come_in_natural_order_with_intervals():
    assert ordered_labels(["low", "medium", "high", "low"]) == ["high", "medium", "low"]
    a = pd.DataFrame({"question_id": range(6), "context_id": list("xxyyzz"),
                      "predictability": ["low", "medium", "high"] * 2, "correct": [True] * 6})
    gap = predictability_gap(a, a.assign(correct=[False, True, False, True, False, True]))
    assert gap["predictability"].tolist() == ["high", "medium", "low"]
    assert {"ci_low", "ci_high", "ci_low_template", "significant", "n_contexts"} <= set(gap.columns)
    unlabelled = predictability_gap(a.assign(predictability=None), a)
    assert unlabelled.empty  # GSM-Symbolic rows carry no label: no "None" bucket


def test_failure_rates_tolerate_old_rows_and_name_every_configuration():
    assert all(math.isnan(v) for v in failure_rates(pd.DataFrame({"correct": [True]})).values())
    frames = {
        "s": pd.DataFrame({"truncated": [True, False, False, False],
                           "parse_error": [False, True, False, False]}),
        "t": pd.DataFrame({"truncated": ["1.0", "0.0"], "parse_error": [0, 0]}),
    }
    table = pd.DataFrame({"sleep_config_id": ["s"], "test_config_id": ["t"], "config_a": ["t"]})
    out = with_failure_columns(table, frames).iloc[0]
    assert out["sleep_truncation_rate"] == 0.25 and out["sleep_parse_failures"] == 1
    assert out["test_truncation_rate"] == 0.5 and out["test_parse_failures"] == 0
    assert out["a_truncation_rate"] == 0.5


def test_report_does_not_import_search():
    code = ("import sys, optimize.reports.figures, optimize.reports.analysis; "
            "print('optimize.experiments.search' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


# -- the question registry ------------------------------------------------------------
def test_every_question_is_registered_once_with_its_table_section_and_groups():
    from optimize.bench.questions import BY_ID, GROUPS, QUESTIONS, groups_for, parse_only

    assert [q.id for q in QUESTIONS] == [f"q{i}" for i in range(1, 8)]
    assert len({q.table for q in QUESTIONS}) == 7
    assert all(set(q.groups) <= set(GROUPS) and callable(q.build) and callable(q.section) for q in QUESTIONS)
    assert groups_for(["q1", "q3", "q4"]) == ("pareto",)
    assert groups_for(["q2", "q1"]) == ("pareto", "scaling", "strategies")
    assert BY_ID["q5"].groups == ("compiled",)
    assert parse_only("q3,q1,q3") == ("q3", "q1")
    with pytest.raises(ValueError, match="--only"):
        parse_only("q1,q9")


def test_benchmark_modules_are_small():
    files = [*sorted((ROOT / "optimize" / "bench").glob("*.py")),
             *sorted((ROOT / "optimize" / "reports").glob("*.py"))]
    sizes = {f.name: len(f.read_text().splitlines()) for f in files}
    assert max(sizes.values()) < 600, sizes
