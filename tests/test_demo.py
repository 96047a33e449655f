"""The README's first command, end to end on the fake engine (plumbing only: the fake is not a model)."""

from pathlib import Path

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
    assert Path(tmp_path / "mlruns" / "mlflow.db").exists()
