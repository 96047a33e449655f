"""Runs record their server settings; paired comparisons take only runs made under equal settings; the
run-to-run table counts changed answers and right/wrong flips apart."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from optimize.bench.repeats import answer_changes, runs_on_file
from optimize.bench.tables import PartResults, paired_same_server
from optimize.errors import ResumeMismatchError
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply


def frame(correct, extracted=None):
    n = len(correct)
    return pd.DataFrame({"question_id": range(n), "context_id": [f"c{i // 2}" for i in range(n)],
                         "correct": correct, "extracted": extracted or [float(c) for c in correct]})


def test_k4_is_paired_with_the_k1_rerun_made_at_its_own_slots_or_not_at_all():
    k4, k1_four_slots, k1_one_slot = frame([1, 1, 1, 0]), frame([0, 0, 0, 0]), frame([1, 0, 1, 0])
    part = PartResults(pd.DataFrame(), frames={"k4": k4, "k1": k1_four_slots}, preset=None,
                       server={"k4": {"slots": 1, "speculative": "none"},
                               "k1": {"slots": 4, "speculative": "none"}})
    refused = paired_same_server(part, {"config_id": "k4"}, {"config_id": "k1"})
    assert refused["n"] == 0 and "4 slots" in refused["note"]
    assert refused["difference"] != refused["difference"]  # NaN: no difference reported
    part.reruns = [{"config_id": "k1", "label": "latency/k1-warm.jsonl",
                    "server": {"slots": 1, "speculative": "none"}, "frame": k1_one_slot}]
    paired = paired_same_server(part, {"config_id": "k4"}, {"config_id": "k1"})
    assert paired["difference"] == pytest.approx(0.25)  # against the 1-slot rerun, not the 4-slot rows (0.75)
    assert paired["b_rows_from"] == "latency/k1-warm.jsonl" and paired["server"].startswith("1 slot")


def test_runs_on_file_reads_the_settings_recorded_beside_rows_and_reruns(tmp_path):
    for sub, name, slots in (("rows", "k1.jsonl", 4), ("latency", "k1-warm.jsonl", 1),
                             ("latency", "k1-cold.jsonl", 1)):
        (tmp_path / sub).mkdir(exist_ok=True)
        frame([1, 0]).to_json(tmp_path / sub / name, orient="records", lines=True)
        (tmp_path / sub / f"{name}.config.json").write_text(json.dumps({"server": {"slots": slots}}))
    server, reruns = runs_on_file(tmp_path)
    assert server == {"k1": {"slots": 4}}
    assert [r["label"] for r in reruns] == ["latency/k1-warm.jsonl", "latency/k1-cold.jsonl"]


def test_a_rerun_still_going_is_not_paired_on_the_questions_it_has(tmp_path):
    for sub, name, rows in (("rows", "k1.jsonl", frame([1, 0, 1, 0])), ("reruns", "k1.jsonl", frame([0, 0])),
                            ("latency", "k1-warm.jsonl", frame([1, 0, 0, 0]))):
        (tmp_path / sub).mkdir(exist_ok=True)
        rows.to_json(tmp_path / sub / name, orient="records", lines=True)
        (tmp_path / sub / f"{name}.config.json").write_text(json.dumps({"server": {"slots": 1}}))
    _, reruns = runs_on_file(tmp_path)
    assert [r["label"] for r in reruns] == ["latency/k1-warm.jsonl"]


def test_answer_changes_counts_changed_answers_and_right_wrong_flips_apart():
    a = frame([1, 0, 0, 0, 1, 0], extracted=[5.0, 2.0, 3.0, None, 7.0, 1.0])
    b = frame([1, 0, 1, 0, 0, 0], extracted=[5.0, 4.0, 6.0, None, 8.0, 1.0])
    changes = answer_changes(b, a)
    assert (changes["answers_changed"], changes["correctness_changed"]) == (3, 2)
    assert (changes["a_only"], changes["b_only"]) == (1, 1) and changes["difference"] == 0


def test_the_committed_standard_run_pairs_k4_with_a_one_slot_k1():
    table = pd.read_csv("docs/benchmarks/standard/q2_sleep_scaling.csv")
    line = table[(table["test_model"] == "local:qwen2.5-coder-1.5b") & (table["sleep_samples"] == 4)
                 & (table["sleep_strategy"] == "notes") & (table["versus"] == "sleep k=1, rounds=0")].iloc[0]
    assert line["server"].startswith("1 slot") and line["b_rows_from"] == "latency/edfce045fa52-warm.jsonl"
    assert round(100 * line["difference"], 1) == 4.6 and line["ci_low"] < 0


def test_a_resumed_rows_file_refuses_rows_made_under_other_server_settings(tmp_path, monkeypatch):
    import dspy

    import optimize.experiments.evaluate as evaluate_module
    from optimize.experiments.evaluate import evaluate
    from optimize.experiments.results_file import run_config
    from programs.api import build_program
    from programs.lm import TokenLedger

    def reply(messages, request):
        return chat_adapter_reply(reasoning="-", answer="4")

    questions = [dspy.Example(context="Ann has 1 box.", question=f"q{i}?", answer="4", context_id="c",
                              question_id=f"q{i}", template_id="t").with_inputs("context", "question")
                 for i in range(3)]
    out = tmp_path / "rows.jsonl"
    with FakeEngine(reply) as engine:
        ledger = TokenLedger()
        program = build_program(Budget(test_model=f"openai/fake@{engine.api_base}", use_sleep=False),
                                ledger=ledger)
        config = run_config(program, data={"source": "fake"})
        monkeypatch.setattr(evaluate_module, "program_server_settings",
                            lambda program: {"slots": 4, "speculative": "none"})
        evaluate(program, questions[:2], ledger=ledger, results_path=out, config=config, progress=False)
        assert json.loads((tmp_path / "rows.jsonl.config.json").read_text())["server"]["slots"] == 4
        monkeypatch.setattr(evaluate_module, "program_server_settings",
                            lambda program: {"slots": 1, "speculative": "none"})
        with pytest.raises(ResumeMismatchError, match="4 slots"):
            evaluate(program, questions, ledger=ledger, results_path=out, config=config, progress=False)
