"""``sleeptime evaluate`` in MLflow: one run per invocation, FAILED when it fails, KILLED when stopped, no
credential in its params or artifacts."""

from __future__ import annotations

import json
import os
import signal

import pytest
from mlflow.tracking import MlflowClient

from optimize.cli.app import main
from optimize.experiments.runner import stop_on_signals
from optimize.tracking.evaluations import EVALUATE_EXPERIMENT, tracked_evaluation
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply


def _reply(messages, request):
    if "question" not in messages[-1]["content"]:
        return chat_adapter_reply(learned_context="- apples = 3")
    return chat_adapter_reply(answer="3")


def _data(path):
    rows = [{"context_id": f"c{c}", "template_id": f"t{c}", "level": "base", "context": "Box holds 3 apples.",
             "questions": [{"question_id": f"c{c}-q0", "question": "How many apples?", "answer": 3,
                            "predictability": "high"}]} for c in range(2)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def _evaluate(tmp_path, spec: str, *extra: str) -> int:
    return main(["evaluate", "--data", _data(tmp_path / "data.jsonl"), "--split", "all", "--model", spec,
                 "--store", ":memory:", "--threads", "1", "--retries", "0",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", *extra])


def _runs(tmp_path):
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EVALUATE_EXPERIMENT)
    return client, client.search_runs([experiment.experiment_id]) if experiment else []


def test_an_evaluation_is_a_run_with_its_budget_summary_and_rows(tmp_path):
    out = tmp_path / "rows.jsonl"
    with FakeEngine(_reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        assert _evaluate(tmp_path, spec, "--test-verbosity", "0", "--out", str(out)) == 0
        assert _evaluate(tmp_path, spec, "--test-verbosity", "0", "--out", str(out)) == 0  # resumed
    client, runs = _runs(tmp_path)
    assert [run.info.status for run in runs] == ["FINISHED", "FINISHED"]  # one run per invocation
    run = runs[0]  # the newest: its summary covers every row of the file
    assert run.info.run_name.startswith("evaluate sleep k=1 + v0")
    params = run.data.params
    assert (params["test_verbosity"], params["questions"], params["contexts"]) == ("0", "2", "2")
    assert params["out"] == str(out) and len(params["data_sha256"]) == 64
    assert run.data.metrics["accuracy"] == 1.0 and run.data.metrics["failed_rows"] == 0
    [dataset] = run.inputs.dataset_inputs  # the questions, as search and sweep log theirs
    assert dataset.dataset.name == "all-questions"
    assert "accuracy 100.0%" in run.data.tags["mlflow.note.content"]
    logged = {item.path for item in client.list_artifacts(run.info.run_id, "results")}
    assert logged == {"results/rows.jsonl", "results/rows.jsonl.config.json"}


def test_a_refused_resume_is_a_failed_run_of_its_own(tmp_path):
    out = str(tmp_path / "rows.jsonl")
    with FakeEngine(_reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        assert _evaluate(tmp_path, spec, "--out", out) == 0
        assert _evaluate(tmp_path, spec, "--out", out, "--no-sleep") == 2  # another configuration
    _, runs = _runs(tmp_path)
    assert [run.info.status for run in runs] == ["FAILED", "FINISHED"]


def test_kill_closes_the_run_killed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(KeyboardInterrupt):
        # As evaluate holds them; stop_on_signals installs its own handlers (CI may start tests ignoring them)
        with stop_on_signals(), tracked_evaluation(True, uri, name="evaluate", params={}):
            os.kill(os.getpid(), signal.SIGTERM)
    _, runs = _runs(tmp_path)
    assert [run.info.status for run in runs] == ["KILLED"]
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back


def test_a_run_whose_rows_failed_is_closed_failed_and_keeps_no_credential(tmp_path):
    spec = "openai/m@http://bob:hunter2@127.0.0.1:9/v1"  # nothing listens: every row fails
    assert _evaluate(tmp_path, spec, "--no-sleep", "--tolerate-errors") == 3
    client, runs = _runs(tmp_path)
    assert [run.info.status for run in runs] == ["FAILED"]
    params = runs[0].data.params
    assert "hunter2" not in json.dumps(params) and "***" in params["test_model"]
    artifact = client.download_artifacts(runs[0].info.run_id, "results/chat.csv", str(tmp_path / "down"))
    text = open(artifact).read()
    assert "hunter2" not in text and runs[0].data.metrics["failed_rows"] == 2


def test_no_mlflow_logs_nothing(tmp_path):
    with FakeEngine(_reply) as engine:
        assert _evaluate(tmp_path, f"openai/fake@{engine.api_base}", "--no-mlflow") == 0
    assert not (tmp_path / "mlflow.db").exists()
