import threading

import dspy
import pytest

from programs.lm import LMSetupError, TokenLedger, make_lm, parse_model_spec
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply, count_tokens


def test_parse_specs():
    assert str(parse_model_spec("local:qwen2.5-coder-0.5b")) == "local:qwen2.5-coder-0.5b"
    spec = parse_model_spec("openai/gpt-4o-mini")
    assert (spec.kind, spec.name, spec.api_base) == ("openai", "gpt-4o-mini", None)
    spec = parse_model_spec("openai/qwen", api_base="http://127.0.0.1:8000/v1/")
    assert (spec.kind, spec.api_base) == ("compatible", "http://127.0.0.1:8000/v1")
    assert parse_model_spec("openai/q@http://h:1/v1").api_base == "http://h:1/v1"


@pytest.mark.parametrize("bad", ["gpt-4o", "openai/", "local:llama-70b", "", "nonsense", "/model",
                                 "Open AI/x", "openai/two words"])
def test_unknown_specs_list_the_accepted_forms(bad):
    with pytest.raises(LMSetupError, match="local:qwen2.5-coder-0.5b"):
        parse_model_spec(bad)


def test_api_base_must_be_http():
    with pytest.raises(LMSetupError, match="not an http"):
        parse_model_spec("openai/q@localhost:8000")


def test_missing_openai_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LMSetupError, match="export OPENAI_API_KEY"):
        make_lm("openai/gpt-4o-mini", phase="test")


def test_openai_key_is_read_from_the_environment_and_never_in_the_label(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    lm = make_lm("openai/gpt-4o-mini", phase="sleep")
    assert lm.kwargs["api_key"] == "sk-secret-123"
    assert "sk-secret" not in lm.label and lm.phase == "sleep"


def test_unreachable_api_base_names_the_url():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(LMSetupError, match=f"127.0.0.1:{port}/v1"):
        make_lm(f"openai/x@http://127.0.0.1:{port}/v1", phase="test")


def test_unknown_phase():
    with pytest.raises(LMSetupError, match="unknown phase"):
        make_lm("openai/x@http://127.0.0.1:1/v1", phase="dream", check=False)


def test_cache_is_off_so_repeated_calls_are_measured(fake_engine):
    ledger = TokenLedger()
    lm = make_lm(f"openai/fake@{fake_engine.api_base}", phase="test", ledger=ledger, num_retries=0)
    lm("same prompt")
    lm("same prompt")
    assert len(fake_engine.requests) == 2
    assert [c.completion_tokens for c in ledger.calls] == [count_tokens(chat_adapter_reply(answer="42"))] * 2


def test_tokens_are_the_servers_counts_through_dspy(fake_engine):
    ledger = TokenLedger()
    lm = make_lm(f"openai/fake@{fake_engine.api_base}", phase="sleep", ledger=ledger, num_retries=0)
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
        prediction = dspy.Predict("question -> answer")(question="What is six times seven?")
    assert prediction.answer == "42"
    [call] = ledger.calls
    sent = fake_engine.requests[0]["messages"]
    assert call.prompt_tokens == sum(count_tokens(m["content"]) for m in sent)
    assert call.completion_tokens == count_tokens(chat_adapter_reply(answer="42"))
    assert call.phase == "sleep" and call.ok


def test_max_tokens_reaches_the_server(fake_engine):
    lm = make_lm(f"openai/fake@{fake_engine.api_base}", phase="test", max_tokens=7, num_retries=0)
    lm("hi")
    request = fake_engine.requests[-1]
    assert 7 in (request.get("max_tokens"), request.get("max_completion_tokens"))


def test_calls_from_worker_threads_are_all_recorded(fake_engine):
    ledger = TokenLedger()
    lm = make_lm(f"openai/fake@{fake_engine.api_base}", phase="test", ledger=ledger, num_retries=0)
    per_thread = {}

    def worker(i):
        with ledger.scope() as scope:
            lm(f"question number {i}")
        per_thread[i] = scope.usage()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.usage().calls == 6
    assert all(u.calls == 1 and u.prompt_tokens == 3 for u in per_thread.values())


def test_outer_dspy_usage_tracker_still_sees_usage(fake_engine):
    lm = make_lm(f"openai/fake@{fake_engine.api_base}", phase="test", num_retries=0)
    with dspy.context(lm=lm, track_usage=True, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
        prediction = dspy.Predict("question -> answer")(question="q")
    usage = prediction.get_lm_usage()
    expected = count_tokens(chat_adapter_reply(answer="42"))
    assert sum(u["completion_tokens"] for u in usage.values()) == expected


def test_failed_call_is_recorded_not_dropped(fake_engine):
    ledger = TokenLedger()
    lm = make_lm(f"openai/fake@{fake_engine.api_base}", phase="test", ledger=ledger, num_retries=1)
    fake_engine.fail_next(5)
    with pytest.raises(Exception, match="injected failure"):
        lm("will fail")
    [call] = ledger.calls
    assert not call.ok and "injected failure" in call.error
    assert len(fake_engine.requests) == 2  # the first try and one retry


def test_transient_failure_is_retried_and_succeeds(fake_engine):
    ledger = TokenLedger()
    lm = make_lm(f"openai/fake@{fake_engine.api_base}", phase="test", ledger=ledger, num_retries=2)
    fake_engine.fail_next(1)
    assert lm("hello")
    assert ledger.calls[-1].ok and ledger.calls[-1].completion_tokens > 0


def test_fake_engine_truncates_at_max_tokens():
    with FakeEngine(lambda m, r: "one two three four five") as engine:
        lm = make_lm(f"openai/fake@{engine.api_base}", phase="test", max_tokens=2, num_retries=0)
        ledger = lm.ledger
        before = len(ledger.calls)
        lm("x")
        assert ledger.calls[before].completion_tokens == 2
