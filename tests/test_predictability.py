"""Predictability: forced decoding against a stub llama.cpp server, and the overlap proxy on our data."""

from __future__ import annotations

import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from programs.lm.fake_engine import FakeEngine
from programs.lm.ledger import TokenLedger
from programs.predictability import forced_logprob, overlap_predictability, predictability

WORD = re.compile(r"\w+|[^\w\s]")


class StubLlamaCpp:
    """/tokenize (one id per word) and /completion (n_probs over the words seen so far), like llama.cpp.

    Its 'model' expects a word it has already read: each seen word gets log-probability -1, plus one
    unseen filler word at -5, so a question made of context words is likelier than one with new words.
    """

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.completions: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/tokenize":
                    reply = {"tokens": [stub.token(w) for w in WORD.findall(body["content"])]}
                elif self.path == "/completion":
                    stub.completions.append(body)
                    seen = list(dict.fromkeys(body["prompt"]))[: body["n_probs"] - 1]
                    top = [{"id": i, "logprob": -1.0} for i in seen] + [{"id": -1, "logprob": -5.0}]
                    size = len(body["prompt"])
                    reply = {"completion_probabilities": [{"top_logprobs": top}], "tokens_evaluated": size,
                             "timings": {"cache_n": size - 1}}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def token(self, word: str) -> int:
        return self.vocab.setdefault(word.lower(), len(self.vocab))

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> StubLlamaCpp:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


CONTEXT = "Ann has 3 bags with 4 apples each."


def test_forced_decoding_reads_the_question_tokens_probabilities():
    ledger = TokenLedger()
    with StubLlamaCpp() as stub:
        seen = forced_logprob(CONTEXT, "Ann has apples", stub.api_base, ledger=ledger, top=50)
        novel = forced_logprob(CONTEXT, "Bob wants pears", stub.api_base, ledger=ledger, top=50)
        calls = list(stub.completions)
    assert (seen.tokens, seen.missed, seen.total) == (3, 0, -3.0)
    assert seen.predictability == pytest.approx(math.exp(-1.0))
    assert novel.missed == 3 and novel.predictability == pytest.approx(math.exp(-5.0))
    # one request per question token, each one token longer: the server's prefix cache serves the rest
    first = len(calls[0]["prompt"])
    assert [len(c["prompt"]) for c in calls[1:3]] == [first + 1, first + 2]
    assert all(c["n_predict"] == 1 and c["cache_prompt"] for c in calls)
    usage = ledger.usage("sleep")
    assert usage.calls == 6 and usage.completion_tokens == 6 and usage.prompt_tokens > 0


def test_predictability_picks_the_method_and_fails_clearly_without_llama_cpp():
    with StubLlamaCpp() as stub:
        assert predictability(CONTEXT, "Ann has apples", stub.api_base) == pytest.approx(math.exp(-1.0))
    assert predictability(CONTEXT, "How many apples does Ann have?") == 1.0
    with FakeEngine(lambda messages, request: "ok") as engine:
        with pytest.raises(ValueError, match="overlap"):
            predictability(CONTEXT, "How many apples?", engine.api_base)
    with pytest.raises(ValueError, match="method"):
        predictability(CONTEXT, "How many apples?", method="guess")
    with pytest.raises(ValueError, match="lm="):
        predictability(CONTEXT, "How many apples?", method="forced")


def test_overlap_ranks_our_labelled_questions_like_the_labels():
    data = Path(__file__).resolve().parents[1] / "data" / "stateful_gsm.jsonl"
    rows = [json.loads(line) for line in data.open(encoding="utf-8")][:40]
    by_label: dict[str, list[float]] = {}
    for row in rows:
        for q in row["questions"]:
            by_label.setdefault(q["predictability"], []).append(overlap_predictability(row["context"],
                                                                                       q["question"]))
    mean = {label: sum(v) / len(v) for label, v in by_label.items()}
    assert mean["high"] > mean["low"] and mean["medium"] > mean["low"]
    assert all(0.0 <= value <= 1.0 for values in by_label.values() for value in values)
