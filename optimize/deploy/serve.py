"""`sleeptime serve`: a SleepTimeSession behind a small HTTP API (FastAPI + uvicorn, loopback by default).

Routes: ``POST /contexts`` (add), ``PATCH /contexts/{id}`` (add facts), ``POST /contexts/{id}/questions``
(ask), ``GET /contexts/{id}`` (status and costs), ``GET /costs``; OpenAPI docs at ``/docs``. Learned
contexts live in the store (``--store``), so a restarted server still has every finished one.
"""
# No ``from __future__ import annotations`` here: FastAPI must see the request models of create_app as
# classes, not as names it cannot resolve from module globals.

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8421


# At least one character that is not white space (Python's str.isspace counts \x1c-\x1f as space too).
NOT_BLANK = r"[^\s\x1c-\x1f]"
MIN_TEST_TOKENS = 64  # fewer hardly hold an answer's field markers and a short reasoning
CONTEXT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
CONTEXT_ID_RULE = ("1 to 128 characters: letters, digits, '.', '_' and '-', starting with a letter or digit "
                   f"(pattern {CONTEXT_ID_PATTERN})")


class OwnedContexts:
    """One owner's view of a session: its own contexts, under its own ids, and nothing of anyone else's.

    Contexts are kept in the session as ``<owner>/<id>``; ids cannot hold ``/``, so no id of one owner
    names a context of another. ``owner=None`` (a loopback server without tokens) is the whole session,
    ids unchanged.

    Example:
        >>> from programs.budget import Budget
        >>> from programs.session import SleepTimeSession
        >>> from programs.scheduler import SleepScheduler
        >>> spec = "openai/m@http://127.0.0.1:9/v1"
        >>> with SleepTimeSession(Budget(sleep_model=spec, test_model=spec),
        ...                       scheduler=SleepScheduler(policy="never")) as session:
        ...     alice, bob = OwnedContexts(session, "alice"), OwnedContexts(session, "bob")
        ...     _ = alice.add("shop", "3 boxes of 4 apples.")
        ...     alice.ids(), bob.ids(), session.index.ids()
        (['shop'], [], ['alice/shop'])
    """

    def __init__(self, session, owner: str | None) -> None:
        self.session, self.owner = session, owner
        self._prefix = f"{owner}/" if owner is not None else ""

    def _key(self, context_id: str) -> str:
        return self._prefix + context_id

    def _mine(self, key: str) -> bool:
        return key.startswith(self._prefix) if self.owner is not None else "/" not in key

    def ids(self) -> list[str]:
        return [key[len(self._prefix):] for key in self.session.index.ids() if self._mine(key)]

    def _public(self, status: dict, context_id: str) -> dict:
        return {**status, "id": context_id}

    def _call(self, context_id: str, method, *args, **kwargs):
        from programs.session import UnknownContextError

        key = self._key(context_id)
        try:
            return method(key, *args, **kwargs)
        except UnknownContextError as exc:  # messages name the caller's id, never the stored one
            raise UnknownContextError(f"unknown context id {context_id!r}; add it first with POST "
                                      "/contexts") from exc
        except (ValueError, TimeoutError) as exc:
            raise type(exc)(str(exc).replace(repr(key), repr(context_id))) from exc

    def add(self, context_id: str, text: str, **plan) -> dict:
        return self._public(self._call(context_id, self.session.add_context, text, **plan), context_id)

    def update(self, context_id: str, text: str) -> dict:
        return self._public(self._call(context_id, self.session.update_context, text), context_id)

    def status(self, context_id: str) -> dict:
        return self._public(self._call(context_id, self.session.status), context_id)

    def exists(self, context_id: str) -> bool:
        return self.session.index.get(self._key(context_id)) is not None

    def ask(self, context_id: str, question: str, budget, **options):
        return self._call(context_id, self.session.ask, question, budget, **options)

    def costs(self) -> dict:
        """The session's ledger without an owner; else the sums over this owner's contexts only."""
        if self.owner is None:
            return self.session.costs()
        sleep = {"contexts": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}
        test = {"questions": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}
        states: dict[str, int] = {}
        for context_id in self.ids():
            status = self.session.status(self._key(context_id))
            states[status["state"]] = states.get(status["state"], 0) + 1
            if status["sleep_cost"]:
                sleep["contexts"] += 1
                for name, value in status["sleep_cost"].items():
                    sleep[name] += value
            for name, value in status["test_cost"].items():
                test[name] += value
        return {"sleep": sleep, "test": test, "contexts": states}


class _Slots:
    """A non-blocking counter of questions in progress: full means answer 503 now, not queue."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.in_use, self._lock = capacity, 0, threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.in_use >= self.capacity:
                return False
            self.in_use += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.in_use -= 1


def create_app(session, *, tokens=None, limits=None) -> Any:
    """The FastAPI app serving ``session`` (a :class:`programs.session.SleepTimeSession`).

    ``tokens`` (:class:`optimize.deploy.auth.Tokens`): when given, every route but the docs needs
    ``Authorization: Bearer <token>`` and each token sees only its own contexts. ``limits``
    (:class:`optimize.deploy.limits.ServeLimits`, default for a 4096-token model) bound what a request
    may send and how much work may wait. Models, API bases and limits are the server's configuration:
    a request can only choose the test-time settings in its ``budget`` field.

    Example:
        >>> from programs.budget import Budget
        >>> from programs.session import SleepTimeSession
        >>> spec = "openai/m@http://127.0.0.1:9/v1"
        >>> with SleepTimeSession(Budget(sleep_model=spec, test_model=spec)) as session:
        ...     sorted(route.path for route in create_app(session).routes if "contexts" in route.path)
        ['/contexts', '/contexts/{context_id}', '/contexts/{context_id}', '/contexts/{context_id}/questions']
    """
    from typing import Annotated, Literal

    from fastapi import Depends, FastAPI, HTTPException, Path, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
    from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

    from optimize.deploy.auth import Tokens
    from optimize.deploy.limits import BodyLimit, ServeLimits
    from programs.adapter import TruncatedReplyError
    from programs.redact import redact
    from programs.session import (
        POLICIES,
        ContextConflictError,
        SessionClosedError,
        SleepQueueFullError,
        UnknownContextError,
    )

    tokens = tokens or Tokens()
    limits = limits or ServeLimits.for_context_window()
    # The session enforces these two (so its Python API has them as well): never looser than the server's.
    for name, limit in (("max_pending_sleep", limits.max_pending_sleep),
                        ("max_context_chars", limits.max_context_chars)):
        if getattr(session, name) is None or getattr(session, name) > limit:
            setattr(session, name, limit)
    slots = _Slots(limits.max_questions)
    strict = ConfigDict(extra="forbid", strict=True)  # no "3" for 3, no true for 1

    def integral(value):  # JSON Schema counts 64.0 as an integer; strict pydantic would not
        return int(value) if isinstance(value, float) and value.is_integer() else value

    def integer(low: int, high: int):  # the bounds first, so the schema states them as minimum/maximum
        return Annotated[int, Field(ge=low, le=high), BeforeValidator(integral)]

    class Problem(BaseModel):
        detail: str = Field(description="what is wrong and how to fix it")
        allowed_fields: list[str] | None = Field(None, description="the fields this request may set")
        errors: list[dict] | None = Field(None, description="each invalid field (pydantic's report)")

    class NewContext(BaseModel):
        model_config = strict
        id: str = Field(description=f"your id for this context: {CONTEXT_ID_RULE}",
                        pattern=CONTEXT_ID_PATTERN, max_length=128)
        text: str = Field(description="the facts", min_length=1, max_length=limits.max_context_chars,
                          pattern=NOT_BLANK)
        expected_questions: float | None = Field(None, ge=0.01, le=1e6, allow_inf_nan=False,
                                                 description="questions expected on it (N)")
        predictability: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                             description="0..1 (programs.predictability)")

    class MoreFacts(BaseModel):
        model_config = strict
        text: str = Field(description="facts to add; the learned context is revised with them only",
                          min_length=1, max_length=limits.max_context_chars, pattern=NOT_BLANK)

    class AnswerSettings(BaseModel):
        """The test-time settings the operator lets a request choose; models and sleep settings are fixed."""

        model_config = strict
        test_verbosity: integer(0, 4) | None = Field(
            None, description="0 = answer directly .. 4 = reason step by step and double-check")
        test_max_tokens: integer(MIN_TEST_TOKENS, limits.max_test_tokens) | None = Field(
            None, description="cap on generated tokens for this answer")

    class Question(BaseModel):
        model_config = strict
        question: str = Field(min_length=1, max_length=limits.max_question_chars, pattern=NOT_BLANK)
        policy: Literal[POLICIES] = Field("wait", description="wait: up to the deadline for the learned "
                                          "context; test-only: answer at once; require: 504 if not ready")
        deadline: float = Field(min(30.0, limits.max_deadline), ge=0, le=limits.max_deadline,
                                allow_inf_nan=False, description="seconds to wait for the learned context")
        budget: AnswerSettings | None = Field(None, description="test-time settings for this answer")

    bodies = {"/contexts": NewContext, "/contexts/{context_id}": MoreFacts,
              "/contexts/{context_id}/questions": Question}

    def allowed(model, prefix: str = "") -> list[str]:
        names = []
        for name, field in model.model_fields.items():
            inner = field.annotation.__args__[0] if hasattr(field.annotation, "__args__") else None
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                names += allowed(inner, f"{prefix}{name}.")
            else:
                names.append(prefix + name)
        return names

    bearer = HTTPBearer(auto_error=False, description="a token from the server's --token-file or "
                        "$SLEEPTIME_SERVE_TOKENS" if tokens else "no token needed: loopback server")

    def owner(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> OwnedContexts:
        if not tokens:
            return OwnedContexts(session, None)
        found = tokens.owner(f"Bearer {credentials.credentials}" if credentials else None)
        if found is None:
            raise HTTPException(status_code=401, detail="missing or unknown bearer token; send "
                                "'Authorization: Bearer <token>' with a token the operator gave you",
                                headers={"WWW-Authenticate": "Bearer"})
        return OwnedContexts(session, found)

    Owner = Annotated[OwnedContexts, Depends(owner)]
    ContextId = Annotated[str, Path(pattern=CONTEXT_ID_PATTERN, max_length=128,
                                    description=f"the context's id: {CONTEXT_ID_RULE}")]
    errors = {status: {"model": Problem} for status in (400, 401, 404, 409, 413, 422, 429, 503)}

    app = FastAPI(title="sleeptime", description="Sleep-time compute: give contexts first, ask later. "
                  f"Limits of this server: {limits.as_dict()}", responses=errors)

    def problem(status: int, detail: str, headers: dict | None = None, **extra) -> JSONResponse:
        return JSONResponse(status_code=status, content={"detail": redact(detail), **extra}, headers=headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        route = request.scope.get("route")
        model = bodies.get(getattr(route, "path", ""))
        fields = allowed(model) if model is not None and request.method != "GET" else None
        parts = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"][1:]) or error["loc"][0]
            if error["type"] == "extra_forbidden":
                parts.append(f"{where}: not a field a request may set (models, API bases, sleep settings "
                             "and limits are the server's configuration)")
            else:
                parts.append(f"{where}: {error['msg']}")
        detail = "; ".join(parts) + (f". Allowed fields: {', '.join(fields)}" if fields else "")
        report = [{"loc": [str(part) for part in error["loc"]], "msg": error["msg"], "type": error["type"]}
                  for error in exc.errors()]
        return problem(422, detail, allowed_fields=fields, errors=report)

    @app.exception_handler(405)
    def _method(request: Request, exc: Exception) -> JSONResponse:
        from starlette.routing import Match

        # Starlette names only the first route on the path; Allow must list every method it serves.
        methods = sorted({method for route in app.router.routes if hasattr(route, "methods")
                          and route.matches(request.scope)[0] == Match.PARTIAL for method in route.methods})
        return problem(405, f"{request.method} is not served here; use {', '.join(methods)}",
                       {"Allow": ", ".join(methods)})

    @app.exception_handler(UnknownContextError)
    def _unknown(request, exc: Exception) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(ValueError)
    def _bad(request, exc: Exception) -> JSONResponse:
        return problem(422, str(exc))

    @app.exception_handler(ContextConflictError)
    def _conflict(request, exc: Exception) -> JSONResponse:
        return problem(409, str(exc))

    @app.exception_handler(SleepQueueFullError)
    def _full(request, exc: Exception) -> JSONResponse:
        return problem(503, str(exc), {"Retry-After": str(limits.retry_after_seconds)})

    @app.exception_handler(SessionClosedError)
    def _closed(request, exc: Exception) -> JSONResponse:
        return problem(503, str(exc))

    @app.post("/contexts", status_code=202)
    def add_context(body: NewContext, contexts: Owner) -> dict:
        """Register a context; its learned context is made in the background (if the scheduler says so)."""
        if not contexts.exists(body.id) and len(contexts.ids()) >= limits.max_contexts_per_owner:
            raise HTTPException(status_code=429, detail=f"this token holds {limits.max_contexts_per_owner} "
                                "contexts, the server's limit per token; reuse one (PATCH adds facts) or ask "
                                "the operator to raise --max-contexts-per-token")
        return contexts.add(body.id, body.text, expected_questions=body.expected_questions,
                            predictability=body.predictability)

    @app.patch("/contexts/{context_id}")
    def update_context(context_id: ContextId, body: MoreFacts, contexts: Owner) -> dict:
        return contexts.update(context_id, body.text)

    @app.get("/contexts/{context_id}")
    def status(context_id: ContextId, contexts: Owner) -> dict:
        return contexts.status(context_id)

    @app.post("/contexts/{context_id}/questions",
              responses={502: {"model": Problem}})
    async def ask(context_id: ContextId, body: Question, contexts: Owner) -> dict:
        if not slots.take():  # refuse at once: a queue of waiting requests would grow without bound
            raise HTTPException(status_code=503, detail=f"{slots.capacity} questions are being answered, "
                                "the server's limit; retry after the Retry-After seconds",
                                headers={"Retry-After": str(limits.retry_after_seconds)})
        try:
            settings = body.budget.model_dump(exclude_none=True) if body.budget else {}
            budget = session.budget.replace(**settings) if settings else None
            try:
                prediction = await run_in_threadpool(contexts.ask, context_id, body.question, budget,
                                                     policy=body.policy, deadline=body.deadline)
            except TimeoutError as exc:  # policy "require": the notes are not ready (yet): not a server fault
                raise HTTPException(status_code=409, detail=redact(str(exc)),
                                    headers={"Retry-After": str(limits.retry_after_seconds)}) from exc
            except TruncatedReplyError as exc:
                if "test_max_tokens" not in settings:
                    raise HTTPException(status_code=502, detail=redact(str(exc))) from exc
                detail = (f"the answer did not fit in budget.test_max_tokens={settings['test_max_tokens']}; "
                          f"raise it (up to {limits.max_test_tokens}) or leave it out")
                raise HTTPException(status_code=422, detail=detail) from exc
            except (UnknownContextError, ValueError, SessionClosedError):
                raise
            except Exception as exc:  # an LM failure after retries: say so, never answer silently
                raise HTTPException(status_code=502, detail=redact(f"{type(exc).__name__}: {exc}")) from exc
            key = contexts.status(context_id)["learned_context_key"] if prediction.mode == "learned_context" \
                else None
        finally:
            slots.give_back()
        return {"context_id": context_id, "answer": prediction.answer, "mode": prediction.mode,
                "waited_seconds": prediction.waited_seconds, "test_usage": prediction.get("test_usage"),
                "learned_context_key": key}

    @app.get("/costs")
    def costs(contexts: Owner) -> dict:
        """Sleep and test costs and contexts by state: with tokens, of the caller's contexts only."""
        return contexts.costs()

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    app.state.limits, app.state.slots = limits, slots
    return app


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port "
                         "(0 picks a free one)") from exc
    return sock


def _server(session, tokens=None, limits=None):
    import uvicorn

    from optimize.deploy.limits import ServeLimits

    limits = limits or ServeLimits.for_context_window()
    # No access log: it would hold every client's address and path, and a proxy in front logs them anyway.
    config = uvicorn.Config(create_app(session, tokens=tokens, limits=limits), log_level="warning",
                            access_log=False, limit_concurrency=limits.max_connections,
                            timeout_keep_alive=5)
    return uvicorn.Server(config)


def check_exposure(host: str, tokens) -> None:
    """Refuse to listen beyond loopback without tokens: every client could use every context."""
    from optimize.deploy.auth import TOKENS_ENV, is_loopback

    if not tokens and not is_loopback(host):
        raise ValueError(f"refusing to listen on {host} without authentication: pass --token-file FILE (one "
                         f"token a line) or set ${TOKENS_ENV}, or listen on 127.0.0.1 behind a reverse proxy "
                         "(docs/deployment.md)")


@contextmanager
def running_service(session, host: str = DEFAULT_HOST, port: int = 0, *, tokens=None,
                    limits=None) -> Iterator[str]:
    """Serve ``session`` from a background thread of this process; yields the base URL, stops on exit.

    ``tokens`` and ``limits`` are those of :func:`create_app`; a non-loopback ``host`` needs tokens.

    Example::

        with SleepTimeSession(budget, store="lc.sqlite") as session, running_service(session) as url:
            requests.post(url + "/contexts", json={"id": "c1", "text": "..."})
    """
    check_exposure(host, tokens)
    sock = _bind(host, port)
    server = _server(session, tokens, limits)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sleeptime-serve",
                              daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the HTTP service stopped while starting; see the log above")
            thread.join(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def serve(session, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, tokens=None, limits=None) -> None:
    """Serve ``session`` over HTTP on ``host:port`` until interrupted (``port`` 0 picks a free one).

    ``tokens`` (:class:`optimize.deploy.auth.Tokens`) are required beyond loopback; ``limits``
    (:class:`optimize.deploy.limits.ServeLimits`) bound what a request may ask (default: a 4096-token model).
    """
    check_exposure(host, tokens)
    sock = _bind(host, port)
    who = f"{len(tokens.entries)} token(s)" if tokens else "no tokens (loopback only)"
    print(f"sleeptime serve: http://{host}:{sock.getsockname()[1]} (docs at /docs; {who})", flush=True)
    _server(session, tokens, limits).run(sockets=[sock])
