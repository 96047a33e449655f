"""Every deploy_bench mode once on the fake engine (plumbing only: no number here is a measurement)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from optimize.cli.measurements import main
from optimize.deploy.measurements import scheduler_savings
from optimize.deploy.serve import running_service
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.session import SleepTimeSession


def reply(messages, request) -> str:
    if "[[ ## question ## ]]" in messages[-1]["content"]:
        return chat_adapter_reply(reasoning="3 * 4 = 12", answer="42")
    return chat_adapter_reply(learned_context="- total = 42")


@pytest.fixture
def spec():
    with FakeEngine(reply, delay_seconds=0.01) as engine:
        yield f"openai/fake@{engine.api_base}"


def test_latency_mode_times_notes_and_test_only_warm_and_cold(spec, tmp_path):
    assert main(["latency", "--model", spec, "-n", "3", "--verbosities", "0,1", "--store", ":memory:",
                 "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "latency.csv")
    assert set(zip(table["mode"], table["verbosity"], table["cache"], strict=True)) == {
        ("notes", 0, "warm"), ("notes", 0, "cold"), ("test-only", 0, "warm"), ("test-only", 0, "cold"),
        ("test-only", 1, "warm"), ("test-only", 1, "cold")}
    assert (table["n"] == 3).all() and (table["p95_seconds"] >= table["p50_seconds"]).all()
    rows = pd.read_csv(tmp_path / "latency_rows.csv")
    assert (rows["ttft"] <= rows["seconds"]).all() and rows["prompt_tokens"].gt(0).all()
    notes = rows[rows["mode"] == "notes"]["prompt_tokens"].mean()
    assert notes > rows[(rows["mode"] == "test-only") & (rows["verbosity"] == 0)]["prompt_tokens"].mean()
    verdict = json.loads((tmp_path / "latency_verdict.json").read_text())
    assert verdict["notes_p50"] > 0 and "at_least_as_accurate_verbosity" in verdict
    assert "at_least_as_accurate_accuracy" in verdict and "speedup_at_equal_accuracy" not in verdict


def test_load_mode_answers_every_question(spec, tmp_path):
    session = SleepTimeSession(Budget(sleep_model=spec, test_model=spec))
    with session, running_service(session) as url:
        assert main(["load", "--server-url", url, "--questions", "12", "--contexts", "3", "--clients", "4",
                     "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "load.json").read_text())
    assert summary["answered"] == 12 and summary["lost"] == 0 and summary["throughput_qps"] > 0
    assert summary["latency_p95"] >= summary["latency_p50"] and summary["costs"]["test"]["calls"] == 12


def test_kill_mode_keeps_every_finished_learned_context(spec, tmp_path):
    assert main(["kill", "--model", spec, "--questions", "10", "--contexts", "3", "--clients", "2",
                 "--kill-at", "0.5", "--backoff", "0.2", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "kill.json").read_text())
    assert summary["lost"] == 0 and summary["answered"] == 10
    assert summary["ready_before_kill"] >= 1 and summary["survived"] == summary["ready_before_kill"]
    assert summary["ready_at_end"] == 3


def rows_file(path, *, correct, test_tokens, sleep_tokens=0):
    with path.open("w") as handle:
        for cid, label in (("A", "high"), ("B", "low")):
            for q in range(3):
                handle.write(json.dumps({
                    "context_id": cid, "question_id": f"{cid}{q}", "predictability": label,
                    "question": "How many?",
                    "correct": correct[cid], "test_tokens": test_tokens[cid] + 100,
                    "test_completion_tokens": test_tokens[cid], "sleep_tokens": sleep_tokens + 300,
                    "sleep_completion_tokens": sleep_tokens}) + "\n")
    return f"{path.stem}={path}"


def test_scheduler_mode_costs_each_policy_from_rows(tmp_path):
    sleep = rows_file(tmp_path / "sleep-k1", correct={"A": True, "B": True},
                      test_tokens={"A": 10, "B": 10}, sleep_tokens=100)
    cheap = rows_file(tmp_path / "test-v0", correct={"A": False, "B": False}, test_tokens={"A": 5, "B": 5})
    matched = rows_file(tmp_path / "test-v2", correct={"A": True, "B": True}, test_tokens={"A": 50, "B": 50})
    assert main(["scheduler", "--rows", sleep, "--rows", cheap, "--rows", matched, "--method", "label",
                 "-N", "1,3", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "scheduler.csv").set_index(["questions_per_context", "policy"])
    # never: t*T0 = 500; always: 100/N + 10*10; scheduler: sleeps on A (p=1), skips B (p=0)
    assert table.loc[(1, "never"), "cost_per_query"] == pytest.approx(500)
    assert table.loc[(1, "always"), "cost_per_query"] == pytest.approx(200)
    assert table.loc[(1, "scheduler"), "cost_per_query"] == pytest.approx((200 + 500) / 2)
    assert table.loc[(3, "always"), "cost_per_query"] == pytest.approx(100 / 3 + 100)
    assert table.loc[(1, "scheduler"), "slept_fraction"] == 0.5
    assert table.loc[(1, "always"), "saving_vs_never"] == pytest.approx(1 - 200 / 500)
    with pytest.raises(ValueError, match="LABEL=PATH"):
        main(["scheduler", "--rows", "nonsense", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="share no context"):
        scheduler_savings({"sleep-k1": pd.read_json(tmp_path / "sleep-k1", lines=True),
                           "test-v2": pd.read_json(tmp_path / "test-v2", lines=True)}, {"Z": 0.5})


def test_predictability_mode_correlates_estimates_with_the_gain(tmp_path):
    sleep = rows_file(tmp_path / "sleep-k1", correct={"A": True, "B": False},
                      test_tokens={"A": 10, "B": 10}, sleep_tokens=100)
    test = rows_file(tmp_path / "test-v0", correct={"A": False, "B": False}, test_tokens={"A": 50, "B": 10})
    assert main(["predictability", "--rows", sleep, "--rows", test, "--methods", "label",
                 "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "predictability.csv").set_index(["method", "gain"])
    assert table.loc[("label", "gain_correct"), "spearman"] == pytest.approx(1.0)
    assert table.loc[("label", "gain_tokens"), "pearson"] == pytest.approx(1.0)
    assert table.loc[("label", "gain_correct"), "n"] == 6
    with pytest.raises(ValueError, match="not in --data"):
        main(["predictability", "--rows", sleep, "--rows", test, "--method", "overlap",
              "--out", str(tmp_path)])
