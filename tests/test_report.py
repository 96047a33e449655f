"""The report: four views as PNG + CSV + markdown, with numbers checked by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_search import fake_evaluator, make_examples  # noqa: E402

from optimize.experiments.sweep import run_sweep  # noqa: E402
from optimize.reports.figures import (  # noqa: E402
    ReportError,
    amortization_table,
    k_scaling_table,
    predictability_table,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _config(config_id, use_sleep, accuracy, test_tokens, sleep_per_context, verbosity=0, k=1):
    return {
        "config_id": config_id,
        "use_sleep": use_sleep,
        "test_verbosity": verbosity,
        "test_max_tokens": 256,
        "test_model": "m",
        "compiled": None,
        "sleep_samples": k,
        "sleep_rounds": 0,
        "accuracy": accuracy,
        "accuracy_ci_low": accuracy - 0.1,
        "accuracy_ci_high": accuracy + 0.1,
        "mean_test_tokens": test_tokens,
        "sleep_tokens_per_context": sleep_per_context,
        "cost_per_query": 10 * test_tokens + sleep_per_context,
        "questions_per_context": 1.0,
        "price_ratio": 10.0,
    }


def test_amortization_numbers_by_hand():
    configs = pd.DataFrame(
        [
            _config("s", True, 0.8, 10, 400),
            _config("t", False, 0.8, 50, 0, verbosity=3),
            _config("t-cheap", False, 0.5, 5, 0),
        ]
    )
    table = amortization_table(configs, pd.DataFrame(), questions=(1, 2, 5))
    sleep = table[table["use_sleep"]].set_index("questions_per_context")["cost_per_query"]
    assert sleep.to_dict() == {1: 10 * 10 + 400, 2: 10 * 10 + 200, 5: 10 * 10 + 80}
    # The reference is the cheapest test-time-only config at least as accurate: 't', not 't-cheap'.
    test = table[~table["use_sleep"]]
    assert set(test["cost_per_query"]) == {500.0} and set(test["accuracy"]) == {0.8}


def test_predictability_gap_by_hand():
    configs = pd.DataFrame([_config("s", True, 0.5, 10, 100), _config("t", False, 0.5, 10, 0)])
    examples = pd.DataFrame(
        {
            "config_id": ["s"] * 4 + ["t"] * 4,
            "context_id": ["c"] * 8,
            "question_id": ["q1", "q2", "q3", "q4"] * 2,
            "predictability": ["low", "low", "high", "high"] * 2,
            "correct": [False, True, True, True] + [False, False, True, False],
        }
    )
    table = predictability_table(configs, examples).set_index("bucket")
    assert table.loc["low", "accuracy_gap"] == pytest.approx(0.5 - 0.0)
    assert table.loc["high", "accuracy_gap"] == pytest.approx(1.0 - 0.5)
    assert table.loc["high", "n_examples"] == 2


def test_the_predictability_gap_uses_the_plain_sleep_config_not_the_luckiest_k():
    configs = pd.DataFrame([_config("s", True, 0.5, 10, 100), _config("s4", True, 1.0, 10, 400, k=4),
                            _config("t", False, 0.5, 10, 0)])
    examples = pd.DataFrame({
        "config_id": ["s"] * 2 + ["s4"] * 2 + ["t"] * 2, "context_id": ["c"] * 6,
        "question_id": ["q1", "q2"] * 3, "predictability": ["low", "high"] * 3,
        "correct": [False, True, True, True, False, True],
    })
    table = predictability_table(configs, examples).set_index("bucket")
    assert table.loc["low", "accuracy_gap"] == 0.0  # k=1 is pre-specified; k=4 was the most accurate


def test_report_writes_every_view_from_a_sweep(tmp_path):
    configs = run_sweep(
        make_examples(6, 4),
        grid="all",
        tracker=False,
        evaluator=fake_evaluator,
        results_dir=tmp_path / "results",
        progress=False,
    )
    examples = pd.read_csv(tmp_path / "results" / "examples.csv")
    paths = write_report(configs, examples, tmp_path / "report")
    expected_columns = {
        "pareto_shift": {"group", "accuracy", "mean_test_tokens", "on_group_front"},
        "k_scaling": {"test_budget", "k", "accuracy", "test_only_accuracy"},
        "amortization": {"config", "questions_per_context", "cost_per_query", "sleep_tokens_per_context"},
        "predictability": {"bucket", "sleep_accuracy", "test_only_accuracy", "accuracy_gap", "n_examples"},
    }
    for view, columns in expected_columns.items():
        assert paths[view]["png"].read_bytes()[:8] == PNG_MAGIC
        table = pd.read_csv(paths[view]["csv"])
        assert columns <= set(table.columns) and len(table) > 0, view
        assert paths[view]["md"].read_text().startswith("| ")
    assert sorted(pd.read_csv(paths["k_scaling"]["csv"])["k"]) == [1, 2, 5, 10]
    pareto = pd.read_csv(paths["pareto_shift"]["csv"])
    assert set(pareto["group"]) == {"sleep-time", "test-time only"}
    assert "![pareto_shift](pareto_shift.png)" in paths["index"].read_text()


def test_report_refuses_an_empty_table(tmp_path):
    with pytest.raises(ReportError, match="configs.csv"):
        write_report(pd.DataFrame(), pd.DataFrame(), tmp_path)


def test_report_command_from_results_dir(tmp_path, capsys):
    from optimize.cli.app import main

    run_sweep(
        make_examples(),
        grid="verbosity",
        tracker=False,
        evaluator=fake_evaluator,
        results_dir=tmp_path / "results",
        progress=False,
    )
    assert main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "pareto_shift.png").exists()
    assert main(["report", "--results", str(tmp_path / "missing"), "--out", str(tmp_path / "o2")]) == 2
    assert "configs.csv" in capsys.readouterr().err


def test_a_configuration_listed_twice_is_one_point():
    from optimize.reports.figures import build_tables

    configs = pd.DataFrame([_config("a", False, 0.5, 40, 0), _config("a", False, 0.5, 40, 0),
                            _config("b", True, 0.6, 10, 100)])
    table = build_tables(configs, pd.DataFrame())["pareto_shift"]
    assert len(table) == 2


def _examples_for(configs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, config in configs.iterrows():
        for q in range(12):
            label = ("high", "medium", "low")[q % 3]
            right = (q % 2 == 0) if not config["use_sleep"] else (label != "low" or q % 2 == 0)
            rows.append({"config_id": config["config_id"], "context_id": f"c{q // 3}",
                         "template_id": f"t{q // 6}", "question_id": f"q{q}", "predictability": label,
                         "correct": right,
                         "test_completion_tokens": config["mean_test_tokens"] + q % 3,
                         "sleep_completion_tokens": config["sleep_tokens_per_context"],
                         "truncated": q == 0, "parse_error": False})
    return pd.DataFrame(rows)


def test_figure_tables_carry_intervals_labels_and_natural_bucket_order(tmp_path):
    configs = pd.DataFrame([_config("s", True, 0.8, 10, 400), _config("s2", True, 0.85, 10, 800, k=2),
                            _config("t", False, 0.5, 50, 0), _config("t3", False, 0.8, 90, 0, verbosity=3)])
    from optimize.reports.figures import build_tables

    tables = build_tables(configs, _examples_for(configs))
    gap = tables["predictability"]
    assert gap["bucket"].tolist() == ["high", "medium", "low"]  # not alphabetical
    assert gap[["ci_low", "ci_high"]].notna().all().all()
    pareto = tables["pareto_shift"]
    assert set(pareto["label"]) == {"S v0", "S v0 k2", "T v0", "T v3"}
    # intervals come from the example rows, resampled by context (the configs' Wilson ends are +-0.1)
    assert not (pareto["accuracy_ci_low"] - (pareto["accuracy"] - 0.1)).abs().lt(1e-9).any()
    assert pareto["truncation_rate"].tolist() == [1 / 12] * 4  # from the examples' truncated column
    assert tables["amortization"][["cost_ci_low", "cost_ci_high"]].notna().all().all()
    assert sorted(tables["amortization"]["questions_per_context"].unique()) == list(range(1, 11))
    assert {"test_only_ci_low", "test_only_ci_high"} <= set(tables["k_scaling"].columns)


def test_a_view_without_data_says_not_run(tmp_path):
    configs = pd.DataFrame([_config("t", False, 0.5, 50, 0), _config("t3", False, 0.8, 90, 0, verbosity=3)])
    paths = write_report(configs, pd.DataFrame(), tmp_path)
    for view in ("k_scaling", "predictability"):
        assert paths[view]["png"].read_bytes()[:8] == PNG_MAGIC
        assert paths[view]["md"].read_text().startswith("(not run")


def test_configs_read_back_from_csv_with_unset_caps_still_group(tmp_path):
    configs = pd.DataFrame([_config("s", True, 0.5, 10, 100), _config("s2", True, 0.6, 10, 200, k=2),
                            _config("t", False, 0.4, 10, 0)]).assign(test_max_tokens=None)
    configs.to_csv(tmp_path / "configs.csv", index=False)
    read_back = pd.read_csv(tmp_path / "configs.csv")  # the unset cap is now a float NaN column
    assert read_back["test_max_tokens"].dtype != object
    table = k_scaling_table(read_back)
    assert sorted(table["k"]) == [1, 2]
    assert set(table["test_budget"]) == {"verbosity 0, max 256 tokens (default)"}


def test_search_vs_grid_figure_is_drawn_from_the_q6_table(tmp_path):
    from optimize.reports.analysis import hypervolume_curves
    from optimize.reports.figures import plot_search_vs_grid

    table = pd.DataFrame({
        "origin": ["grid", "grid", "search", "search", "search"], "trial": [0, 1, 0, 1, 2],
        "accuracy": [0.3, 0.1, 0.05, 0.3, 0.35], "mean_test_tokens": [10, 80, 11, 10, 50],
        "cost_per_query": [140, 800, 112, 140, 520], "in_grid": [True, True, False, True, False],
    })
    curves = hypervolume_curves(table)
    assert list(curves) == ["grid", "search"] and [len(c) for c in curves.values()] == [2, 3]
    assert curves["search"] == sorted(curves["search"])  # a front only grows
    assert max(max(c) for c in curves.values()) == pytest.approx(1.0)
    path = plot_search_vs_grid(table, tmp_path / "q6.png")
    assert path.stat().st_size > 10_000
    empty = plot_search_vs_grid(pd.DataFrame(), tmp_path / "empty.png")
    assert empty.exists()
