"""The learned-context store on PostgreSQL: several `serve` replicas (and benchmark workers) share learned
contexts and their context index, and the lease row makes each learned context once in all.

Needs ``$SLEEPTIME_TEST_POSTGRES_URL`` (``.ci/run`` exports it from ``.ci/postgres.sh``); skips without it.
Each test works in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import threading
import uuid
from urllib.parse import quote

import pytest
import requests

psycopg2 = pytest.importorskip("psycopg2")

from optimize.deploy.auth import Tokens  # noqa: E402
from optimize.deploy.serve import running_service  # noqa: E402
from programs.budget import Budget  # noqa: E402
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply  # noqa: E402
from programs.scheduler import SleepScheduler  # noqa: E402
from programs.session import SleepTimeSession  # noqa: E402
from programs.store import PostgresStore, open_store  # noqa: E402

TOKEN = "replica-test-token-0123456789"


@pytest.fixture
def postgres_url():
    base = os.environ.get("SLEEPTIME_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("set SLEEPTIME_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg2.connect(base) as db, db.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg2.connect(base) as db, db.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA {schema} CASCADE")


def test_first_writer_wins_and_a_second_machine_waits_on_the_lease(postgres_url):
    one, two = open_store(postgres_url), PostgresStore(postgres_url)  # two machines' views of one store
    assert isinstance(one, PostgresStore) and "sleeptime:***@" in repr(one)
    first = one.put("k", "a", prompt_tokens=10, completion_tokens=5, seconds=1.5, model="m", spender="h:1")
    second = two.put("k", "b", prompt_tokens=9, completion_tokens=9, seconds=9, model="m", spender="h:2")
    assert second == first
    assert two.get("k").learned_context == "a" and len(two) == 1
    assert two.spend_summary()["double_spends"] == 1
    entered = threading.Event()

    def second_machine():
        with two.lock("j"):  # waits for one's lease, then finds its result
            entered.set()

    with one.lock("j"):
        waiter = threading.Thread(target=second_machine)
        waiter.start()
        assert not entered.wait(0.6)  # the lease row is held
        one.put("j", "made once", prompt_tokens=1, completion_tokens=1, seconds=0, model="m")
    waiter.join(30)
    assert entered.is_set() and two.get("j").learned_context == "made once"
    assert [s.kept for s in two.spends("j")] == [True]


def test_two_replicas_share_contexts_and_make_each_learned_context_once(postgres_url):
    def reply(messages, request):
        if "[[ ## question ## ]]" in messages[-1]["content"]:
            return chat_adapter_reply(reasoning="3 * 4 = 12", answer="12")
        return chat_adapter_reply(learned_context="- apples = 3 * 4 = 12")

    tokens = Tokens.parse(f"team {TOKEN}")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with FakeEngine(reply, delay_seconds=0.3) as engine:
        spec = f"openai/fake@{engine.api_base}"

        def replica() -> SleepTimeSession:
            return SleepTimeSession(Budget(sleep_model=spec, test_model=spec), store=postgres_url,
                                    scheduler=SleepScheduler(policy="always"), lm_options={"num_retries": 0})

        with replica() as a, replica() as b, running_service(a, tokens=tokens) as url_a, \
                running_service(b, tokens=tokens) as url_b:
            added = requests.post(f"{url_a}/contexts", headers=headers, timeout=30,
                                  json={"id": "shop", "text": "3 boxes of 4 apples."})
            assert added.status_code == 202
            answer = requests.post(f"{url_b}/contexts/shop/questions", headers=headers, timeout=60,
                                   json={"question": "How many apples?", "deadline": 30})
            assert answer.status_code == 200, answer.text
            assert answer.json()["mode"] == "learned_context"
            status = requests.get(f"{url_b}/contexts/shop", headers=headers, timeout=30).json()
            assert status["state"] == "ready"
            # Both replicas given the same new context at once: still one sleep call for it.
            both = [threading.Thread(target=requests.post, args=(f"{url}/contexts",), kwargs={
                "headers": headers, "timeout": 30, "json": {"id": "farm", "text": "2 barns of 5 cows."}})
                for url in (url_a, url_b)]
            [thread.start() for thread in both]
            [thread.join(30) for thread in both]
            assert a.wait(timeout=30) and b.wait(timeout=30)
        prompts = [r["messages"][-1]["content"] for r in engine.requests]
        sleep_calls = [p for p in prompts if "[[ ## question ## ]]" not in p]
    assert len(sleep_calls) == 2  # one per context, across both replicas
    summary = open_store(postgres_url).spend_summary()
    assert (summary["spends"], summary["contexts"], summary["double_spends"]) == (2, 2, 0)
