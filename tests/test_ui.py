"""The MLflow UI serves this project's store: start it, read the experiment and runs over REST, stop it."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest

from optimize.tracking.runs import Tracker  # noqa: E402
from optimize.tracking.ui import start_ui  # noqa: E402


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


def _processes() -> list[tuple[int, int, int, str]]:
    """(pid, ppid, session, state) of every live process, from /proc."""
    import os

    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, ppid, session = fields[0], int(fields[1]), int(fields[3])
        found.append((int(name), ppid, session, state))
    return found


@pytest.mark.integration
def test_a_plain_kill_of_ui_leaves_no_server_process(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from programs.lm.local import find_free_port

    Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    repo = Path(__file__).resolve().parents[1]
    ui = subprocess.Popen(
        [sys.executable, "-m", "optimize", "ui", "--port", str(find_free_port()),
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    sessions = {ui.pid}
    try:
        for line in ui.stdout:
            if "ready" in line or "error" in line:
                break
        assert "ready" in line, line
        sessions |= {session for _, ppid, session, _ in _processes() if ppid == ui.pid}
        assert len([p for p in _processes() if p[2] in sessions]) > 2  # ui, mlflow server and its workers
        os.kill(ui.pid, signal.SIGTERM)
        assert ui.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            left = [p for p in _processes() if p[2] in sessions and p[3] != "Z"]
            if not left:
                break
            time.sleep(0.5)
        assert left == []
    finally:
        for session in sessions:  # whatever a failure left behind (each session is its own group)
            try:
                os.killpg(session, signal.SIGKILL)
            except ProcessLookupError:
                pass
