"""Two worker processes share one study on a real PostgreSQL server: no trial duplicated or lost.

Uses ``$SLEEPTIME_TEST_POSTGRES_URL`` (``.ci/run`` exports it from ``.ci/postgres.sh``); without it, starts a
throwaway server with ``.ci/postgres.sh`` when PostgreSQL binaries are installed, else skips.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres_url() -> str:
    url = os.environ.get("SLEEPTIME_TEST_POSTGRES_URL")
    if url:
        return url
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        pytest.skip("no PostgreSQL: set SLEEPTIME_TEST_POSTGRES_URL or `apt-get install postgresql`")
    result = subprocess.run(
        ["bash", str(REPO / ".ci" / "postgres.sh")], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        pytest.skip(f".ci/postgres.sh could not start PostgreSQL: {result.stderr[-500:]}")
    return result.stdout.strip().splitlines()[-1]


WORKER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import test_search as t
    from pathlib import Path
    from optimize.experiments.search import run_search
    from optimize.tracking.runs import Tracker

    def slow(budget, examples, **kw):
        time.sleep(0.3)  # let the two workers interleave
        return t.fake_evaluator(budget, examples, **kw)

    tracker = Tracker({tracking!r})
    run_search(t.make_examples(), n_trials={n_trials}, storage={storage!r}, study_name={study!r}, seed=0,
               tracker=tracker, evaluator=slow, results_dir=Path({results!r}), progress=False,
               heartbeat_interval=1)
""")


def test_two_workers_share_one_study(postgres_url, tmp_path):
    study_name = f"shared-{uuid.uuid4().hex[:8]}"
    tracking = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    per_worker = 6
    code = WORKER.format(
        tests=str(REPO / "tests"),
        n_trials=per_worker,
        storage=postgres_url,
        study=study_name,
        results=str(tmp_path / "results"),
        tracking=tracking,
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]

    from optimize.experiments.study import open_storage

    study = optuna.load_study(study_name=study_name, storage=open_storage(postgres_url))
    states = Counter(t.state.name for t in study.trials)
    # Each worker evaluates per_worker Budgets; a Budget the other worker already evaluated is a PRUNED
    # duplicate that names the trial holding its values and does not count.
    assert states["COMPLETE"] == 2 * per_worker and set(states) <= {"COMPLETE", "PRUNED"}
    assert all("duplicate_of" in t.user_attrs for t in study.trials if t.state.name == "PRUNED")
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(study.trials)))
    assert len({t.user_attrs["worker"]["pid"] for t in study.trials}) == 2
    # Each worker has its own random stream. Shared seeds would make both workers suggest the same
    # sequence (>= per_worker repeats); chance alone repeats a budget about once here (15 test-only budgets).
    by_worker: dict[int, list[str]] = {}
    for trial in sorted(study.trials, key=lambda t: t.number):
        by_worker.setdefault(trial.user_attrs["worker"]["pid"], []).append(trial.user_attrs["config_id"])
    first, second = by_worker.values()
    assert first != second
    repeats = len(study.trials) - len({t.user_attrs["config_id"] for t in study.trials})
    assert repeats < per_worker

    from optimize.tracking.runs import Tracker

    tracker = Tracker(tracking)
    parents = tracker.client.search_runs([tracker.experiment_id], "tags.`sleeptime.kind` = 'search'")
    assert len(parents) == 1
    assert len(tracker.children(parents[0].info.run_id)) == 2 * per_worker


def test_a_different_objective_is_refused_on_the_server(postgres_url, tmp_path):
    sys.path.insert(0, str(REPO / "tests"))
    from test_search import fake_evaluator, make_examples

    from optimize.experiments.search import run_search
    from optimize.experiments.study import SearchError

    options = dict(
        n_trials=1,
        storage=postgres_url,
        study_name=f"obj-{uuid.uuid4().hex[:8]}",
        tracker=False,
        evaluator=fake_evaluator,
        results_dir=tmp_path,
        progress=False,
    )
    run_search(make_examples(), price_ratio=10, **options)
    with pytest.raises(SearchError, match="price-ratio"):
        run_search(make_examples(), price_ratio=2, **options)
