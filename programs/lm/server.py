"""The embedded local model's server: xllamacpp's OpenAI-compatible server in a child process we own.

:class:`LocalServer` runs the server on a loopback port, restarts it (a bounded number of times) when the
child died, and never leaves it orphaned: it is stopped by :meth:`LocalServer.stop`, at interpreter exit,
on SIGTERM, and by the child itself when this process dies (``PR_SET_PDEATHSIG`` plus a watchdog thread in
:mod:`programs.lm._serve`). :func:`get_local_server` shares one running server per model and settings.

Concurrency: the server runs ``n_parallel`` request slots with continuous batching. :func:`local_slots`
chooses the slot count (argument, else ``$SLEEPTIME_LOCAL_SLOTS``, else :data:`DEFAULT_LOCAL_SLOTS`), and
:func:`get_local_server` grows the total context with it so every slot keeps its full per-slot context.
A host-memory prompt cache (``cache_ram_mib``) keeps the KV state of earlier prompts when a slot moves on,
so a context's prefix is reused by the next question on it.

Example (needs the ``local`` extra installed)::

    import dspy
    from programs.lm.server import get_local_server

    server = get_local_server("qwen2.5-coder-0.5b")
    lm = dspy.LM(f"openai/{server.alias}", api_base=server.api_base, api_key="local")
"""

from __future__ import annotations

import atexit
import concurrent.futures
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any

from programs.lm.model_files import LocalModelError, ensure_model_file, get_local_model, resolve_cache_dir

SLOTS_ENV = "SLEEPTIME_LOCAL_SLOTS"
# One slot: measured on 2 cores (1.5B, 12 dev questions, as many evaluate threads as slots), 2 and 4 slots
# changed wall time by -6%/+12% (sleep v0) and -6%/-13% (test-only v3), within noise, and batched
# decoding changed 1-2 of 12 greedy answers. Determinism wins; SLEEPTIME_LOCAL_SLOTS=2 or 4 opts in.
DEFAULT_LOCAL_SLOTS = 1
DEFAULT_SLOT_CTX = 4096
DEFAULT_CACHE_RAM_MIB = 2048
DEFAULT_MAX_RESTARTS = 2
_LOG_TAIL_LINES = 20
_LOGS_KEPT = 20
_PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the folder holding `programs/`

logger = logging.getLogger(__name__)


class PortInUseError(LocalModelError):
    """The requested loopback port is already taken."""


class ServerStartError(LocalModelError):
    """The server child process died or did not become ready; the message ends with its log tail."""


def local_slots(n_parallel: int | None = None) -> int:
    """The number of request slots a local server runs: ``n_parallel``, else ``$SLEEPTIME_LOCAL_SLOTS``,
    else :data:`DEFAULT_LOCAL_SLOTS`.

    Example:
        >>> local_slots(2)
        2
    """
    source = "n_parallel"
    if n_parallel is None:
        raw = os.environ.get(SLOTS_ENV, "").strip()
        if not raw:
            return DEFAULT_LOCAL_SLOTS
        source = f"${SLOTS_ENV}"
        try:
            n_parallel = int(raw)
        except ValueError:
            n_parallel = 0
    if isinstance(n_parallel, bool) or not isinstance(n_parallel, int) or not 1 <= n_parallel <= 64:
        raise ValueError(f"{source}={n_parallel!r} is not a slot count; use a whole number from 1 to 64")
    return n_parallel


SPECULATIVE_ENV = "SLEEPTIME_LOCAL_SPECULATIVE"
DRAFT_MODEL = "qwen2.5-coder-0.5b"  # the draft of ``speculative="draft"``: same tokenizer as the 1.5B
SPECULATIVE_KINDS = ("none", "ngram-simple", "ngram-map-k", "ngram-mod", "draft")
# None by default: measured on 2 cores (1.5B, 12 dev questions, 1 slot; BENCHMARKS.md, throughput), n-gram
# drafts were almost never accepted (0.97-1.00x the questions per minute) and a 0.5B draft model, though 84%
# of its tokens were accepted, halved throughput (0.50-0.62x): it competes with the 1.5B for the two cores.


def local_speculative(speculative: str | None = None) -> str:
    """The speculative decoding a local server uses: ``speculative``, else ``$SLEEPTIME_LOCAL_SPECULATIVE``,
    else ``"none"``. ``draft`` drafts with the 0.5B (for the 1.5B); the ``ngram-*`` kinds draft from
    n-grams already in the prompt and reply.

    Example:
        >>> local_speculative("ngram-simple")
        'ngram-simple'
    """
    source = "speculative"
    if speculative is None:
        speculative = os.environ.get(SPECULATIVE_ENV, "").strip() or "none"
        source = f"${SPECULATIVE_ENV}"
    if speculative not in SPECULATIVE_KINDS:
        raise ValueError(f"{source}={speculative!r} is not a speculative decoding kind; use one of "
                         f"{', '.join(SPECULATIVE_KINDS)}")
    return speculative


def find_free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR so a port in TIME_WAIT after our own server stopped still counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ensure_port_free(port: int) -> None:
    if not _port_is_free(port):
        raise PortInUseError(
            f"Port {port} on 127.0.0.1 is already in use. Fix: pass another port, "
            f"or port=0 to let the operating system pick a free one."
        )


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("r", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError as error:
        return f"(log file {path} unreadable: {error})"


def _new_log_path(cache_dir: Path, alias: str, port: int) -> Path:
    """A fresh log file under ``cache_dir/logs``, keeping only the most recent logs."""
    folder = cache_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    old_logs = sorted(folder.glob("*-server-*.log"))  # names start with alias, then a sortable timestamp
    for stale in old_logs[: max(0, len(old_logs) - _LOGS_KEPT + 1)]:
        stale.unlink(missing_ok=True)  # another process may have pruned it first
    return folder / f"{alias.replace('/', '_')}-server-{time.strftime('%Y%m%d-%H%M%S')}-{port}.log"


def _http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


# PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. Children are
# therefore always spawned from this one long-lived thread, so a server started from a short-lived
# worker thread (e.g. inside dspy.Parallel) is not killed when that worker finishes.
_spawner = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sleeptime-local-spawner")

_live_servers: set[LocalServer] = set()
_live_lock = threading.RLock()
_sigterm_installed = False


def stop_all_servers() -> None:
    """Stop every :class:`LocalServer` this process started (also runs at interpreter exit)."""
    with _live_lock:
        servers = list(_live_servers)
    for server in servers:
        server.stop()


def _install_sigterm_handler() -> None:
    """On SIGTERM stop our servers, then let the previous handler (default: terminate) run."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; PDEATHSIG still covers us
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        stop_all_servers()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    _sigterm_installed = True


atexit.register(stop_all_servers)


class LocalServer:
    """xllamacpp's OpenAI-compatible server for one local model, in a child process this object owns.

    The child listens on 127.0.0.1 (a free port unless ``port`` is given), its log goes to a file in the
    cache folder (``log_path``), and it is stopped by :meth:`stop`, at interpreter exit, on SIGTERM, and
    by the kernel if this process dies. Readiness is ``GET /v1/models`` answering 200, followed by one
    warm-up chat request (the first request after loading runs slower).

    A child that dies (killed, crashed) is restarted by :meth:`ensure_running`, on the same port when it
    is still free, at most ``max_restarts`` times; each restart is logged as a warning with the log path.

    ``n_ctx`` is the *total* context, split evenly across the ``n_parallel`` request slots (llama.cpp's
    ``n_ctx_slot = n_ctx / n_parallel``): raise ``n_ctx`` along with ``n_parallel``
    (:func:`get_local_server` does). ``cache_ram_mib`` sizes the host-memory prompt cache (``None`` keeps
    llama.cpp's default, 0 turns it off); ``slot_save_path`` enables the server's slot save/restore
    routes. The server's default sampling is not greedy: send ``temperature=0`` for reproducible answers.

    Example (constructing starts nothing; the ``with`` block needs the ``local`` extra and the model files):
        >>> server = LocalServer("qwen2.5-coder-0.5b", n_ctx=4096)
        >>> server.alias, server.running
        ('qwen2.5-coder-0.5b', False)
        >>> with server:  # doctest: +SKIP
        ...     lm = dspy.LM(f"openai/{server.alias}", api_base=server.api_base, api_key="local")
    """

    def __init__(
        self,
        model_key: str = "qwen2.5-coder-0.5b",
        *,
        port: int = 0,
        threads: int | None = None,
        n_ctx: int = DEFAULT_SLOT_CTX,
        n_parallel: int = 1,
        alias: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        model_path: str | os.PathLike[str] | None = None,
        ready_timeout: float = 180.0,
        warmup: bool = True,
        cont_batching: bool = True,
        cache_ram_mib: int | None = DEFAULT_CACHE_RAM_MIB,
        slot_save_path: str | os.PathLike[str] | None = None,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        speculative: str = "none",
    ) -> None:
        if model_path is None:
            get_local_model(model_key)  # fail fast on an unknown key
        self.model_key = model_key
        self.requested_port = port
        self.threads = threads or os.cpu_count() or 1
        self.n_ctx = n_ctx
        self.n_parallel = n_parallel
        self.alias = alias or model_key
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.model_path: Path | None = Path(model_path) if model_path is not None else None
        self.ready_timeout = ready_timeout
        self.warmup = warmup
        self.cont_batching = cont_batching
        self.cache_ram_mib = cache_ram_mib
        self.slot_save_path = Path(slot_save_path) if slot_save_path is not None else None
        self.max_restarts = max_restarts
        self.speculative = local_speculative(speculative)
        self.restarts = 0
        self.generation = 0  # incremented at every launch: a caller can tell that its server was replaced
        self.port: int | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False  # stopped on purpose: ensure_running() does not bring it back
        self._lock = threading.RLock()  # re-entrant: the SIGTERM handler may interrupt start()

    @property
    def api_base(self) -> str:
        if self.port is None:
            raise ServerStartError(f"The server for {self.model_key!r} is not started. Fix: call .start().")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def has_died(self, grace: float = 1.0) -> bool:
        """Whether the child has exited, waiting up to ``grace`` seconds for it: a killed child closes its
        sockets (so a caller's request fails) a moment before the kernel reports it as exited."""
        process = self._process
        if process is None:
            return False
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            return False
        return True

    def child_command(self, port: int) -> list[str]:
        """The command line of the server child (a test may override it to serve something lighter)."""
        command = [
            sys.executable, "-m", "programs.lm._serve",
            "--model", str(self.model_path), "--port", str(port), "--threads", str(self.threads),
            "--ctx", str(self.n_ctx), "--parallel", str(self.n_parallel), "--alias", self.alias,
            "--parent-pid", str(os.getpid()),
        ]
        if not self.cont_batching:
            command.append("--no-cont-batching")
        if self.cache_ram_mib is not None:
            command += ["--cache-ram-mib", str(self.cache_ram_mib)]
        if self.slot_save_path is not None:
            command += ["--slot-save-path", str(self.slot_save_path)]
        if self.speculative == "draft":
            command += ["--speculative", f"draft:{ensure_model_file(DRAFT_MODEL, self.cache_dir)}"]
        elif self.speculative != "none":
            command += ["--speculative", self.speculative]
        return command

    def start(self) -> LocalServer:
        """Assemble the model if needed, launch the child, wait until it answers, send a warm-up request."""
        with self._lock:
            if self.running:
                return self
            self._stopped = False
            if self.model_path is None:
                self.model_path = ensure_model_file(self.model_key, self.cache_dir)
            if self.requested_port:
                _ensure_port_free(self.requested_port)
                port = self.requested_port
            else:
                port = find_free_port()
            self._launch(port)
            return self

    def _launch(self, port: int) -> None:
        if self.slot_save_path is not None:
            self.slot_save_path.mkdir(parents=True, exist_ok=True)
        log_path = _new_log_path(self.cache_dir, self.alias, port)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
        with log_path.open("wb") as log:
            # A new session keeps a terminal Ctrl-C away from the child: the parent decides when it stops.
            self._process = _spawner.submit(
                subprocess.Popen, self.child_command(port), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env, start_new_session=True,
            ).result()
        self.port, self.log_path = port, log_path
        self.generation += 1
        with _live_lock:
            _live_servers.add(self)
        _install_sigterm_handler()
        try:
            self._wait_until_ready()
            if self.warmup:
                self._send_warmup()
        except BaseException:
            self._stop_locked()
            raise

    def ensure_running(self) -> str:
        """The server's ``api_base``, restarting the child first if it died (at most ``max_restarts`` times).

        A server that was never started is started; one stopped with :meth:`stop` is not brought back.
        """
        with self._lock:
            if self.running:
                return self.api_base
            if self._process is None and not self._stopped:
                return self.start().api_base
            if self._stopped:
                raise ServerStartError(f"The local model server for {self.model_key!r} was stopped. "
                                       "Fix: start it again with .start() or get_local_server().")
            assert self._process is not None and self.log_path is not None
            code, pid, old_log = self._process.poll(), self._process.pid, self.log_path
            if self.restarts >= self.max_restarts:
                raise ServerStartError(
                    f"The local model server for {self.model_key!r} died again (pid {pid}, exit code {code}) "
                    f"after {self.restarts} restart(s); giving up. Fix: look at its log {old_log}, free "
                    f"memory, or lower the slots (${SLOTS_ENV}) and run again (finished work is kept).")
            self.restarts += 1
            logger.warning("the local model server for %r (pid %s) died with exit code %s; restarting it "
                           "(restart %d of %d); its log: %s", self.model_key, pid, code, self.restarts,
                           self.max_restarts, old_log)
            port = self.port if self.port is not None and _port_is_free(self.port) else find_free_port()
            self._launch(port)
            return self.api_base

    def _failure(self, problem: str) -> ServerStartError:
        assert self.log_path is not None
        return ServerStartError(
            f"The local model server for {self.model_key!r} ({self.model_path}) {problem}. "
            f"Fix: check the model file and settings (n_ctx={self.n_ctx}, n_parallel={self.n_parallel}, "
            f"threads={self.threads}); full log: {self.log_path}\n"
            f"--- last {_LOG_TAIL_LINES} log lines ---\n{_tail(self.log_path)}"
        )

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout
        url = f"{self.api_base}/models"
        while True:
            code = self._process.poll()
            if code is not None:
                raise self._failure(f"exited with code {code} before becoming ready")
            try:
                listing = _http_json(url, timeout=2.0)
                served = [entry.get("id") for entry in listing.get("data", [])]
                if self.alias in served:
                    return
                raise self._failure(f"port {self.port} answers but serves {served}, not {self.alias!r}")
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                pass  # not listening yet, or 503 while the model loads
            if time.monotonic() > deadline:
                raise self._failure(f"did not become ready within {self.ready_timeout:g} s")
            time.sleep(0.2)

    def _send_warmup(self) -> None:
        body = {
            "model": self.alias,
            "messages": [{"role": "user", "content": "Say OK."}],
            "max_tokens": 4,
            "temperature": 0,
        }
        try:
            _http_json(f"{self.api_base}/chat/completions", body, timeout=self.ready_timeout)
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as error:
            raise self._failure(f"failed the warm-up chat request ({error})") from None

    def slot_action(self, slot: int, action: str, filename: str | None = None) -> dict[str, Any]:
        """Save, restore or erase the KV cache of request slot ``slot`` (llama.cpp's ``/slots`` route).

        ``save``/``restore`` need the server started with ``slot_save_path`` and a plain ``filename``
        inside it; a restored slot answers a prompt with the saved prefix without processing it again.
        """
        if action not in ("save", "restore", "erase"):
            raise ValueError(f"unknown slot action {action!r}; use save, restore or erase")
        if action != "erase":
            if self.slot_save_path is None:
                raise ServerStartError(f"slot {action} needs a server started with slot_save_path=FOLDER")
            if not filename or Path(filename).name != filename:
                raise ValueError(f"slot file name {filename!r} must be a plain file name inside "
                                 f"{self.slot_save_path}")
        body = {"filename": filename} if filename else {}
        url = f"{self.api_base.removesuffix('/v1')}/slots/{int(slot)}?action={action}"
        return _http_json(url, body, timeout=self.ready_timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after ``timeout`` seconds) and wait for it."""
        with self._lock:
            self._stopped = True
            self._stop_locked(timeout)

    def _stop_locked(self, timeout: float = 10.0) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with _live_lock:
            _live_servers.discard(self)
        if self._stopped:
            with _shared_lock:
                for settings, server in list(_shared_servers.items()):
                    if server is self:
                        del _shared_servers[settings]

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __deepcopy__(self, memo: dict) -> LocalServer:
        return self  # one child process: copies of an LM that uses it share it

    def __repr__(self) -> str:
        state = f"pid={self.pid}, api_base={self.api_base!r}" if self.running else "stopped"
        return f"LocalServer({self.model_key!r}, alias={self.alias!r}, {state})"


_shared_servers: dict[tuple[Any, ...], LocalServer] = {}
_shared_lock = threading.RLock()


def get_local_server(
    key: str = "qwen2.5-coder-0.5b",
    *,
    threads: int | None = None,
    n_ctx: int = DEFAULT_SLOT_CTX,
    n_parallel: int | None = None,
    cache_ram_mib: int | None = DEFAULT_CACHE_RAM_MIB,
    slot_save_path: str | os.PathLike[str] | None = None,
    cont_batching: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    speculative: str | None = None,
) -> LocalServer:
    """The running server for ``key`` and these settings, started on first use and shared process-wide.

    ``n_ctx`` is the context of *each* slot; the server runs ``local_slots(n_parallel)`` slots and a total
    context of ``n_ctx * slots``. Thread-safe: concurrent callers with the same settings get the same
    server (one of them starts it). A server whose child died is restarted (bounded, see
    :meth:`LocalServer.ensure_running`); one stopped on purpose is replaced by a fresh one.

    Example (needs the ``local`` extra installed)::

        server = get_local_server("qwen2.5-coder-0.5b")
        assert get_local_server("qwen2.5-coder-0.5b") is server
    """
    get_local_model(key)
    slots = local_slots(n_parallel)
    speculative = local_speculative(speculative)
    save = str(slot_save_path) if slot_save_path is not None else None
    settings = (key, threads or os.cpu_count() or 1, n_ctx, slots, cache_ram_mib, save, cont_batching,
                str(resolve_cache_dir(cache_dir)), speculative)
    with _shared_lock:
        server = _shared_servers.get(settings)
        if server is not None:
            server.ensure_running()
            return server
        server = LocalServer(key, threads=threads, n_ctx=n_ctx * slots, n_parallel=slots, cache_dir=cache_dir,
                             cache_ram_mib=cache_ram_mib, slot_save_path=slot_save_path,
                             cont_batching=cont_batching, speculative=speculative)
        server.start()
        _shared_servers[settings] = server
        return server
