"""Faults injected into search and sweep: failing endpoints, signals, dead workers, secrets in model URLs.

Each test guards against one class of defect: a trial whose rows failed never wins; SIGTERM stops a
search like SIGINT; runs left RUNNING by a dead worker are closed; no credential reaches any written file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_search import REPO, fake_evaluator, make_examples  # noqa: E402

from optimize.experiments.search import SearchSpace, run_search  # noqa: E402
from optimize.experiments.sweep import run_sweep  # noqa: E402
from optimize.tracking.runs import Tracker  # noqa: E402

DEAD = "openai/dead@http://127.0.0.1:1/v1"  # nothing listens on port 1: every call fails at once


@pytest.fixture
def tracker(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    return Tracker(uri, artifact_root=tmp_path / "mlruns" / "art")


def _dspy_examples(n_contexts: int = 2, per_context: int = 2) -> list:
    import dspy

    return [
        dspy.Example(context=f"Ann has {i} apples.", question="How many apples?", answer="42",
                     **{k: v for k, v in e.items() if k not in ("question", "answer")}).with_inputs(
            "context", "question")
        for i, e in enumerate(make_examples(n_contexts, per_context))
    ]


def _test_only_space(*models: str) -> SearchSpace:
    return SearchSpace(use_sleep=(False,), test_verbosity=(0,), test_max_tokens=(128,), sleep_samples=(1,),
                       sleep_rounds=(0,), sleep_max_tokens=(256,), sleep_model=(models[0],),
                       test_model=tuple(models))


# -- a trial whose rows failed is FAIL, never on the front -------------------------------------------------
def test_unreachable_endpoint_trials_fail_and_only_the_working_model_is_on_the_front(
        tmp_path, tracker, fake_engine):
    from programs.store import InMemoryStore

    working = f"openai/fake@{fake_engine.api_base}"
    study = run_search(_dspy_examples(), n_trials=4, storage=f"sqlite:///{tmp_path / 'optuna.db'}",
                       study_name="faults", seed=0, sampler="random", space=_test_only_space(working, DEAD),
                       store=InMemoryStore(), tracker=tracker, results_dir=tmp_path / "results",
                       progress=False)
    by_model = {}
    for trial in study.trials:
        by_model.setdefault(trial.user_attrs["budget"]["test_model"], []).append(trial)
    assert DEAD in by_model and working in by_model, "the seed must propose both models"
    assert all(t.state.name == "FAIL" for t in by_model[DEAD])
    assert all("failed" in t.user_attrs["failed_reason"] for t in by_model[DEAD])
    assert {t.user_attrs["budget"]["test_model"] for t in study.best_trials} == {working}
    configs = pd.read_csv(tmp_path / "results" / "configs.csv")
    assert set(configs["test_model"]) == {working} and configs["on_front"].all()
    # MLflow: the unreachable trials' child runs are FAILED, the working one FINISHED.
    parent = study.user_attrs["mlflow_parent_run_id"]
    statuses = {c.data.tags["sleeptime.trial"]: c.info.status for c in tracker.children(parent)}
    for trial in by_model[DEAD]:
        assert statuses[str(trial.number)] == "FAILED"
    evaluated = [t for t in by_model[working] if "duplicate_of" not in t.user_attrs]
    assert [statuses[str(t.number)] for t in evaluated] == ["FINISHED"]


def test_error_rate_threshold_fails_a_partly_broken_trial(tmp_path):
    def half_broken(budget, examples, **kw):
        frame = fake_evaluator(budget, examples, **kw)
        frame.loc[frame.index[: len(frame) * 2 // 3], "error"] = "APIConnectionError: refused"
        return frame

    study = run_search(make_examples(), n_trials=2, storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="h",
                       tracker=False, evaluator=half_broken, results_dir=tmp_path / "r", progress=False,
                       max_error_rate=0.5)
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]
    tolerant = run_search(make_examples(), n_trials=1, storage=f"sqlite:///{tmp_path / 'o.db'}",
                          study_name="t", tracker=False, evaluator=half_broken, results_dir=tmp_path / "t",
                          progress=False, max_error_rate=0.9)
    assert [t.state.name for t in tolerant.trials] == ["COMPLETE"]


def test_repeated_evaluation_retries_error_rows_instead_of_reusing_them(tmp_path, fake_engine):
    from optimize.experiments.runner import evaluate_budget
    from programs.budget import Budget
    from programs.store import InMemoryStore

    budget = Budget(use_sleep=False, test_model=f"openai/fake@{fake_engine.api_base}")
    rows = tmp_path / "rows.jsonl"
    fake_engine.fail_next(100, 500)
    first = evaluate_budget(budget, _dspy_examples(1, 2), results_path=rows, store=InMemoryStore(),
                            progress=False, lm_options={"num_retries": 0})
    assert first["error"].notna().all()
    fake_engine.fail_next(0)
    second = evaluate_budget(budget, _dspy_examples(1, 2), results_path=rows, store=InMemoryStore(),
                             progress=False, lm_options={"num_retries": 0})
    assert second["error"].isna().all() and second["correct"].all()


def test_sweep_leaves_out_a_failing_budget(tmp_path, fake_engine):
    from programs.budget import Budget
    from programs.store import InMemoryStore

    working = Budget(use_sleep=False, test_model=f"openai/fake@{fake_engine.api_base}")
    configs = run_sweep(_dspy_examples(), budgets=[working, working.replace(test_model=DEAD)], name="sw",
                        tracker=False, store=InMemoryStore(), results_dir=tmp_path / "sw", progress=False)
    assert list(configs["test_model"]) == [working.test_model]


# -- signals ------------------------------------------------------------------------------------------------
WORKER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import test_search as t
    from optimize.tracking.runs import Tracker
    calls = {{"n": 0}}
    def crashing(budget, examples, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.{signal})
        return t.fake_evaluator(budget, examples, **kw)
    from optimize.experiments.search import run_search
    from pathlib import Path
    tracker = Tracker({tracking!r}, artifact_root={artifacts!r}) if {tracked} else False
    run_search(t.make_examples(), n_trials=4, storage={storage!r}, study_name="s", seed=0,
               tracker=tracker, evaluator=crashing, results_dir=Path({results!r}), progress=False)
""")


def _worker(tmp_path, sig: str, *, tracked: bool = False, ignore_sigint: bool = False):
    code = WORKER.format(tests=str(REPO / "tests"), signal=sig, storage=f"sqlite:///{tmp_path / 'optuna.db'}",
                         results=str(tmp_path / "results"), tracked=tracked,
                         tracking=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
                         artifacts=str(tmp_path / "mlruns" / "art"))

    def ignore():  # as a shell's background job starts: SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          preexec_fn=ignore if ignore_sigint else None)


@pytest.mark.parametrize("sig, ignore_sigint", [("SIGTERM", False), ("SIGINT", True)])
def test_a_signal_stops_the_search_with_a_message_and_no_running_trial(tmp_path, sig, ignore_sigint):
    result = _worker(tmp_path, sig, ignore_sigint=ignore_sigint)
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"stopped by {sig}" in result.stderr and "re-queued" in result.stderr
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    states = [t.state.name for t in study.trials]
    assert "RUNNING" not in states and states.count("COMPLETE") == 1 and states.count("FAIL") == 1
    assert states.count("WAITING") == 1  # the interrupted trial, queued for the next run


def test_resume_closes_mlflow_runs_left_running_by_a_killed_worker(tmp_path, tracker):
    result = _worker(tmp_path, "SIGKILL", tracked=True)
    assert result.returncode != 0
    parent = tracker.client.search_runs([tracker.experiment_id], "tags.`sleeptime.kind` = 'search'")[0]
    assert "RUNNING" in [c.info.status for c in tracker.children(parent.info.run_id)]

    run_search(make_examples(), n_trials=1, storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="s",
               tracker=tracker, evaluator=fake_evaluator, results_dir=tmp_path / "results", progress=False,
               grace_period=0.0001)
    children = tracker.children(parent.info.run_id)
    assert "RUNNING" not in [c.info.status for c in children]
    assert sorted(c.info.status for c in children) == ["FINISHED", "FINISHED", "KILLED"]


# -- secrets ------------------------------------------------------------------------------------------------
def test_a_password_in_a_model_url_reaches_no_file_the_search_writes(tmp_path, tracker):
    secret_model = "openai/fake@http://bob:hunter2@127.0.0.1:9/v1"
    space = SearchSpace(use_sleep=(True, False), test_verbosity=(0, 1), sleep_samples=(1,), sleep_rounds=(0,),
                        sleep_max_tokens=(256,), test_max_tokens=(128,), sleep_model=(secret_model,),
                        test_model=(secret_model, "openai/other@http://127.0.0.1:9/v1"))
    study = run_search(make_examples(), n_trials=4, storage=f"sqlite:///{tmp_path / 'optuna.db'}",
                       study_name="secret", tracker=tracker, evaluator=fake_evaluator,
                       results_dir=tmp_path / "results", progress=False, space=space, sampler="random")
    assert any(t.user_attrs["budget"]["test_model"].startswith("openai/fake@") for t in study.trials)
    leaks = [str(path) for path in tmp_path.rglob("*") if path.is_file() and b"hunter2" in path.read_bytes()]
    assert leaks == []
    parent = study.user_attrs["mlflow_parent_run_id"]
    tags = [c.data.tags.get("sleeptime.models", "") for c in tracker.children(parent)]
    assert any("bob:***@" in tag for tag in tags)


def test_stop_on_signals_restores_previous_handlers():
    from optimize.experiments.runner import stop_on_signals

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs as soon as the call returns
        raise AssertionError("SIGTERM did not interrupt")
    assert stop["signal"] == "SIGTERM" and signal.getsignal(signal.SIGTERM) == before


def test_search_command_with_only_an_unreachable_model_exits_non_zero(tmp_path, capsys, monkeypatch):
    from optimize.cli.app import main

    monkeypatch.setenv("SLEEPTIME_MLRUNS_DIR", str(tmp_path / "mlruns"))
    code = main(["search", "--test-model", DEAD, "--sleep-model", DEAD, "--n", "2", "--n-trials", "1",
                 "--no-mlflow", "--store", ":memory:", "--retries", "0", "--storage",
                 f"sqlite:///{tmp_path / 'optuna.db'}", "--study", "dead", "--use-sleep", "false"])
    err = capsys.readouterr().err
    assert code == 3 and "no Budget of study 'dead' finished" in err and len(err.strip().splitlines()) >= 1
