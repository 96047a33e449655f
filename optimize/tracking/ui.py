"""The MLflow UI on this project's store, as a child process on loopback.

Example::

    handle = start_ui(5050)           # mlflow server --backend-store-uri sqlite:///<cwd>/mlruns/mlflow.db ...
    handle.wait_ready()                # the first start can take about a minute
    print(handle.url)                  # http://127.0.0.1:5050
    handle.stop()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from optimize.tracking.runs import default_mlruns_dir, default_tracking_uri
from programs.lm.local import find_free_port


class UIError(RuntimeError):
    """The MLflow UI could not start or did not answer; the message says where its log is."""


@dataclass
class UIHandle:
    """A running ``mlflow server``: ``url``, ``wait_ready()``, ``stop()`` (kills its process group).

    Example:
        >>> with start_ui(5050) as handle:  # doctest: +SKIP
        ...     handle.wait_ready()  # the first start can take about a minute
        ...     handle.url
        'http://127.0.0.1:5050'
        >>> start_ui(5050, host="0.0.0.0")  # refused before any process starts
        Traceback (most recent call last):
        ...
        optimize.tracking.ui.UIError: the UI only listens on loopback (got host '0.0.0.0'); ...
    """

    process: subprocess.Popen
    url: str
    log_path: Path

    def wait_ready(self, timeout: float = 240.0, poll: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UIError(
                    f"mlflow server exited with code {self.process.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(poll)
        raise UIError(
            f"mlflow server at {self.url} did not answer /health within {timeout:.0f} s; see {self.log_path}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server's whole process group (uvicorn workers, job runner, huey consumers), not just
        the ``mlflow server`` process: SIGTERM, then SIGKILL for what is left after ``timeout``."""
        group = self.process.pid  # started with start_new_session: its own process group
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _group_alive(group):
                self.process.poll()  # reap the server itself so it does not linger as a zombie
                time.sleep(0.2)
            if not _group_alive(group):
                break
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> UIHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_ui(
    port: int | None = None,
    host: str = "127.0.0.1",
    *,
    tracking_uri: str | None = None,
    artifact_root: str | Path | None = None,
) -> UIHandle:
    """Start ``mlflow server`` for ``tracking_uri`` (default: this project's store) on ``host:port``."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise UIError(f"the UI only listens on loopback (got host {host!r}); use 127.0.0.1 and an SSH tunnel")
    port = port or find_free_port()
    tracking_uri = tracking_uri or default_tracking_uri()
    if artifact_root is None:
        artifact_root = (
            Path(tracking_uri[len("sqlite:///") :]).parent / "artifacts"
            if tracking_uri.startswith("sqlite:///")
            else default_mlruns_dir() / "artifacts"
        )
    Path(artifact_root).mkdir(parents=True, exist_ok=True)
    log = tempfile.NamedTemporaryFile(prefix="sleeptime-ui-", suffix=".log", delete=False)
    env = {**os.environ, "MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "true"}
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        tracking_uri,
        "--default-artifact-root",
        Path(artifact_root).resolve().as_uri(),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    return UIHandle(process=process, url=f"http://{host}:{port}", log_path=Path(log.name))
