import threading

import pytest

from programs.lm.ledger import LMCall, TokenLedger, summarize


def call(phase="test", prompt=10, completion=5, ok=True):
    return LMCall("m", phase, prompt, completion, 0.5, ok=ok)


def test_usage_sums_by_phase():
    ledger = TokenLedger()
    ledger.record(call("sleep", 100, 50))
    ledger.record(call("test", 10, 5))
    ledger.record(call("test", 20, 7, ok=False))
    assert ledger.usage("sleep").total_tokens == 150
    test = ledger.usage("test")
    assert (test.calls, test.failed_calls, test.prompt_tokens, test.completion_tokens) == (2, 1, 30, 12)
    assert ledger.usage().total_tokens == 192


def test_unknown_phase_is_refused():
    with pytest.raises(ValueError, match="unknown phase 'train'"):
        TokenLedger().record(call("train"))


def test_scopes_collect_only_their_own_threads_calls():
    ledger = TokenLedger()
    seen = {}
    barrier = threading.Barrier(4)

    def worker(i):
        with ledger.scope() as scope:
            barrier.wait()  # all four scopes are open at the same time
            for _ in range(i + 1):
                ledger.record(call("test", prompt=i, completion=1))
        seen[i] = scope.usage("test")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, usage in seen.items():
        assert usage.calls == i + 1
        assert usage.prompt_tokens == i * (i + 1)
    assert ledger.usage().calls == 1 + 2 + 3 + 4


def test_nested_scopes_both_see_inner_calls():
    ledger = TokenLedger()
    with ledger.scope() as outer:
        ledger.record(call())
        with ledger.scope() as inner:
            ledger.record(call(prompt=3))
    assert len(outer.calls) == 2 and len(inner.calls) == 1
    assert summarize(outer.calls).prompt_tokens == 13


def test_truncated_calls_are_counted_per_phase():
    ledger = TokenLedger()
    ledger.record(LMCall("m", "test", 5, 8, 0.1, finish_reason="length"))
    ledger.record(LMCall("m", "test", 5, 3, 0.1, finish_reason="stop"))
    ledger.record(LMCall("m", "sleep", 5, 3, 0.1))
    assert [c.truncated for c in ledger.calls] == [True, False, False]
    assert ledger.usage("test").truncated_calls == 1 and ledger.usage("sleep").truncated_calls == 0
