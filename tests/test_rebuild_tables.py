"""The question tables are rewritten from committed rows alone (no LM call), and Q1's and Q4's paired
comparisons take only runs made under the same server settings, or refuse with the run that is missing."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from answer_rows import answer_rows  # beside this file

from optimize.bench.presets import PRESETS
from optimize.bench.rebuild import committed_part, rebuild_tables
from optimize.bench.tables import PartResults, q1_table, q4_table, same_server_rows

MODEL = "local:qwen2.5-coder-1.5b"
ONE, FOUR = {"slots": 1, "speculative": "none"}, {"slots": 4, "speculative": "none"}


def rows(correct, *, sleep=False):
    return answer_rows(correct, sleep=sleep, test_completion=10 if sleep else 100,
                       test_prompt=400 if sleep else 250, sleep_prompt=300, sleep_completion=120)


CONFIGS = {  # id: (use_sleep, verbosity, correct, server)
    "s0": (True, 0, [1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1], FOUR),
    "t0": (False, 0, [0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0], FOUR),
    "s1": (True, 1, [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1], FOUR),
    "t1": (False, 1, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], {"slots": None, "speculative": "none"}),
}


@pytest.fixture
def results(tmp_path):
    model_dir = tmp_path / "ours" / "local-qwen2.5-coder-1.5b"
    (model_dir / "rows").mkdir(parents=True)
    lines = []
    for config_id, (use_sleep, verbosity, correct, server) in CONFIGS.items():
        frame = rows(correct, sleep=use_sleep)
        path = model_dir / "rows" / f"{config_id}.jsonl"
        frame.to_json(path, orient="records", lines=True)
        budget = {"use_sleep": use_sleep, "test_verbosity": verbosity, "test_model": MODEL}
        (model_dir / "rows" / f"{config_id}.jsonl.config.json").write_text(
            json.dumps({"budget": budget, "server": server}))
        lines.append({"dataset": "ours", "test_model": MODEL, "config_id": config_id, "use_sleep": use_sleep,
                      "test_verbosity": verbosity, "sleep_samples": 1 if use_sleep else None,
                      "sleep_rounds": 0 if use_sleep else None, "compiled": None,
                      "accuracy": sum(correct) / len(correct),
                      "mean_test_tokens": float(frame["test_completion_tokens"].mean()),
                      "sleep_tokens_per_context": 120.0 if use_sleep else 0.0})
    # A part whose rows are not committed (third-party questions): its lines of each table stay.
    lines.append({**lines[0], "dataset": "gsm-symbolic"})
    pd.DataFrame(lines).to_csv(tmp_path / "configs.csv", index=False)
    pd.DataFrame([{"sleep_config_id": "s0", "token_ratio": 9.9, "dataset": "gsm-symbolic",
                   "test_model": MODEL}]).to_csv(tmp_path / "q1_pareto.csv", index=False)
    (tmp_path / "meta.json").write_text(json.dumps({"name": "tiny"}))
    return tmp_path


def test_a_pair_takes_a_rerun_of_either_side_at_the_other_sides_settings():
    frame = rows([1, 0, 1, 0])
    part = PartResults(pd.DataFrame(), frames={"s": frame, "t": frame}, preset=None,
                       server={"s": FOUR, "t": ONE})
    assert "note" in same_server_rows(part, "s", "t")
    part.reruns = [{"config_id": "s", "label": "latency/s-warm.jsonl", "server": ONE, "frame": frame}]
    found = same_server_rows(part, "s", "t")  # the sleep side's 1-slot rerun pairs with 1-slot test rows
    assert (found["a_rows_from"], found["b_rows_from"]) == ("latency/s-warm.jsonl", "rows")


def test_a_refused_pair_names_the_run_to_make_with_its_command(results):
    part = committed_part(results, "ours", MODEL, PRESETS["standard"])
    note = same_server_rows(part, "s1", "t1")["note"]
    assert note.startswith("not paired: t1 ran at mixed or unknown slots, s1 at 4 slots")
    assert "SLEEPTIME_LOCAL_SLOTS=1 python3 -m optimize evaluate" in note
    assert f"--out {results}/ours/local-qwen2.5-coder-1.5b/reruns/t1.jsonl" in note
    assert '"test_verbosity": 1' in note


def test_q1_and_q4_pair_only_at_equal_server_settings(results):
    part = committed_part(results, "ours", MODEL, PRESETS["standard"])
    q1 = q1_table(part).set_index("sleep_config_id")
    assert q1.loc["s0", "test_config_id"] == "t1" and q1.loc["s0", "paired_n"] == 0
    assert q1.loc["s0", "paired_note"].startswith("not paired")
    q4 = q4_table(part)
    assert set(q4["test_verbosity"]) == {"0", "1"}  # v1 refused, so nothing is pooled
    refused = q4[q4["test_verbosity"] == "1"].iloc[0]
    assert refused["n"] == 0 and refused["note"].startswith("not paired")
    assert (q4.loc[q4["test_verbosity"] == "0", "server"] == "4 slots, speculative none").all()


def test_the_tables_are_rebuilt_from_rows_and_a_part_without_rows_keeps_its_lines(results):
    summary = rebuild_tables(results, PRESETS["standard"], only=("q1", "q4"))
    q1 = pd.read_csv(results / "q1_pareto.csv")
    assert set(q1["dataset"]) == {"ours", "gsm-symbolic"}
    assert q1.loc[q1["dataset"] == "gsm-symbolic", "token_ratio"].tolist() == [9.9]
    assert "not paired: t1 ran at mixed or unknown slots" in summary.read_text()
    with pytest.raises(ValueError, match="cannot rebuild"):
        rebuild_tables(results, PRESETS["standard"], only=("q7",))


def test_the_committed_standard_run_pairs_q1_and_q4_only_at_equal_settings():
    q1 = pd.read_csv("docs/benchmarks/standard/q1_pareto.csv")
    mine = q1[(q1["dataset"] == "ours") & (q1["test_model"] == MODEL)].set_index("sleep_config_id")
    # Sleep v0 pairs with test-only v1 through both 1-slot reruns; every pair is made at one setting.
    v0 = mine.loc["edfce045fa52"]
    assert (v0["paired_n"], v0["paired_server"]) == (238, "1 slot, speculative none")
    assert (v0["paired_a_rows_from"], v0["paired_b_rows_from"]) == ("latency/edfce045fa52-warm.jsonl",
                                                                    "reruns/31aa6e03d1bd.jsonl")
    v1 = mine.loc["27ec29f5b72f"]  # sleep v1 with test-only v1, both made again at 1 slot
    assert (v1["paired_n"], v1["paired_server"]) == (238, "1 slot, speculative none")
    assert (v1["paired_a_rows_from"], v1["paired_b_rows_from"]) == ("reruns/27ec29f5b72f.jsonl",
                                                                    "reruns/31aa6e03d1bd.jsonl")
    q4 = pd.read_csv("docs/benchmarks/standard/q4_predictability.csv")
    mine = q4[q4["test_model"] == MODEL]
    at_v0 = mine[mine["test_verbosity"].astype(str) == "0"]
    at_v1 = mine[mine["test_verbosity"].astype(str) == "1"]
    assert (at_v0["server"] == "4 slots, speculative none").all()  # each verbosity paired at one setting
    assert (at_v1["server"] == "1 slot, speculative none").all() and len(at_v1) == 3


def test_q1_and_q3_count_tokens_both_ways_and_say_where_the_verdict_changes(results):
    summary = rebuild_tables(results, PRESETS["standard"], only=("q1", "q3")).read_text()
    q1 = pd.read_csv(results / "q1_pareto.csv").set_index("sleep_config_id")
    ours = q1[q1["dataset"] == "ours"]
    assert ours.loc["s0", "token_ratio"] == pytest.approx(10.0)  # 100 generated tokens against 10
    assert ours.loc["s0", "token_ratio_total"] == pytest.approx(350 / 410)  # prompts priced too
    q3 = pd.read_csv(results / "q3_amortization.csv")
    at10 = q3[(q3["sleep_config_id"] == "s0") & (q3["questions_per_context"] == 10)].iloc[0]
    assert at10["cost_ratio"] > 1 > at10["cost_ratio_total"]
    assert at10["cost_sleep_total"] == pytest.approx(10 * 410 + 420 / 10)
    assert "**the verdict changes for v0, v1**" in summary
