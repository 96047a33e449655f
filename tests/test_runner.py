"""The experiment runner: one Budget at a time under one parent run, tables on disk, failures kept apart."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_search import fake_evaluator, make_examples  # noqa: E402

from optimize.experiments.runner import (
    Experiment,
    ExperimentError,
    TrialFailed,
    applicable_params,
    model_label,
    round_metric,
    run_label,
)
from optimize.tracking.runs import Tracker  # noqa: E402
from programs.budget import Budget  # noqa: E402


@pytest.fixture
def tracker(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    return Tracker(uri, artifact_root=tmp_path / "mlruns" / "art")


def _experiment(tmp_path, tracker, **overrides) -> Experiment:
    options = dict(name="exp", kind="sweep", tracker=tracker, evaluator=fake_evaluator,
                   results_dir=tmp_path / "results", progress=False)
    options.update(overrides)
    return Experiment(make_examples(), **options)


def test_labels_say_what_ran():
    assert model_label("local:qwen2.5-coder-1.5b") == "1.5B"
    assert model_label("openai/gpt-4o-mini@http://u:pw@host/v1") == "gpt-4o-mini"
    big = "local:qwen2.5-coder-1.5b"
    strong = Budget(sleep_samples=2, sleep_model=big, test_model=big)
    assert run_label(strong) == "sleep k=2 + v0 (1.5B)"
    assert run_label(Budget(use_sleep=False, test_verbosity=3)) == "test-only v3 (0.5B)"
    mixed = Budget(sleep_rounds=1, sleep_model="local:qwen2.5-coder-1.5b")
    assert run_label(mixed) == "sleep k=1 r=1 (1.5B) + v0 (0.5B)"
    assert not [k for k in applicable_params(Budget(use_sleep=False)) if k.startswith("sleep_")]
    assert round_metric("accuracy", 2 / 3) == 0.6667 and round_metric("mean_test_tokens", 10 / 3) == 3.33


def test_every_budget_is_a_child_run_and_a_row_of_the_configs(tmp_path, tracker):
    budgets = [Budget(use_sleep=False, test_verbosity=v) for v in (0, 2)] + [Budget(sleep_samples=2)]
    with _experiment(tmp_path, tracker) as experiment:
        configs = experiment.run_all(budgets)
    assert list(configs["label"]) == ["test-only v0 (0.5B)", "test-only v2 (0.5B)", "sleep k=2 + v0 (0.5B)"]
    assert configs["on_front"].any()
    written = pd.read_csv(tmp_path / "results" / "configs.csv")
    assert list(written["config_id"]) == list(configs["config_id"])
    assert len(pd.read_csv(tmp_path / "results" / "examples.csv")) == 3 * len(make_examples())
    parent = tracker.client.get_run(experiment.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["sleeptime.kind"] == "sweep"
    children = tracker.children(experiment.parent_run_id)
    assert sorted(c.info.run_name for c in children) == sorted(configs["label"])
    assert all(c.info.status == "FINISHED" for c in children)


def test_a_budget_with_too_many_failed_rows_raises_and_is_left_out(tmp_path, tracker):
    def broken_for_sleep(budget, examples, **kw):
        frame = fake_evaluator(budget, examples, **kw)
        if budget.use_sleep:
            frame["error"] = "APIConnectionError: http://bob:hunter2@h/v1 refused"
        return frame

    experiment = _experiment(tmp_path, tracker, evaluator=broken_for_sleep).open()
    with pytest.raises(TrialFailed, match="12 of 12 questions failed") as info:
        experiment.run(Budget())
    assert "hunter2" not in str(info.value)
    experiment.run(Budget(use_sleep=False))
    experiment.close()
    assert list(experiment.configs["use_sleep"]) == [False]
    statuses = sorted(c.info.status for c in tracker.children(experiment.parent_run_id))
    assert statuses == ["FAILED", "FINISHED"]


def test_ctrl_c_kills_the_child_and_parent_runs(tmp_path, tracker):
    def interrupted(budget, examples, **kw):
        raise KeyboardInterrupt

    experiment = _experiment(tmp_path, tracker, evaluator=interrupted)
    with pytest.raises(KeyboardInterrupt), experiment:
        experiment.run(Budget())
    assert tracker.client.get_run(experiment.parent_run_id).info.status == "KILLED"
    assert [c.info.status for c in tracker.children(experiment.parent_run_id)] == ["KILLED"]


def test_bad_input_is_refused_before_any_run():
    with pytest.raises(ExperimentError, match="no examples"):
        Experiment([], name="x", kind="sweep", tracker=False)
    with pytest.raises(ExperimentError, match="max-error-rate"):
        Experiment(make_examples(), name="x", kind="sweep", tracker=False, max_error_rate=2)


def test_reopening_a_sweep_closes_children_left_running_by_a_dead_process(tmp_path, tracker):
    experiment = _experiment(tmp_path, tracker, resume_key="sweep:exp").open()
    orphan = tracker.start_child(experiment.parent_run_id, name="died here")  # as after a SIGKILL
    again = _experiment(tmp_path, tracker, resume_key="sweep:exp").open()
    assert again.parent_run_id == experiment.parent_run_id
    assert tracker.status(orphan) == "KILLED"
