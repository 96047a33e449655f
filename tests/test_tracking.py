"""MLflow logging of a search, read back through MlflowClient: parent and children, params, metrics, tags,
artifacts, no credentials; failed work is marked FAILED."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_search import fake_evaluator, make_examples  # noqa: E402

from optimize.search import run_search  # noqa: E402
from optimize.sweep import run_sweep  # noqa: E402
from optimize.tracking import Tracker, safe_params  # noqa: E402


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
    assert len(children) == 4 == len(study.trials)
    trial_runs = {c.data.tags["sleeptime.trial"]: c for c in children}
    for trial in study.trials:
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
