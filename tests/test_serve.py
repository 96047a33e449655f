"""`sleeptime serve` on loopback with the fake engine: add, ask, status, costs, errors, restart."""

from __future__ import annotations

import argparse

import pytest
import requests

from optimize.cli.serve import add_arguments, build_session
from optimize.deploy.serve import running_service
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.session import SleepTimeSession


def reply(messages, request) -> str:
    text = messages[-1]["content"]
    if "[[ ## question ## ]]" in text:
        return chat_adapter_reply(reasoning="3 * 4 = 12", answer="12")
    return chat_adapter_reply(learned_context="- apples = 3 * 4 = 12")


@pytest.fixture
def spec():
    with FakeEngine(reply) as engine:
        yield f"openai/fake@{engine.api_base}"


def session_on(spec: str, store=None) -> SleepTimeSession:
    return SleepTimeSession(Budget(sleep_model=spec, test_model=spec), store=store,
                            lm_options={"num_retries": 0})


def test_add_ask_status_and_costs_over_http(spec):
    with session_on(spec) as session, running_service(session) as url:
        assert url.startswith("http://127.0.0.1:")
        added = requests.post(f"{url}/contexts", json={"id": "shop", "text": "3 boxes of 4 apples.",
                                                       "expected_questions": 5}, timeout=30)
        assert added.status_code == 202 and added.json()["id"] == "shop"
        answer = requests.post(f"{url}/contexts/shop/questions", json={"question": "How many apples?"},
                               timeout=30).json()
        assert answer["answer"] == "12" and answer["mode"] == "learned_context"
        assert answer["test_usage"]["completion_tokens"] > 0
        status = requests.get(f"{url}/contexts/shop", timeout=30).json()
        assert status["state"] == "ready" and status["learned_context"] == "- apples = 3 * 4 = 12"
        assert status["test_cost"]["questions"] == 1
        patched = requests.patch(f"{url}/contexts/shop", json={"text": "Two more boxes."}, timeout=30)
        assert patched.status_code == 200
        costs = requests.get(f"{url}/costs", timeout=30).json()
        assert costs["sleep"]["calls"] >= 1 and costs["test"]["calls"] == 1
        docs = requests.get(f"{url}/openapi.json", timeout=30).json()
        assert {"/contexts", "/contexts/{context_id}", "/contexts/{context_id}/questions",
                "/costs"} <= set(docs["paths"])
        assert requests.get(f"{url}/docs", timeout=30).status_code == 200


def test_errors_are_status_codes_with_the_fix(spec):
    with session_on(spec) as session, running_service(session) as url:
        missing = requests.get(f"{url}/contexts/nope", timeout=30)
        assert missing.status_code == 404 and "POST /contexts" in missing.json()["detail"]
        requests.post(f"{url}/contexts", json={"id": "shop", "text": "3 boxes of 4 apples."}, timeout=30)
        bad = requests.post(f"{url}/contexts/shop/questions", json={"question": "?", "policy": "maybe"},
                            timeout=30)
        assert bad.status_code == 422 and "policy" in bad.json()["detail"]
        unknown = requests.post(f"{url}/contexts/shop/questions",
                                json={"question": "How many?", "budget": {"verbosity": 2}}, timeout=30)
        assert unknown.status_code == 422 and "budget.verbosity" in unknown.json()["detail"]
        assert "budget.test_verbosity" in unknown.json()["allowed_fields"]
        clash = requests.post(f"{url}/contexts", json={"id": "shop", "text": "other"}, timeout=30)
        assert clash.status_code == 409 and "update_context" in clash.json()["detail"]
        chosen = requests.post(f"{url}/contexts/shop/questions", timeout=30, json={
            "question": "How many?", "budget": {"test_verbosity": 2, "test_max_tokens": 200}})
        assert chosen.status_code == 200, chosen.text
        over_cap = requests.post(f"{url}/contexts/shop/questions", timeout=30, json={
            "question": "How many?", "budget": {"test_max_tokens": 100_000}})
        assert over_cap.status_code == 422 and "test_max_tokens" in over_cap.json()["detail"]


def test_a_restarted_server_on_the_same_store_keeps_learned_contexts(spec, tmp_path):
    store = tmp_path / "store.sqlite"
    with session_on(spec, store) as session, running_service(session) as url:
        requests.post(f"{url}/contexts", json={"id": "shop", "text": "3 boxes of 4 apples.",
                                               "expected_questions": 5}, timeout=30)
        assert session.wait(timeout=30)
        before = requests.get(f"{url}/contexts/shop", timeout=30).json()
    with session_on(spec, store) as session, running_service(session) as url:
        after = requests.get(f"{url}/contexts/shop", timeout=30).json()
        answer = requests.post(f"{url}/contexts/shop/questions", json={"question": "How many apples?",
                                                                      "policy": "test-only"}, timeout=30)
    assert after["state"] == "ready" and after["learned_context"] == before["learned_context"]
    assert answer.json()["mode"] == "learned_context"
    assert after["learned_context_key"] == answer.json()["learned_context_key"]


def test_command_line_builds_the_session_it_describes(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", "openai/m@http://127.0.0.1:9/v1", "--store", str(tmp_path / "s.db"),
                              "--budget", '{"test_verbosity": 1}', "--scheduler", "never", "-N", "4",
                              "--prefill", "--probes", "2"])
    assert args.host == "127.0.0.1"
    with build_session(args) as session:
        assert session.budget.test_verbosity == 1 and session.budget.test_model.startswith("openai/m@")
        assert session.scheduler.policy == "never" and session.scheduler.default_questions == 4
        assert session.store.path == tmp_path / "s.db" and session.prefill and session.probes == 2
