"""Overload `sleeptime serve` on loopback: more clients than it admits, for a bounded time, against the fake
engine; counts what was answered, refused and lost, and samples the server process's memory.

    python3 -m optimize.cli.overload --clients 64 --seconds 20 --max-questions 8

A healthy server answers what it admits, refuses the rest at once with 503 + Retry-After (or 429), loses
nothing, and its resident memory stays flat while the clients keep coming.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from programs.lm.fake_engine import FakeEngine, chat_adapter_reply

REPO = Path(__file__).resolve().parents[2]
TOKEN = "overload-token-0123456789abcdef"


def _reply(messages, request) -> str:
    if "[[ ## question ## ]]" in messages[-1]["content"]:
        return chat_adapter_reply(reasoning="3 * 4 = 12", answer="12")
    return chat_adapter_reply(learned_context="- apples = 3 * 4 = 12")


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def run_overload(*, clients: int = 64, seconds: float = 20.0, contexts: int = 10, max_questions: int = 8,
                 answer_delay: float = 0.05, limit_flags: bool = True, repo: Path = REPO) -> dict:
    """Start a server (code from ``repo``) on the fake engine, overload it, and report what happened."""
    with FakeEngine(_reply, delay_seconds=answer_delay) as engine, tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "optimize.cli.serve", "--port", "0",
                   "--store", f"{folder}/lc.sqlite",
                   "--model", f"openai/fake@{engine.api_base}", "--scheduler", "always"]
        if limit_flags:
            command += ["--max-questions", str(max_questions), "--max-connections", str(4 * clients)]
        env = {**os.environ, "PYTHONPATH": str(repo), "SLEEPTIME_SERVE_TOKENS": TOKEN}
        server = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            return _drive(server, engine, clients=clients, seconds=seconds, contexts=contexts)
        finally:
            server.terminate()
            server.wait(30)


def _drive(server: subprocess.Popen, engine: FakeEngine, *, clients: int, seconds: float,
           contexts: int) -> dict:
    line = ""
    deadline = time.monotonic() + 120
    while "sleeptime serve:" not in line:
        line = server.stdout.readline()
        if not line and server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start: {line}")
    url = re.search(r"http://\S+:\d+", line).group(0)
    while True:  # the line comes once the port is bound, a moment before it accepts connections
        try:
            requests.get(f"{url}/openapi.json", timeout=5).raise_for_status()
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for i in range(contexts):
        requests.post(f"{url}/contexts", headers=headers, timeout=30,
                      json={"id": f"c{i}", "text": f"{i + 2} boxes of 4 apples."}).raise_for_status()
    requests.post(f"{url}/contexts/c0/questions", headers=headers, timeout=60,
                  json={"question": "How many apples?", "deadline": 60}).raise_for_status()  # warm up
    baseline = _memory_kib(server.pid)
    outcomes: Counter = Counter()
    retry_after: Counter = Counter()
    latencies: list[float] = []
    samples: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(number: int) -> None:
        session = requests.Session()
        asked = 0
        while time.monotonic() < stop:
            asked += 1
            started = time.perf_counter()
            try:
                response = session.post(f"{url}/contexts/c{(number + asked) % contexts}/questions",
                                        headers=headers, timeout=120,
                                        json={"question": "How many apples?", "deadline": 5})
                outcome = str(response.status_code)
                if response.status_code == 200 and response.json().get("answer") != "12":
                    outcome = "200-wrong"
                later = response.headers.get("Retry-After")
            except requests.RequestException as exc:
                outcome, later = f"error:{type(exc).__name__}", None
            with lock:
                outcomes[outcome] += 1
                if later:
                    retry_after[later] += 1
                if outcome == "200":
                    latencies.append(time.perf_counter() - started)
            if outcome in ("503", "429"):
                time.sleep(0.05)  # a real client would wait Retry-After; this one keeps the pressure on

    def sample() -> None:
        while time.monotonic() < stop + 1:
            samples.append(_memory_kib(server.pid)["VmRSS"])
            time.sleep(0.25)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    threads.append(threading.Thread(target=sample))
    started = time.monotonic()
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    wall = time.monotonic() - started
    end = _memory_kib(server.pid)
    latencies.sort()
    answered = outcomes["200"]
    rejected = outcomes["503"] + outcomes["429"]
    return {
        "clients": clients, "seconds": seconds, "wall_seconds": round(wall, 1),
        "requests": sum(outcomes.values()), "answered": answered, "rejected": rejected,
        "lost": sum(count for outcome, count in outcomes.items() if outcome not in ("200", "503", "429")),
        "outcomes": dict(outcomes), "retry_after": dict(retry_after),
        "answers_per_second": round(answered / wall, 1),
        "p50_seconds": round(latencies[len(latencies) // 2], 3) if latencies else None,
        "max_seconds": round(latencies[-1], 3) if latencies else None,
        "rss_mib_before": round(baseline["VmRSS"] / 1024, 1),
        "rss_mib_peak_sampled": round(max(samples) / 1024, 1),
        "rss_mib_end": round(end["VmRSS"] / 1024, 1), "rss_mib_high_water": round(end["VmHWM"] / 1024, 1),
        "lm_requests": len(engine.requests),
    }
