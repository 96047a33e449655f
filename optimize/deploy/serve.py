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


def create_app(session) -> Any:
    """The FastAPI app serving ``session`` (a :class:`programs.session.SleepTimeSession`).

    Example:
        >>> from programs.budget import Budget
        >>> from programs.session import SleepTimeSession
        >>> spec = "openai/m@http://127.0.0.1:9/v1"
        >>> with SleepTimeSession(Budget(sleep_model=spec, test_model=spec)) as session:
        ...     sorted(route.path for route in create_app(session).routes if "contexts" in route.path)
        ['/contexts', '/contexts/{context_id}', '/contexts/{context_id}', '/contexts/{context_id}/questions']
    """
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field

    from programs.budget import Budget
    from programs.redact import redact
    from programs.session import SessionClosedError, UnknownContextError

    class NewContext(BaseModel):
        id: str = Field(description="your id for this context")
        text: str = Field(description="the facts")
        expected_questions: float | None = Field(None, description="questions expected on it (N)")
        predictability: float | None = Field(None, ge=0, le=1, description="0..1 (programs.predictability)")

    class MoreFacts(BaseModel):
        text: str = Field(description="facts to add; the learned context is revised with them only")

    class Question(BaseModel):
        question: str
        policy: str = Field("wait", description="wait | test-only | require")
        deadline: float | None = Field(30.0, description="seconds to wait for the learned context")
        budget: dict | None = Field(None, description="Budget fields for this answer, e.g. test_verbosity")

    app = FastAPI(title="sleeptime", description="Sleep-time compute: give contexts first, ask later.")

    @app.exception_handler(UnknownContextError)
    def _unknown(request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": redact(str(exc))})

    @app.exception_handler(ValueError)
    def _bad(request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": redact(str(exc))})

    @app.exception_handler(SessionClosedError)
    def _closed(request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": redact(str(exc))})

    @app.post("/contexts", status_code=202)
    def add_context(body: NewContext) -> dict:
        """Register a context; its learned context is made in the background (if the scheduler says so)."""
        return session.add_context(body.id, body.text, expected_questions=body.expected_questions,
                                   predictability=body.predictability)

    @app.patch("/contexts/{context_id}")
    def update_context(context_id: str, body: MoreFacts) -> dict:
        return session.update_context(context_id, body.text)

    @app.get("/contexts/{context_id}")
    def status(context_id: str) -> dict:
        return session.status(context_id)

    @app.post("/contexts/{context_id}/questions")
    def ask(context_id: str, body: Question) -> dict:
        budget = Budget.from_dict({**session.budget.to_dict(), **body.budget}) if body.budget else None
        try:
            prediction = session.ask(context_id, body.question, budget, policy=body.policy,
                                     deadline=body.deadline)
        except TimeoutError as exc:
            raise HTTPException(status_code=504, detail=redact(str(exc))) from exc
        except (UnknownContextError, ValueError):
            raise
        except Exception as exc:  # an LM failure after retries: say so, never answer silently
            raise HTTPException(status_code=502, detail=redact(f"{type(exc).__name__}: {exc}")) from exc
        return {"context_id": context_id, "answer": prediction.answer, "mode": prediction.mode,
                "waited_seconds": prediction.waited_seconds, "test_usage": prediction.get("test_usage"),
                "learned_context_key": session.status(context_id)["learned_context_key"]
                if prediction.mode == "learned_context" else None}

    @app.get("/costs")
    def costs() -> dict:
        return session.costs()

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


def _server(session):
    import uvicorn

    config = uvicorn.Config(create_app(session), log_level="warning", access_log=False)
    return uvicorn.Server(config)


@contextmanager
def running_service(session, host: str = DEFAULT_HOST, port: int = 0) -> Iterator[str]:
    """Serve ``session`` from a background thread of this process; yields the base URL, stops on exit.

    Example::

        with SleepTimeSession(budget, store="lc.sqlite") as session, running_service(session) as url:
            requests.post(url + "/contexts", json={"id": "c1", "text": "..."})
    """
    sock = _bind(host, port)
    server = _server(session)
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


def serve(session, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve ``session`` over HTTP on ``host:port`` until interrupted (``port`` 0 picks a free one)."""
    sock = _bind(host, port)
    print(f"sleeptime serve: http://{host}:{sock.getsockname()[1]} (docs at /docs)", flush=True)
    _server(session).run(sockets=[sock])
