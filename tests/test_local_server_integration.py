"""The real qwen2.5-coder-0.5b behind xllamacpp's server: answers, usage, reuse, and no orphans.

Skipped (not failed) only when xllamacpp or the 0.5B chunk packages are not importable.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from programs.lm.local import LOCAL_MODELS, LocalServer, get_local_server

MODEL_KEY = "qwen2.5-coder-0.5b"
_model = LOCAL_MODELS[MODEL_KEY]
_missing = [
    name
    for name in ["xllamacpp", *(_model.module_name(i) for i in range(1, _model.n_parts + 1))]
    if importlib.util.find_spec(name) is None
]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(_missing), reason=f"not importable: {', '.join(_missing)} "
                       f"(pip install 'sleeptime-compute[local]')"),
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _chat(api_base: str, alias: str, question: str) -> dict:
    body = {
        "model": alias,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 16,
        "temperature": 0,
    }
    request = urllib.request.Request(f"{api_base}/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.load(response)


def _process_is_gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    # An orphan that died but was not yet reaped by init is a zombie: it runs no code any more.
    return any(line.startswith("State:") and "Z" in line for line in status.splitlines())


def _eventually(check, patience_seconds: float = 30.0) -> bool:
    """True as soon as ``check()`` is; False if it still is not after ``patience_seconds``."""
    deadline = time.monotonic() + patience_seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def _wait_until_gone(pid: int) -> bool:
    return _eventually(lambda: _process_is_gone(pid))


@pytest.fixture(scope="module")
def shared_server():
    server = get_local_server(MODEL_KEY)
    yield server
    server.stop()


def test_answers_a_simple_question_and_reports_usage(shared_server):
    reply = _chat(shared_server.api_base, shared_server.alias, "What is 2+3? Answer with a number.")

    assert "5" in reply["choices"][0]["message"]["content"]
    assert reply["usage"]["prompt_tokens"] > 0
    assert reply["usage"]["completion_tokens"] > 0
    assert shared_server.api_base == f"http://127.0.0.1:{shared_server.port}/v1"


def test_the_same_key_and_settings_reuse_the_running_server(shared_server):
    again = get_local_server(MODEL_KEY)

    assert again is shared_server
    assert again.pid == shared_server.pid and again.running


def test_stop_ends_the_child_process(tmp_path):
    server = LocalServer(MODEL_KEY, n_ctx=1024, warmup=False).start()
    pid = server.pid
    assert pid is not None and not _process_is_gone(pid)

    server.stop()

    assert not server.running
    assert _process_is_gone(pid)


def test_the_child_dies_when_its_parent_is_killed(tmp_path):
    parent_script = textwrap.dedent(
        f"""
        import os, signal, sys
        from programs.lm.local import LocalServer
        server = LocalServer({MODEL_KEY!r}, n_ctx=1024, warmup=False).start()
        print(server.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no handlers: only the child's own guards remain
        """
    )
    parent = subprocess.run([sys.executable, "-c", parent_script], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert parent.stdout.strip(), f"parent printed no child pid; stderr:\n{parent.stderr}"
    child_pid = int(parent.stdout.split()[0])

    assert _wait_until_gone(child_pid), f"server child {child_pid} outlived its SIGKILLed parent"


def test_concurrent_callers_share_one_freshly_started_server():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        servers = list(pool.map(lambda _: get_local_server(MODEL_KEY, n_ctx=2048), range(4)))
    try:
        assert all(server is servers[0] for server in servers)
        assert servers[0].running  # started from a worker thread that has since finished
    finally:
        servers[0].stop()


def test_a_killed_server_is_restarted_and_the_run_goes_on():
    import signal

    from programs.lm import TokenLedger, make_lm

    ledger = TokenLedger()
    lm = make_lm(f"local:{MODEL_KEY}", phase="test", ledger=ledger, max_tokens=8, num_retries=1,
                 local_options={"n_ctx": 1024, "n_parallel": 1})
    server = lm.server
    try:
        assert lm("Say OK.")
        first_pid = server.pid
        os.kill(first_pid, signal.SIGKILL)  # the server dies mid-run

        reply = lm("What is 2+3? Answer with a number.")

        assert "5" in reply[0]
        assert server.restarts == 1 and server.running and server.pid != first_pid
        assert [call.ok for call in ledger.calls] == [True, True]
        assert _wait_until_gone(first_pid)
    finally:
        server.stop()


def test_a_slot_is_saved_into_the_slot_folder_and_restored(tmp_path):
    with LocalServer(MODEL_KEY, n_ctx=1024, slot_save_path=tmp_path / "slots") as server:
        saved = server.slot_action(0, "save", "warm.bin")  # the warm-up request filled slot 0
        assert saved["n_saved"] > 0 and (tmp_path / "slots" / "warm.bin").is_file()
        server.slot_action(0, "erase")
        restored = server.slot_action(0, "restore", "warm.bin")
        assert restored["n_restored"] == saved["n_saved"]
        with pytest.raises(ValueError, match="plain file name"):
            server.slot_action(0, "save", "../escape.bin")


def test_a_speculative_server_drafts_and_keeps_the_greedy_reply(tmp_path):
    question = "Repeat exactly: 3 boxes of 4 apples, 3 boxes of 4 apples, 3 boxes of 4 apples."
    with LocalServer(MODEL_KEY, n_ctx=1024, warmup=False) as plain:
        expected = _chat(plain.api_base, plain.alias, question)["choices"][0]["message"]["content"]
    with LocalServer(MODEL_KEY, n_ctx=1024, warmup=False, speculative="ngram-simple") as server:
        reply = _chat(server.api_base, server.alias, question)["choices"][0]["message"]["content"]
        # The server writes its slot statistics after it has sent the reply, so on a loaded machine the
        # line can land a moment later: wait for it rather than reading the log once.
        drafted = _eventually(lambda: "draft acceptance" in server.log_path.read_text())

    assert "ngram-simple" in server.child_command(1)
    assert drafted  # llama.cpp drafted from the prompt's n-grams
    assert reply == expected
