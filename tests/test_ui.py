"""The MLflow UI serves this project's store: start it, read the experiment and runs over REST, stop it."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("mlflow")

from optimize.tracking import Tracker  # noqa: E402
from optimize.ui import start_ui  # noqa: E402


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.integration
def test_ui_serves_the_experiment_and_its_runs_then_stops(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    tracker = Tracker(uri)
    parent = tracker.start_parent("search-ui", kind="search", tags={"sleeptime.split": "dev"})
    tracker.log_child(parent, name="trial-0", params={"test_verbosity": 2}, metrics={"accuracy": 0.5})
    tracker.finish(parent)

    handle = start_ui(tracking_uri=uri)
    try:
        handle.wait_ready(timeout=300)
        query = urllib.parse.urlencode({"experiment_name": "sleeptime"})
        experiment = _get(f"{handle.url}/api/2.0/mlflow/experiments/get-by-name?{query}")["experiment"]
        assert experiment["experiment_id"] == tracker.experiment_id
        runs = _post(
            f"{handle.url}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]]}
        )["runs"]
        assert {r["info"]["run_name"] for r in runs} == {"search-ui", "trial-0"}
        child = next(r for r in runs if r["info"]["run_name"] == "trial-0")
        assert {"key": "mlflow.parentRunId", "value": parent} in child["data"]["tags"]
    finally:
        handle.stop()
    assert handle.process.poll() is not None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{handle.url}/health", timeout=5)
