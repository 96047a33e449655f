"""`sleeptime serve`: a SleepTimeSession behind a small HTTP API (FastAPI + uvicorn, loopback by default).

Routes: ``POST /contexts`` (add), ``PATCH /contexts/{id}`` (add facts), ``POST /contexts/{id}/questions``
(ask), ``GET /contexts/{id}`` (status and costs), ``GET /costs``; OpenAPI docs at ``/docs``. Learned
contexts live in the store (``--store``), so a restarted server still has every finished one.
"""
# No ``from __future__ import annotations`` here: FastAPI must see the request models of create_app as
# classes, not as names it cannot resolve from module globals.

import argparse
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


def build_session(args: argparse.Namespace):
    """The session the command line describes."""
    from optimize.cli.flags import budget_from_args
    from programs.scheduler import CostModel, SleepScheduler
    from programs.session import SleepTimeSession
    from programs.store import default_store_path

    budget = budget_from_args(args)
    scheduler = SleepScheduler(CostModel.default(args.price_ratio), policy=args.scheduler,
                               default_questions=args.questions_per_context)
    return SleepTimeSession(budget, store=args.store or default_store_path(), scheduler=scheduler,
                            sleep_workers=args.sleep_workers, max_concurrency=args.max_concurrency,
                            api_base=args.api_base, prefill=args.prefill, probes=args.probes)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from optimize.cli.flags import (
        add_budget_flags,
        add_budget_json_flag,
        non_negative_int,
        port_number,
        positive_float,
        positive_int,
    )

    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on (loopback only by default)")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--store", default=None, help="learned-context store (SQLite path; default the "
                        "user cache dir or $SLEEPTIME_STORE); a restarted server finds its contexts here")
    parser.add_argument("--api-base", default=None, help="OpenAI-compatible base URL for openai/<model>")
    add_budget_json_flag(parser)
    add_budget_flags(parser, skip=("compiled",))
    parser.add_argument("--scheduler", default="break-even", choices=("break-even", "always", "never"),
                        help="whether to sleep on a context: break-even from N, t and predictability, "
                        "or always/never")
    parser.add_argument("-N", "--questions-per-context", type=positive_float, default=3.0,
                        help="questions expected per context when a request does not say")
    parser.add_argument("-t", "--price-ratio", type=positive_float, default=10.0,
                        help="test-token price / sleep-token price")
    parser.add_argument("--sleep-workers", type=positive_int, default=1, help="sleep-time jobs at once")
    parser.add_argument("--max-concurrency", type=positive_int, default=2,
                        help="LM jobs at once (questions first)")
    parser.add_argument("--prefill", action="store_true",
                        help="after making notes, send their prompt prefix so the server's cache holds it")
    parser.add_argument("--probes", type=non_negative_int, default=0,
                        help="check new notes with this many self-generated probe questions before use")


def register(subparsers: argparse._SubParsersAction) -> None:
    from optimize.cli.flags import add_subcommand

    parser = add_subcommand(subparsers, "serve",
                            help="serve a sleep-time session over HTTP (OpenAPI at /docs)")
    add_arguments(parser)
    parser.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    if args.host not in (DEFAULT_HOST, "localhost", "::1"):
        print(f"warning: listening on {args.host}: the API has no authentication")
    sock = _bind(args.host, args.port)
    with build_session(args) as session:
        print(f"sleeptime serve: http://{args.host}:{sock.getsockname()[1]} (docs at /docs)", flush=True)
        _server(session).run(sockets=[sock])
    return 0


def main(argv: list[str] | None = None) -> int:
    from optimize.cli.flags import HelpFormatter, Parser

    parser = Parser(prog="python3 -m optimize.deploy.serve", description=__doc__.splitlines()[0],
                    formatter_class=HelpFormatter)
    add_arguments(parser)
    return serve_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
