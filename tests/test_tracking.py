"""MLflow logging of a search, read back through MlflowClient: parent and children, params, metrics, tags,
artifacts, no credentials; failed work is marked FAILED."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_search import fake_evaluator, make_examples  # noqa: E402

from optimize.experiments.search import run_search  # noqa: E402
from optimize.experiments.sweep import run_sweep  # noqa: E402
from optimize.tracking.runs import Tracker, safe_params  # noqa: E402


@pytest.fixture
def tracker(tmp_path):
    return Tracker(
        f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", artifact_root=tmp_path / "mlruns" / "art"
    )


def _search(tmp_path, tracker, **overrides):
    options = dict(
        n_trials=4,
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        study_name="tracked",
        seed=1,
        tracker=tracker,
        evaluator=fake_evaluator,
        results_dir=tmp_path / "results",
        progress=False,
        n_jobs=2,
    )
    options.update(overrides)
    return run_search(make_examples(), **options)


def test_search_logs_one_parent_and_one_child_per_trial(tmp_path, tracker):
    study = _search(tmp_path, tracker)
    client = tracker.client
    parents = client.search_runs([tracker.experiment_id], "tags.`sleeptime.kind` = 'search'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["price_ratio"] == "10.0"
    children = tracker.children(parent.info.run_id)
    # A Budget the sampler suggests twice is PRUNED as a duplicate, has no run of its own and does not count
    # against n_trials; two parallel workers make that happen on some runs only.
    evaluated = [t for t in study.trials if "duplicate_of" not in t.user_attrs]
    assert len(children) == 4 == len(evaluated)
    assert all(t.state.name == "PRUNED" for t in study.trials if "duplicate_of" in t.user_attrs)
    trial_runs = {c.data.tags["sleeptime.trial"]: c for c in children}
    for trial in evaluated:
        child = trial_runs[str(trial.number)]
        assert child.info.status == "FINISHED"
        assert child.data.params["test_verbosity"] == str(trial.user_attrs["budget"]["test_verbosity"])
        assert child.data.params["test_max_tokens"] == str(trial.user_attrs["budget"]["test_max_tokens"])
        assert child.data.metrics["accuracy"] == pytest.approx(trial.values[0])
        assert child.data.metrics["mean_test_tokens"] == pytest.approx(trial.values[1])
        assert child.data.metrics["cost_per_query"] == pytest.approx(trial.values[2])
        assert {"accuracy_ci_low", "accuracy_ci_high", "mean_test_seconds"} <= set(child.data.metrics)
        assert "test=local:qwen2.5-coder-0.5b" in child.data.tags["sleeptime.models"]
        assert child.data.tags["sleeptime.split"] == "dev"
        assert child.data.tags["mlflow.source.git.commit"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"results", "report", "pareto_front.csv", "pareto_front.md"} <= artifacts
    results = {a.path for a in client.list_artifacts(parent.info.run_id, "results")}
    assert {"results/configs.csv", "results/examples.csv"} <= results
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/pareto_shift.png" in report
    examples = Path(tracker.download(parent.info.run_id, "results/examples.csv")).read_text().splitlines()
    assert len(examples) == 1 + 12 * len({t.user_attrs["config_id"] for t in study.trials})


def test_resumed_search_reuses_its_parent_run(tmp_path, tracker):
    _search(tmp_path, tracker, n_trials=2)
    _search(tmp_path, tracker, n_trials=2)
    parents = tracker.client.search_runs([tracker.experiment_id], "tags.`sleeptime.kind` = 'search'")
    assert len(parents) == 1
    assert len(tracker.children(parents[0].info.run_id)) == 4


def test_failed_evaluation_marks_child_and_parent_failed_and_trial_fail(tmp_path, tracker):
    def broken(budget, examples, **_):
        raise RuntimeError("model server went away")

    with pytest.raises(RuntimeError, match="went away"):
        _search(tmp_path, tracker, n_trials=1, n_jobs=1, evaluator=broken, study_name="broken")
    parent = tracker.client.search_runs([tracker.experiment_id], "tags.`sleeptime.kind` = 'search'")[0]
    assert parent.info.status == "FAILED"
    assert [c.info.status for c in tracker.children(parent.info.run_id)] == ["FAILED"]
    import optuna

    study = optuna.load_study(study_name="broken", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["FAIL"]


def test_no_credentials_in_params():
    params = safe_params(
        {
            "api_key": "abc",
            "OPENAI_API_KEY": "abc",
            "client_secret": "x",
            "password": "p",
            "access_token": "t",
            "headers": "Bearer abc",
            "note": "sk-123",
            "test_max_tokens": 256,
            "sleep_max_tokens": 512,
            "storage": "postgresql://u:hunter2@db:5432/s",
        }
    )
    assert params == {
        "test_max_tokens": "256",
        "sleep_max_tokens": "512",
        "storage": "postgresql://u:***@db:5432/s",
    }


def test_sweep_logs_every_grid_config(tmp_path, tracker):
    configs = run_sweep(
        make_examples(),
        grid="k",
        tracker=tracker,
        evaluator=fake_evaluator,
        results_dir=tmp_path / "sweep",
        progress=False,
    )
    assert sorted(configs.loc[configs["use_sleep"], "sleep_samples"]) == [1, 2, 5, 10]
    assert (~configs["use_sleep"]).sum() == 1
    parent = tracker.client.search_runs([tracker.experiment_id], "tags.`sleeptime.kind` = 'sweep'")[0]
    assert parent.info.status == "FINISHED"
    assert len(tracker.children(parent.info.run_id)) == 5
    report = {a.path for a in tracker.client.list_artifacts(parent.info.run_id, "report")}
    assert "report/k_scaling.png" in report


def test_mlflow_shows_what_ran_descriptions_data_front_and_traces(tmp_path, tracker):
    """Read back what the UI shows, through MlflowClient."""
    import json

    import dspy

    from optimize.experiments.search import SearchSpace
    from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
    from programs.store import InMemoryStore

    def reply(messages, request):
        return chat_adapter_reply(learned_context="- apples = 3", reasoning="3", answer="3")

    examples = [
        dspy.Example(context=f"Ann has {c} apples.", question=f"How many apples, {q}?", answer="3",
                     context_id=f"c{c}", question_id=f"c{c}-q{q}").with_inputs("context", "question")
        for c in range(2) for q in range(2)
    ]
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        space = SearchSpace(use_sleep=(True, False), test_verbosity=(0,), test_max_tokens=(128,),
                            sleep_samples=(1,), sleep_rounds=(0,), sleep_max_tokens=(256,),
                            sleep_model=(spec,), test_model=(spec,))
        study = run_search(examples, n_trials=2, storage=f"sqlite:///{tmp_path / 'optuna.db'}",
                           study_name="ui", sampler="random", seed=0, space=space, store=InMemoryStore(),
                           tracker=tracker, results_dir=tmp_path / "results", progress=False)
    client = tracker.client
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    assert "accuracy" in parent.data.tags["mlflow.note.content"]
    assert [d.dataset.name for d in parent.inputs.dataset_inputs] == ["dev-questions"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"search_space.json", "pareto_front.csv", "pareto_front.png"} <= artifacts
    stored_space = json.loads(Path(tracker.download(parent.info.run_id, "search_space.json")).read_text())
    assert stored_space["use_sleep"] == [True, False]
    front = Path(tracker.download(parent.info.run_id, "pareto_front.csv")).read_text().splitlines()
    assert len(front) - 1 == len(set(front[1:]))  # one row per distinct Budget

    children = {c.info.run_name.split(" ", 1)[1]: c for c in tracker.children(parent.info.run_id)}
    assert set(children) == {"sleep k=1 + v0 (fake)", "test-only v0 (fake)"}
    test_only = children["test-only v0 (fake)"]
    assert not [p for p in test_only.data.params if p.startswith("sleep_")]
    assert "sleep_samples" in children["sleep k=1 + v0 (fake)"].data.params
    for label, child in children.items():
        assert "generated test-time tokens per question" in child.data.tags["mlflow.note.content"]
        assert all(round(v, 4) == v for v in child.data.metrics.values())
        traces = client.search_traces(locations=[tracker.experiment_id], run_id=child.info.run_id)
        assert len(traces) == 2
        spans = {s.name: s for s in traces[0].data.spans}
        assert any(name.startswith("test call") for name in spans)
        read = json.dumps([s.inputs for s in spans.values()])
        assert "How many apples" in read and "Ann has" in read
        assert "3" in json.dumps(traces[0].data.spans[0].outputs)
        assert traces[0].info.tags.get("sleeptime.run") == label
        calls = [s for s in traces[0].data.spans if s.name.endswith(tuple(f"call {i}" for i in range(1, 9)))]
        # each call span has the call's own duration and the server's token counts
        assert all(s.end_time_ns > s.start_time_ns for s in calls)
        assert all(s.attributes.get("mlflow.chat.tokenUsage", {}).get("output_tokens", 0) > 0 for s in calls)
    sleep_spans = [s.name for t in client.search_traces(locations=[tracker.experiment_id],
                                                         run_id=children["sleep k=1 + v0 (fake)"].info.run_id)
                   for s in t.data.spans]
    assert "sleep call 1" in sleep_spans
