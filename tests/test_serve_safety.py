"""`sleeptime serve` exposed to clients it does not trust: requests cannot choose models or endpoints, every
route needs a token beyond loopback, contexts belong to their token, and every size and queue is bounded."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from optimize.cli.serve import serve_command
from optimize.deploy.auth import TOKENS_ENV, TokenError, Tokens
from optimize.deploy.limits import ServeLimits
from optimize.deploy.serve import running_service
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.scheduler import SleepScheduler
from programs.session import SleepTimeSession

ALICE, BOB = "alice-token-0123456789abcdef", "bob-token-fedcba9876543210"
TOKENS = Tokens.parse(f"alice {ALICE}\nbob {BOB}")


class Engine:
    """The fake engine, counting sleep calls, whose sleep calls can be held back until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        self.engine = FakeEngine(self.reply)

    def reply(self, messages, request) -> str:
        if "[[ ## question ## ]]" in messages[-1]["content"]:
            return chat_adapter_reply(reasoning="3 * 4 = 12", answer="12")
        self.release.wait(30)
        return chat_adapter_reply(learned_context="- apples = 3 * 4 = 12")

    @property
    def sleep_calls(self) -> int:
        return sum("[[ ## question ## ]]" not in r["messages"][-1]["content"] for r in self.engine.requests)

    def session(self, **kwargs) -> SleepTimeSession:
        spec = f"openai/fake@{self.engine.api_base}"
        kwargs.setdefault("scheduler", SleepScheduler(policy="always"))
        return SleepTimeSession(Budget(sleep_model=spec, test_model=spec), lm_options={"num_retries": 0},
                                **kwargs)


@pytest.fixture
def engine():
    running = Engine()
    with running.engine:
        yield running
        running.release.set()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_request_cannot_send_the_servers_lm_calls_and_key_to_another_endpoint(engine, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-servers-own-key")
    with FakeEngine(lambda messages, request: chat_adapter_reply(answer="stolen")) as attacker:
        with engine.session() as session, running_service(session) as url:
            requests.post(f"{url}/contexts", json={"id": "shop", "text": "3 boxes of 4 apples."}, timeout=30)
            answer = requests.post(f"{url}/contexts/shop/questions", timeout=30, json={
                "question": "How many apples?", "policy": "test-only",
                "budget": {"test_model": f"openai/x@{attacker.api_base}"}})
        assert attacker.requests == []  # neither the context, the question nor the key left the server
    assert answer.status_code == 422
    body = answer.json()
    assert "budget.test_model" in body["detail"] and "server's configuration" in body["detail"]
    assert body["allowed_fields"] == ["question", "policy", "deadline", "budget.test_verbosity",
                                      "budget.test_max_tokens"]


def test_a_request_cannot_start_a_local_model_or_change_sleep_settings(engine, monkeypatch):
    started = []

    def get_local_server(name, **options):
        started.append(name)
        raise RuntimeError("a test must not start a local model")

    monkeypatch.setattr("programs.lm.server.get_local_server", get_local_server)
    with engine.session() as session, running_service(session) as url:
        requests.post(f"{url}/contexts", json={"id": "shop", "text": "3 boxes of 4 apples."}, timeout=30)
        refused = [requests.post(f"{url}/contexts/shop/questions", timeout=30, json={
            "question": "How many apples?", "policy": "test-only", "budget": budget})
            for budget in ({"test_model": "local:qwen2.5-coder-1.5b"},
                           {"sleep_model": "local:qwen2.5-coder-1.5b"}, {"sleep_samples": 10},
                           {"compiled": "/etc"})]
        extra = requests.post(f"{url}/contexts", timeout=30, json={
            "id": "farm", "text": "2 cows.", "sleep_model": "local:qwen2.5-coder-1.5b"})
    assert started == []
    assert [r.status_code for r in refused] == [422] * 4 and extra.status_code == 422
    assert "sleep_model" in extra.json()["detail"] and "id, text" in extra.json()["detail"]


def test_bodies_contexts_and_questions_over_the_limits_are_refused_before_any_work(engine):
    limits = ServeLimits.for_context_window(4096)  # the default
    with engine.session() as session, running_service(session) as url:
        huge = requests.post(f"{url}/contexts", timeout=60,
                             json={"id": "big", "text": "Ann has 3 apples. " * 1_200_000})  # 20 MB
        assert huge.status_code == 413 and "--max-body-bytes" in huge.json()["detail"]
        long_text = requests.post(f"{url}/contexts", timeout=30,
                                  json={"id": "long", "text": "x" * (limits.max_context_chars + 1)})
        assert long_text.status_code == 422 and "text" in long_text.json()["detail"]
        assert session.index.ids() == [] and engine.engine.requests == []
        requests.post(f"{url}/contexts", json={"id": "shop", "text": "3 boxes of 4 apples."}, timeout=30)
        long_question = requests.post(f"{url}/contexts/shop/questions", timeout=30,
                                      json={"question": "?" * (limits.max_question_chars + 1)})
        assert long_question.status_code == 422 and "question" in long_question.json()["detail"]
        grown = requests.patch(f"{url}/contexts/shop", timeout=30,
                               json={"text": "y" * (limits.max_context_chars - 5)})
        assert grown.status_code == 409 and "over the limit" in grown.json()["detail"]


def test_beyond_loopback_the_server_needs_tokens(engine, monkeypatch, capsys):
    import argparse

    from optimize.cli.serve import add_arguments

    monkeypatch.delenv(TOKENS_ENV, raising=False)
    with engine.session() as session:
        with pytest.raises(ValueError, match="--token-file"):
            with running_service(session, host="0.0.0.0"):
                pass
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(ValueError, match="refusing to listen on 0.0.0.0"):
        serve_command(parser.parse_args(["--host", "0.0.0.0", "--port", "0",
                                         "--model", f"openai/fake@{engine.engine.api_base}"]))
    with pytest.raises(TokenError, match="at least 16"):
        Tokens.parse("short")


def test_contexts_belong_to_the_token_that_made_them(engine):
    with engine.session() as session, running_service(session, tokens=TOKENS) as url:
        assert requests.get(f"{url}/costs", timeout=30).status_code == 401
        wrong = requests.get(f"{url}/costs", headers=auth("not-a-token-0123456789"), timeout=30)
        assert wrong.status_code == 401 and "not-a-token" not in wrong.text
        assert wrong.headers["WWW-Authenticate"] == "Bearer"
        added = requests.post(f"{url}/contexts", headers=auth(ALICE), timeout=30,
                              json={"id": "shop", "text": "3 boxes of 4 apples."})
        assert added.status_code == 202 and added.json()["id"] == "shop"
        assert session.wait(timeout=30)
        for method, path, body in (("get", "/contexts/shop", None),
                                   ("patch", "/contexts/shop", {"text": "x"}),
                                   ("post", "/contexts/shop/questions", {"question": "How many?"})):
            assert requests.request(method, url + path, json=body, headers=auth(BOB),
                                    timeout=30).status_code == 404
        assert requests.get(f"{url}/costs", headers=auth(BOB), timeout=30).json()["contexts"] == {}
        mine = requests.get(f"{url}/costs", headers=auth(ALICE), timeout=30).json()
        assert mine["contexts"] == {"ready": 1} and mine["sleep"]["contexts"] == 1
        own = requests.post(f"{url}/contexts", headers=auth(BOB), timeout=30,
                            json={"id": "shop", "text": "Bob's own shop: 2 crates."})
        assert own.status_code == 202  # the same id in another token's namespace
        answer = requests.post(f"{url}/contexts/shop/questions", headers=auth(ALICE), timeout=30,
                               json={"question": "How many apples?"})
        assert answer.status_code == 200 and answer.json()["mode"] == "learned_context"
        for bad_id in ("../../etc/passwd", "a/b", "", "x" * 129, " shop"):
            response = requests.post(f"{url}/contexts", headers=auth(ALICE), timeout=30,
                                     json={"id": bad_id, "text": "facts"})
            assert response.status_code == 422 and "id" in response.json()["detail"], bad_id
        escaped = requests.get(f"{url}/contexts/..%2F..%2Fetc%2Fpasswd", headers=auth(ALICE), timeout=30)
        assert escaped.status_code in (404, 422)
        clash = requests.post(f"{url}/contexts", headers=auth(ALICE), timeout=30,
                              json={"id": "shop", "text": "other facts"})
        assert clash.status_code == 409 and "'shop'" in clash.json()["detail"]
        assert "alice" not in clash.text  # the stored key is never shown
        assert sorted(session.index.ids()) == ["alice/shop", "bob/shop"]


def test_deadline_must_be_between_zero_and_the_servers_maximum(engine):
    with engine.session() as session, running_service(session) as url:
        requests.post(f"{url}/contexts", json={"id": "shop", "text": "3 boxes of 4 apples."}, timeout=30)
        for deadline in (-1, -0.001, 10_000):
            refused = requests.post(f"{url}/contexts/shop/questions", timeout=30,
                                    json={"question": "How many apples?", "deadline": deadline})
            assert refused.status_code == 422 and "deadline" in refused.json()["detail"], deadline
        nan = requests.post(f"{url}/contexts/shop/questions", timeout=30, headers={
            "content-type": "application/json"}, data='{"question": "How many?", "deadline": NaN}')
        assert nan.status_code == 422
        assert requests.post(f"{url}/contexts/shop/questions", timeout=30,
                             json={"question": "How many apples?", "deadline": 0}).status_code == 200


def test_full_queues_answer_429_or_503_with_retry_after(engine):
    engine.release.clear()
    limits = ServeLimits.for_context_window(4096, max_contexts_per_owner=3, max_pending_sleep=1,
                                            max_questions=1)
    with engine.session(max_pending_sleep=limits.max_pending_sleep) as session, \
            running_service(session, tokens=TOKENS, limits=limits) as url:
        def add(context_id: str, token: str = ALICE):
            return requests.post(f"{url}/contexts", headers=auth(token), timeout=30,
                                 json={"id": context_id, "text": f"{context_id}: 3 boxes of 4 apples."})

        assert add("a").status_code == 202
        deadline = time.monotonic() + 30
        while session.status("alice/a")["state"] != "sleeping" and time.monotonic() < deadline:
            time.sleep(0.01)  # the only worker holds "a": the queue is empty again
        assert add("b").status_code == 202
        full = add("c")
        assert full.status_code == 503 and full.headers["Retry-After"] == "5"
        assert "queued" in full.json()["detail"]

        def wait_for_notes() -> None:  # holds the only question slot while "a" sleeps
            while requests.post(f"{url}/contexts/a/questions", headers=auth(ALICE), timeout=60,
                                json={"question": "How many?", "deadline": 30}).status_code == 503:
                time.sleep(0.01)

        waiting = threading.Thread(target=wait_for_notes)
        waiting.start()
        while time.monotonic() < deadline:
            busy = requests.post(f"{url}/contexts/a/questions", headers=auth(ALICE), timeout=30,
                                 json={"question": "How many?", "policy": "test-only"})
            if busy.status_code == 503:
                break
            time.sleep(0.05)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
        engine.release.set()
        waiting.join(60)
        assert session.wait(timeout=30)
        assert add("c").status_code == 202
        quota = add("d")
        assert quota.status_code == 429 and "per token" in quota.json()["detail"]
        assert add("d", BOB).status_code == 202  # another token has its own quota
