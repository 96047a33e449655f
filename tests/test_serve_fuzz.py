"""Property-based fuzz of the whole `sleeptime serve` API from its OpenAPI schema (schemathesis), against the
fake engine: whatever a client sends, no 500 and every response matches the schema."""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402

from optimize.deploy.auth import Tokens  # noqa: E402
from optimize.deploy.limits import ServeLimits  # noqa: E402
from optimize.deploy.serve import create_app  # noqa: E402
from programs.budget import Budget  # noqa: E402
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply  # noqa: E402
from programs.scheduler import SleepScheduler  # noqa: E402
from programs.session import SleepTimeSession  # noqa: E402

TOKEN = "fuzz-token-0123456789abcdef"
EXAMPLES = 100  # per operation: about 800 requests in all, about 30 s on 2 cores
SENT: dict[str, int] = {}
RANDOM_ENV = "SLEEPTIME_FUZZ_RANDOM"


def reply(messages, request) -> str:
    if "[[ ## new_facts ## ]]" in messages[-1]["content"]:
        return chat_adapter_reply(changes="- boxes = 5")
    if "[[ ## question ## ]]" in messages[-1]["content"]:
        return chat_adapter_reply(reasoning="3 * 4 = 12", answer="12")
    return chat_adapter_reply(learned_context="- apples = 3 * 4 = 12")


@pytest.fixture(scope="module")
def api():
    # A short max_deadline keeps a fuzzed question that waits for notes from holding the run up.
    limits = ServeLimits.for_context_window(1024, max_deadline=1.0, max_contexts_per_owner=50,
                                            max_pending_sleep=10_000, max_test_tokens=256)
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        with SleepTimeSession(Budget(sleep_model=spec, test_model=spec), lm_options={"num_retries": 0},
                              scheduler=SleepScheduler(policy="always")) as session:
            app = create_app(session, tokens=Tokens.parse(f"fuzzer {TOKEN}"), limits=limits)
            schema = schemathesis.openapi.from_asgi("/openapi.json", app)
            yield schema
    print(f"\nfuzz: {sum(SENT.values())} requests by status {dict(sorted(SENT.items()))}")


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
# CI sends the same requests every run; SLEEPTIME_FUZZ_RANDOM=1 draws new ones (to explore, not to gate).
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not os.environ.get(RANDOM_ENV),
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_500_or_a_response_outside_the_schema(case):
    response = case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})
    SENT[str(response.status_code)] = SENT.get(str(response.status_code), 0) + 1
