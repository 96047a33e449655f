"""Load tests of `sleeptime serve`: concurrent clients over HTTP, and a server killed mid-load and restarted.

Used by :mod:`optimize.deploy.measurements` (modes ``load`` and ``kill``). Clients retry a request whose
connection fails or that gets 502/503/504 (a server restarting), so an answer is "lost" only when every
retry failed.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
RETRY_STATUS = (502, 503, 504)


@dataclass
class Answer:
    """One question's outcome as a client saw it.

    Example:
        >>> answers = [Answer("c1", "How many trays?", 6, answer="6", mode="sleep", correct=True),
        ...            Answer("c1", "How many left?", 22, attempts=4, error="HTTP 503: restarting")]
        >>> summary = load_summary(answers, seconds=1.0)
        >>> summary["answered"], summary["lost"], summary["accuracy"], summary["modes"]
        (1, 1, 1.0, {'sleep': 1})
    """

    context_id: str
    question: str
    gold: object
    answer: str | None = None
    mode: str | None = None
    seconds: float = 0.0
    attempts: int = 0
    error: str | None = None
    correct: bool = False


@dataclass
class ServerProcess:
    """`python3 -m optimize.cli.serve` in a child process on a fixed loopback port.

    Example:
        >>> server = ServerProcess(["--store", "store.db"], port=8765, log_path=Path("serve.log"))
        >>> server.url
        'http://127.0.0.1:8765'
        >>> server.start(timeout=120).url  # doctest: +SKIP
        'http://127.0.0.1:8765'
        >>> server.stop()  # SIGTERM; a no-op for a server that never started
    """

    args: Sequence[str]
    port: int
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> ServerProcess:
        paths = [str(ROOT), os.environ.get("PYTHONPATH")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        log = self.log_path.open("a", encoding="utf-8")
        self.process = subprocess.Popen([sys.executable, "-m", "optimize.cli.serve",
                                         "--port", str(self.port), *self.args],
                                        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.process.returncode} while starting; "
                                   f"see {self.log_path}")
            try:
                if requests.get(f"{self.url}/costs", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout:g} s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def _request(method: str, url: str, *, retries: int, backoff: float,
             **kwargs) -> tuple[requests.Response | None, int, str | None]:
    error = None
    for attempt in range(1, retries + 2):
        try:
            response = requests.request(method, url, timeout=600, **kwargs)
            if response.status_code not in RETRY_STATUS:
                return response, attempt, None
            error = f"HTTP {response.status_code}: {response.text[:200]}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        time.sleep(backoff)
    return None, retries + 1, error


def add_contexts(url: str, contexts: Sequence[tuple[str, str]], *, expected_questions: float,
                 retries: int = 5, backoff: float = 0.5) -> None:
    for context_id, text in contexts:
        response, _, error = _request("POST", f"{url}/contexts", retries=retries, backoff=backoff,
                                      json={"id": context_id, "text": text,
                                            "expected_questions": expected_questions})
        if response is None or response.status_code >= 400:
            detail = error or f"HTTP {response.status_code}: {response.text[:200]}"
            raise RuntimeError(f"could not add context {context_id!r}: {detail}")


def ask_all(url: str, questions: Sequence[tuple[str, str, object]], *, clients: int = 8, policy: str = "wait",
            deadline: float = 60.0, retries: int = 3, backoff: float = 0.5,
            on_answer: Callable[[Answer], None] | None = None) -> list[Answer]:
    """Ask every (context id, question, gold) with ``clients`` concurrent clients; one Answer each."""
    from programs.answers import is_correct

    def one(item: tuple[str, str, object]) -> Answer:
        context_id, question, gold = item
        started = time.perf_counter()
        body = {"question": question, "policy": policy, "deadline": deadline}
        response, attempts, error = _request("POST", f"{url}/contexts/{context_id}/questions",
                                             retries=retries, backoff=backoff, json=body)
        result = Answer(context_id, question, gold, seconds=time.perf_counter() - started, attempts=attempts)
        if response is not None and response.status_code == 200:
            body = response.json()
            result.answer, result.mode = body.get("answer"), body.get("mode")
            result.correct = is_correct(result.answer, gold)
        else:
            result.error = error or f"HTTP {response.status_code}: {response.text[:200]}"
        if on_answer is not None:
            on_answer(result)
        return result

    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="load-client") as pool:
        return list(pool.map(one, questions))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def load_summary(answers: Sequence[Answer], seconds: float) -> dict:
    """Throughput, latency percentiles, modes, accuracy and lost answers of one load run."""
    done = [a for a in answers if a.error is None]
    latencies = [a.seconds for a in done]
    modes: dict[str, int] = {}
    for answer in done:
        modes[answer.mode or "?"] = modes.get(answer.mode or "?", 0) + 1
    return {"questions": len(answers), "answered": len(done), "lost": len(answers) - len(done),
            "wall_seconds": seconds, "throughput_qps": len(done) / seconds if seconds else float("nan"),
            "latency_p50": percentile(latencies, 50), "latency_p95": percentile(latencies, 95),
            "latency_p99": percentile(latencies, 99),
            "latency_mean": statistics.fmean(latencies) if latencies else float("nan"),
            "accuracy": sum(a.correct for a in done) / len(done) if done else float("nan"),
            "retried": sum(a.attempts > 1 for a in answers), "modes": modes,
            "errors": sorted({a.error for a in answers if a.error})[:5]}


def statuses(url: str, context_ids: Sequence[str]) -> dict[str, dict]:
    found = {}
    for context_id in context_ids:
        response, _, _ = _request("GET", f"{url}/contexts/{context_id}", retries=3, backoff=0.5)
        if response is not None and response.status_code == 200:
            found[context_id] = response.json()
    return found


def kill_and_restart(server: ServerProcess, context_ids: Sequence[str], questions, *, kill_after: int,
                     clients: int, policy: str, deadline: float, retries: int, backoff: float,
                     progress: Callable[[Answer], None] | None = None) -> dict:
    """Run the load; after ``kill_after`` answers SIGKILL the server, restart it on the same store and port,
    and check that every learned context that was ready before the kill is still there, unchanged."""
    answered = threading.Event()
    count = [0]
    lock = threading.Lock()

    def on_answer(answer: Answer) -> None:
        with lock:
            count[0] += 1
            if count[0] >= kill_after:
                answered.set()
        if progress is not None:
            progress(answer)

    results: list[Answer] = []
    started = time.perf_counter()
    load = threading.Thread(target=lambda: results.extend(
        ask_all(server.url, questions, clients=clients, policy=policy, deadline=deadline, retries=retries,
                backoff=backoff, on_answer=on_answer)), name="load")
    load.start()
    answered.wait()
    before = statuses(server.url, context_ids)
    ready = {cid: s for cid, s in before.items() if s["state"] == "ready"}
    server.kill()
    killed_at = time.perf_counter() - started
    server.start()
    after = statuses(server.url, list(ready))
    survived = [cid for cid, s in ready.items()
                if after.get(cid, {}).get("learned_context") == s["learned_context"]
                and after[cid]["state"] == "ready"]
    load.join()
    summary = load_summary(results, time.perf_counter() - started)
    final = statuses(server.url, context_ids)
    summary.update(killed_after_answers=kill_after, killed_at_seconds=killed_at, ready_before_kill=len(ready),
                   survived=len(survived), missing=sorted(set(ready) - set(survived)),
                   ready_at_end=sum(s["state"] == "ready" for s in final.values()))
    return summary
