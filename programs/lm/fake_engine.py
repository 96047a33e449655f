"""A deterministic OpenAI-compatible HTTP endpoint on loopback, for unit tests only.

It is not a model: a *responder* function decides each reply. It exists so that tests exercise the real
path (``dspy.LM`` -> HTTP -> server-reported usage -> ledger) with honest token counts: prompt and
completion tokens are counted with :func:`count_tokens` on the exact text received and returned.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[list[dict[str, Any]], dict[str, Any]], str]

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Deterministic token count: words and individual punctuation marks."""
    return len(_TOKEN.findall(text))


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def chat_adapter_reply(**fields: Any) -> str:
    """Format a reply the way DSPy's ChatAdapter expects (``[[ ## name ## ]]`` sections)."""
    parts = [f"[[ ## {name} ## ]]\n{value}\n" for name, value in fields.items()]
    return "\n".join(parts) + "\n[[ ## completed ## ]]"


class FakeEngine:
    """Loopback OpenAI-compatible chat endpoint whose replies come from ``responder``.

    Example:
        >>> with FakeEngine(lambda messages, request: "42") as engine:
        ...     import urllib.request, json
        ...     body = json.dumps({"model": "fake", "messages": [{"role": "user", "content": "hi"}]}).encode()
        ...     req = urllib.request.Request(engine.api_base + "/chat/completions", body,
        ...                                  {"Content-Type": "application/json"})
        ...     json.load(urllib.request.urlopen(req))["usage"]["completion_tokens"]
        1
    """

    def __init__(self, responder: Responder, *, delay_seconds: float = 0.0, port: int = 0,
                 model_id: str = "fake", finish_reason: str | None = None) -> None:
        self.responder = responder
        self.model_id = model_id
        # Forced finish reason of every reply (e.g. "length" for a reply the server cut off); None: "stop",
        # or "length" when the reply is longer than the request's max_tokens.
        self.finish_reason = finish_reason
        self.delay_seconds = delay_seconds
        self.requests: list[dict[str, Any]] = []
        self._failures_left = 0
        self._failure_status = 500
        self._lock = threading.Lock()
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": engine.model_id, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                status, payload = engine._complete(request)
                self._send(status, payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` requests with HTTP ``status`` (to test retries and failures)."""
        with self._lock:
            self._failures_left = count
            self._failure_status = status

    def _complete(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            if self._failures_left > 0:
                self._failures_left -= 1
                failure = {"error": {"message": "injected failure", "type": "server_error"}}
                return self._failure_status, failure
        messages = request.get("messages") or []
        text = self.responder(messages, request)
        limit = request.get("max_completion_tokens") or request.get("max_tokens")
        finish = "stop"
        if limit and count_tokens(text) > int(limit):
            text = " ".join(_TOKEN.findall(text)[: int(limit)])
            finish = "length"
        finish = self.finish_reason or finish
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        prompt_tokens = sum(count_tokens(_message_text(m)) for m in messages)
        completion_tokens = count_tokens(text)
        return 200, {
            "id": f"fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    def start(self) -> FakeEngine:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve the fake engine in a process of its own (a stand-in for the model server in tests):
    ``python -m programs.lm.fake_engine --port 8123 --alias fake [--delay 1.5]``; every reply is "42"."""
    import argparse

    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server for tests (replies 42).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--alias", default="fake")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each reply")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process dies")
    args, _ = parser.parse_known_args(argv)
    if args.parent_pid is not None:
        from programs.lm._serve import _die_with_parent

        _die_with_parent(args.parent_pid)
    engine = FakeEngine(lambda messages, request: chat_adapter_reply(answer="42"), delay_seconds=args.delay,
                        port=args.port, model_id=args.alias)
    print(f"[fake] serving on {engine.api_base}", flush=True)
    engine._server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
