"""Faults on the LM side: a dead server is restarted and the call goes on; bad specs fail early and clearly;
replies cut off at the token cap are counted. Uses a fake model server in a real child process."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from programs.lm import LMSetupError, TokenLedger, make_lm, suggested_concurrency, validate_spec
from programs.lm.fake_engine import FakeEngine
from programs.lm.metered import MeteredLM
from programs.lm.server import LocalServer, ServerStartError, local_slots, stop_all_servers


class FakeChildServer(LocalServer):
    """A LocalServer whose child is the fake engine (starts in a second, needs no model file)."""

    delay = 0.0

    def child_command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "programs.lm.fake_engine", "--port", str(port), "--alias", self.alias,
                "--delay", str(self.delay), "--parent-pid", str(os.getpid())]


def _kill(server: LocalServer) -> None:
    os.kill(server.pid, signal.SIGKILL)
    server._process.wait(timeout=30)


@pytest.fixture
def child_server(tmp_path):
    server = FakeChildServer("qwen2.5-coder-0.5b", model_path=tmp_path / "unused.gguf", cache_dir=tmp_path,
                             warmup=False, ready_timeout=60, max_restarts=2)
    yield server
    server.stop()


def _lm(server: LocalServer, ledger: TokenLedger) -> MeteredLM:
    return MeteredLM(f"openai/{server.alias}", phase="test", ledger=ledger, server=server,
                     api_base=server.api_base, api_key="local", cache=False, num_retries=0)


def test_a_killed_server_is_restarted_and_the_next_call_succeeds(child_server, caplog):
    ledger = TokenLedger()
    lm = _lm(child_server.start(), ledger)
    assert lm("first") and child_server.restarts == 0
    first_pid = child_server.pid
    _kill(child_server)

    with caplog.at_level("WARNING", logger="programs.lm.server"):
        assert lm("after the kill")

    assert child_server.running and child_server.pid != first_pid and child_server.restarts == 1
    assert "died" in caplog.text and "restart 1 of 2" in caplog.text
    assert [call.ok for call in ledger.calls] == [True, True]
    restarted_pid = child_server.pid
    stop_all_servers()  # what atexit and the SIGTERM handler run: the restarted child is stopped too
    assert not child_server.running and child_server._process.poll() is not None
    assert restarted_pid != first_pid


def test_a_server_killed_during_a_call_is_restarted_and_the_call_sent_again(child_server):
    child_server.delay = 3.0
    ledger = TokenLedger()
    lm = _lm(child_server.start(), ledger)
    threading.Timer(1.0, _kill, args=(child_server,)).start()  # dies while the reply is being made

    assert lm("slow question")

    assert child_server.restarts == 1
    [call] = ledger.calls  # one logical call, recorded once, successful
    assert call.ok


def test_restarts_are_bounded_and_the_failure_is_recorded(child_server):
    ledger = TokenLedger()
    lm = _lm(child_server.start(), ledger)
    for _ in range(2):
        _kill(child_server)
        assert lm("again")
    _kill(child_server)

    with pytest.raises(ServerStartError, match="giving up"):
        lm("once too often")

    assert child_server.restarts == 2 and not child_server.running
    assert ledger.calls[-1].ok is False and "giving up" in ledger.calls[-1].error


def test_a_server_stopped_on_purpose_is_not_brought_back(child_server):
    child_server.start().stop()
    with pytest.raises(ServerStartError, match="was stopped"):
        child_server.ensure_running()


@pytest.mark.parametrize("spec, message", [
    ("nonsense", "unknown model spec"),
    ("local:qwen9", "known local models: local:qwen2.5-coder-0.5b, local:qwen2.5-coder-1.5b"),
    ("openai/m@ftp://x", "not an http"),
    ("anthropic/claude@ftp://host", "not an http"),
])
def test_bad_specs_fail_early_with_one_line(spec, message):
    with pytest.raises(LMSetupError, match=message) as caught:
        validate_spec(spec)
    assert "\n" not in str(caught.value)


def test_api_base_argument_is_checked_too():
    with pytest.raises(LMSetupError, match="not an http"):
        validate_spec("openai/m", api_base="ftp://x")


def test_a_password_in_a_bad_api_base_is_not_in_the_error():
    with pytest.raises(LMSetupError) as caught:
        validate_spec("openai/m@ftp://bob:hunter2@host/v1")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("retries", [-1, 1.5, True])
def test_negative_or_odd_retries_are_refused(retries):
    with pytest.raises(LMSetupError, match="num_retries"):
        make_lm("openai/x@http://127.0.0.1:9/v1", phase="test", check=False, num_retries=retries)


@pytest.mark.parametrize("spec, normalized", [
    ("anthropic/claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku-latest"),
    ("ollama_chat/llama3@http://localhost:11434/", "ollama_chat/llama3@http://localhost:11434"),
    ("vertex_ai/claude-3-sonnet@20240229", "vertex_ai/claude-3-sonnet@20240229"),
    ("openai/qwen@http://127.0.0.1:8080/v1", "openai/qwen@http://127.0.0.1:8080/v1"),
    (" local:qwen2.5-coder-1.5b ", "local:qwen2.5-coder-1.5b"),
])
def test_any_litellm_model_string_is_a_spec(spec, normalized):
    assert validate_spec(spec) == normalized


def test_a_litellm_provider_spec_reaches_its_server_and_is_metered():
    ledger = TokenLedger()
    with FakeEngine(lambda m, r: "7") as engine:
        lm = make_lm(f"hosted_vllm/fake@{engine.api_base}", phase="test", ledger=ledger, num_retries=0)
        assert lm("x") == ["7"]
    assert lm.model == "hosted_vllm/fake" and lm.server is None
    assert ledger.calls[0].ok and ledger.calls[0].completion_tokens == 1


def test_a_running_openai_compatible_server_is_used_without_starting_the_embedded_one(fake_engine):
    lm = make_lm(f"openai/fake@{fake_engine.api_base}", phase="test", num_retries=0)
    assert lm.server is None and lm.kwargs["api_base"] == fake_engine.api_base


def test_suggested_concurrency_follows_the_slots(monkeypatch):
    monkeypatch.delenv("SLEEPTIME_LOCAL_SLOTS", raising=False)
    assert suggested_concurrency("local:qwen2.5-coder-0.5b") == local_slots() == 1
    monkeypatch.setenv("SLEEPTIME_LOCAL_SLOTS", "2")
    assert suggested_concurrency("local:qwen2.5-coder-0.5b") == 2
    assert suggested_concurrency("openai/x@http://h:1/v1") == 8
    monkeypatch.setenv("SLEEPTIME_LOCAL_SLOTS", "many")
    with pytest.raises(ValueError, match="SLEEPTIME_LOCAL_SLOTS"):
        suggested_concurrency("local:qwen2.5-coder-0.5b")


def test_the_child_command_carries_slots_batching_and_prompt_cache(tmp_path):
    server = LocalServer("qwen2.5-coder-0.5b", model_path=tmp_path / "m.gguf", cache_dir=tmp_path, n_ctx=8192,
                         n_parallel=2, cache_ram_mib=512, slot_save_path=tmp_path / "slots")
    command = " ".join(server.child_command(1234))
    assert "--ctx 8192 --parallel 2" in command and "--cache-ram-mib 512" in command
    assert f"--slot-save-path {tmp_path / 'slots'}" in command and "--no-cont-batching" not in command


def test_shared_servers_grow_the_context_with_the_slots(monkeypatch):
    from programs.lm import server as server_module

    started = []
    monkeypatch.setattr(server_module.LocalServer, "start", lambda self: started.append(self) or self)
    monkeypatch.setattr(server_module, "_shared_servers", {})
    server = server_module.get_local_server("qwen2.5-coder-0.5b", n_ctx=2048, n_parallel=3)
    assert (server.n_parallel, server.n_ctx) == (3, 6144) and started == [server]


def test_truncated_replies_are_counted():
    ledger = TokenLedger()
    with FakeEngine(lambda m, r: "one two three four five") as engine:
        lm = make_lm(f"openai/fake@{engine.api_base}", phase="test", ledger=ledger, max_tokens=2,
                     num_retries=0)
        lm("cut me off")
        engine.finish_reason = "length"  # a server that says so although the reply looks short
        lm("short")
        engine.finish_reason = None
        make_lm(f"openai/fake@{engine.api_base}", phase="test", ledger=ledger, num_retries=0)("whole")
    assert [call.finish_reason for call in ledger.calls] == ["length", "length", "stop"]
    assert [call.truncated for call in ledger.calls] == [True, True, False]
    assert ledger.usage("test").truncated_calls == 2
    assert ledger.usage().as_dict()["truncated_calls"] == 2


def test_child_logs_stay_in_the_cache_folder(child_server, tmp_path):
    child_server.start()
    assert Path(child_server.log_path).parent == tmp_path / "logs"


def test_unknown_local_options_are_named():
    with pytest.raises(LMSetupError, match="bad local_options.*accepted: threads"):
        make_lm("local:qwen2.5-coder-0.5b", phase="test", local_options={"slots": 2})


def test_the_sampling_config_has_one_home():
    from programs.lm import sampling_config

    assert [sampling_config(i, temperature=0.7, seed=5) for i in range(2)] == [
        {"temperature": 0.7, "rollout_id": 0, "seed": 5}, {"temperature": 0.7, "rollout_id": 1, "seed": 6}]


def test_a_password_in_the_api_base_never_reaches_the_ledger():
    ledger = TokenLedger()
    with FakeEngine(lambda m, r: "7") as engine:
        base = engine.api_base.replace("http://", "http://bob:hunter2@")
        lm = make_lm(f"openai/fake@{base}", phase="test", ledger=ledger, num_retries=0, check=False)
        try:
            lm("x")
        except Exception:  # some clients refuse credentials in the URL; the failure is recorded
            pass
    [call] = ledger.calls
    assert "hunter2" not in call.model and "bob:***@" in call.model
    assert "hunter2" not in (call.error or "")


@pytest.mark.parametrize("text, secret", [
    ("failed to connect to bob:hunter2@127.0.0.1:8000", "hunter2"),
    ("openai/m@https://bob:hunter2@example.com/v1", "hunter2"),
    ("http://host/v1?api_key=abc123", "abc123"),
])
def test_redact_removes_credentials_from_error_text(text, secret):
    from programs.redact import redact

    assert secret not in redact(text) and "***" in redact(text)
