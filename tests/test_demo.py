"""The README's first command, end to end on the fake engine (plumbing only: the fake is not a model)."""

from pathlib import Path

import pandas as pd
import pytest

from optimize.cli.app import main
from optimize.experiments.demo import DEMO_BASELINE_VERBOSITY
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply


def reply(messages, request):
    # Every field any phase may ask for; ChatAdapter keeps the ones its signature declares.
    return chat_adapter_reply(learned_context="- total = 3 * 4 = 12", reasoning="3 * 4 = 12", answer="12")


def test_demo_runs_the_pipeline_and_writes_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLEEPTIME_MLRUNS_DIR", str(tmp_path / "mlruns"))
    out = tmp_path / "reports"
    with FakeEngine(reply) as engine:
        code = main(["demo", "--model", f"openai/fake@{engine.api_base}", "--store", ":memory:",
                     "--contexts", "2", "--search-contexts", "1", "--trials", "2", "--name", "t",
                     "--out", str(out)])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, captured.err[-3000:]
    labels = ("test-time only, verbosity 0", f"test-time only, verbosity {DEMO_BASELINE_VERBOSITY}",
              "sleep k=1 + test, verbosity 0")
    assert all(label in printed for label in labels)
    # The plain reading: the fake's answer (12) is never gold, so test-time only matches at verbosity 0.
    assert "Sleep time reached 0% at" in printed and "test-time only needed" in printed
    assert "Against test-time only at the same verbosity: +0 points" in printed
    # the interval is the context-clustered bootstrap (every answer wrong: [0, 0]), not Wilson's [0, 32]
    assert "cut off" in printed and "0% [0, 0]" in printed and "bootstrap over contexts" in printed
    assert "budgets evaluated" in printed and "distinct budgets on the Pareto front" in printed
    assert "use_sleep" not in printed and "test-only v" in printed  # front lines name what ran, not a dict
    assert (out / "pareto_shift.png").stat().st_size > 0
    # Before any work: the expected duration from a speed probe of the model, with the speeds measured.
    eta = printed.index("expected duration ~")
    assert eta < printed.index("[1/3]") and "prompt /" in printed[eta:printed.index("[1/3]")]
    # The CSV carries the interval the table prints (the clustered bootstrap), and the rows behind it.
    configs = pd.read_csv(out / "comparison-configs.csv")
    assert (configs["accuracy_ci_high"] == 0).all() and "accuracy_ci_high_wilson" in configs
    rows = pd.read_csv(out / "rows.csv")
    assert len(rows) == 3 * configs["n"].iloc[0] and "question" not in rows and "correct" in rows
    assert Path(tmp_path / "mlruns" / "mlflow.db").exists()


def test_the_speed_probe_reads_prompt_and_generation_speed_from_the_ledger():
    from optimize.experiments.demo_eta import Work, probe_speed

    with FakeEngine(lambda messages, request: "one, two, three, four", delay_seconds=0.2) as engine:
        speed = probe_speed(f"openai/fake@{engine.api_base}")
    assert 0 < speed.prompt_tokens_per_second < 10_000 and speed.generated_tokens_per_second > 0
    assert Work(prompt_tokens=speed.prompt_tokens_per_second * 60, generated_tokens=0).seconds(speed) == \
        pytest.approx(60)
