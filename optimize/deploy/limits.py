"""What one `sleeptime serve` accepts: sizes, counts and queue bounds, and the middleware that caps bodies.

Defaults are sized to the answering model's context window (``context_window`` tokens; 4096 is the local
server's slot): a context may take about half of it at ~4 characters a token (the rest is instructions,
notes and the answer), a question an eighth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

from starlette.exceptions import HTTPException

DEFAULT_CONTEXT_WINDOW = 4096
CHARS_PER_TOKEN = 4
# A JSON string may spell one character as a 12-byte surrogate pair (\ud83d\ude00): a body holding the
# longest context allowed is at most this many bytes per character, plus the other fields.
JSON_BYTES_PER_CHAR = 12
BODY_SLACK_BYTES = 16_384


@dataclass(frozen=True)
class ServeLimits:
    """The limits of one server; every request beyond them gets a 413, 422, 429 or 503 saying which.

    Example:
        >>> limits = ServeLimits.for_context_window(4096)
        >>> limits.max_context_chars, limits.max_question_chars, limits.max_body_bytes
        (8192, 2048, 114688)
    """

    max_context_chars: int = 8192
    max_question_chars: int = 2048
    max_body_bytes: int = 114_688
    max_contexts_per_owner: int = 1000
    max_pending_sleep: int = 256
    max_questions: int = 32  # answering or waiting at once, over all clients
    max_deadline: float = 300.0
    max_test_tokens: int = 1024  # the most a request may ask an answer to generate
    max_connections: int = 256  # uvicorn's backstop: beyond it, a plain 503 before any route runs
    retry_after_seconds: int = 5

    @classmethod
    def for_context_window(cls, context_window: int = DEFAULT_CONTEXT_WINDOW, **overrides) -> ServeLimits:
        """Limits for a model reading ``context_window`` tokens; ``overrides`` (None skipped) replace them."""
        if context_window < 256:
            raise ValueError(f"context_window={context_window} is too small for a prompt; pass the model's "
                             "context length in tokens (e.g. 4096)")
        context_chars = context_window * CHARS_PER_TOKEN // 2
        question_chars = context_window * CHARS_PER_TOKEN // 8
        values = {"max_context_chars": context_chars, "max_question_chars": question_chars}
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "max_body_bytes" not in values or values["max_body_bytes"] is None:
            longest = max(values["max_context_chars"], values["max_question_chars"])
            values["max_body_bytes"] = longest * JSON_BYTES_PER_CHAR + BODY_SLACK_BYTES
        limits = cls(**values)
        for field in fields(limits):
            if getattr(limits, field.name) <= 0:
                raise ValueError(f"{field.name}={getattr(limits, field.name)} must be > 0")
        return limits

    def as_dict(self) -> dict:
        return {field.name: getattr(self, field.name) for field in fields(self)}


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets a 413 before any of it is parsed.

    A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted as it
    arrives, so no more than ``max_bytes`` of it is ever held.

    Example:
        >>> from starlette.applications import Starlette
        >>> from starlette.testclient import TestClient
        >>> client = TestClient(BodyLimit(Starlette(), max_bytes=10))
        >>> client.post("/", content=b"x" * 11).status_code
        413
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = (f"the request body is over the server's limit of {self.max_bytes} bytes; send a "
                     "shorter context (add it in parts with PATCH /contexts/{id}) or raise --max-body-bytes")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(send, 400, "Content-Length must be a whole number of bytes")
                return
            if int(declared) > self.max_bytes:
                await self._refuse(send, 413, too_large)
                return
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # the app's exception handling answers 413 with this
                    raise HTTPException(status_code=413, detail=too_large)
            return message

        await self.app(scope, counted_receive, send)
