"""A strict sandbox for model-written Python: DSPy's own interpreter (Deno + Pyodide), locked down further.

Programs run in Pyodide (CPython compiled to WebAssembly) inside one Deno process, driven by
:class:`dspy.PythonInterpreter` over its JSON-RPC protocol with DSPy's own ``runner.js``. This module adds:

- **Deno**: the binary from PyPI's ``deno`` package (pinned in the ``local`` extra), used by absolute path,
  so nothing needs to be on ``PATH``; a system ``deno`` on ``PATH`` is the fallback.
- **Cache**: Pyodide (npm ``pyodide``, ~13 MB) is fetched once from the npm registry into a Deno cache dir:
  the ``cache_dir`` argument, else ``$SLEEPTIME_DENO_DIR``, else ``<user cache>/sleeptime-compute/deno``.
  The fetch (``deno cache``) runs in a separate process with the caller's environment (proxy and CA
  settings); the sandbox process itself then runs ``--cached-only`` and never touches the network.
  ``runner.js`` imports ``readLines`` from deno.land, which CI cannot reach: an import map points that one
  module at a 20-line local equivalent written next to the cache.
- **Permissions**: the Deno process gets an empty environment (``env -i``; only ``DENO_DIR`` and two switches)
  and ``--allow-read`` only for ``runner.js`` and the cache (DSPy's runner revokes the cache once Pyodide is
  loaded); net, env, write, run, ffi and sys are explicitly denied and prompts are off. Python's ``open`` sees
  only Pyodide's in-memory file system; calls through the JavaScript bridge (``import js; js.Deno...``) meet
  Deno's permission checks. tests/test_sandbox.py proves each of these.
- **Time**: a run longer than ``timeout_seconds`` is stopped by killing the process; **memory**: the process's
  data segment may grow at most ``memory_mb`` beyond what the loaded runtime uses (``RLIMIT_DATA`` set with
  ``prlimit`` after start-up, Linux only), so a memory bomb ends in a ``MemoryError`` inside the program; V8's
  JavaScript heap is capped with ``--max-old-space-size`` too. After a timeout, a crash or a ``MemoryError``
  the next run starts a fresh process.
- **Isolation between runs**: one process serves many runs (start-up is seconds, a run milliseconds); each
  program executes in a fresh namespace, and ``values`` are the int/float variables it defined at top level.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from programs.files import replace_text

DENO_DIR_ENV = "SLEEPTIME_DENO_DIR"
DENO_INSTALL_HINT = 'pip install "deno==2.9.8" (it comes with the [local] extra: pip install -e ".[local]")'
STD_IO_URL = "https://deno.land/std@0.186.0/io/mod.ts"
MAX_STDOUT_CHARS = 20_000

# The only thing runner.js takes from deno.land: readLines(Deno.stdin) as an async iterator of lines.
_STD_IO_SHIM = """\
export async function* readLines(reader) {
  const decoder = new TextDecoder();
  const chunk = new Uint8Array(1 << 16);
  let buffer = "";
  while (true) {
    const n = await reader.read(chunk);
    if (n === null) break;
    buffer += decoder.decode(chunk.subarray(0, n), { stream: true });
    let end;
    while ((end = buffer.indexOf("\\n")) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      yield line.endsWith("\\r") ? line.slice(0, -1) : line;
    }
  }
  buffer += decoder.decode();
  if (buffer) yield buffer;
}
"""

# Runs one program in a fresh namespace; the runner returns the value of the last expression (a JSON string).
_RUN_PROGRAM = """\
def _sleeptime_run(source, max_chars):
    import contextlib, io, json, math, traceback
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    printed = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            exec(compile(source, "<program>", "exec"), namespace)
    except BaseException as exc:
        line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == "<program>":
                line = frame.lineno
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
        error = (f"line {line}: " if line else "") + message
    values = {name: value for name, value in list(namespace.items())
              if not name.startswith("_") and type(value) in (int, float)
              and (type(value) is int or math.isfinite(value))}
    return json.dumps({"values": values, "stdout": printed.getvalue()[:max_chars], "error": error})
"""


class SandboxError(RuntimeError):
    """The sandbox runtime could not be set up or started (no Deno, Pyodide not fetched, unsupported OS).

    A failing *program* is not a SandboxError: its error is reported in :attr:`SandboxRun.error`.
    """


@dataclass(frozen=True)
class SandboxRun:
    """What one program run produced: its top-level numbers, what it printed, its error, its wall time.

    Example:
        >>> run = SandboxRun(values={"total": 12}, stdout="", error=None, seconds=0.01)
        >>> run.ok, run.values["total"]
        (True, 12)
    """

    values: dict[str, int | float] = field(default_factory=dict)
    stdout: str = ""
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the program ran to its end (it may still have defined no numbers)."""
        return self.error is None


def find_deno() -> str:
    """The Deno binary: the one PyPI's ``deno`` package ships, else ``deno`` on PATH."""
    try:
        from deno import find_deno_bin
    except ImportError:
        find_deno_bin = None
    if find_deno_bin is not None:
        try:
            return find_deno_bin()
        except FileNotFoundError:
            pass
    found = shutil.which("deno")
    if not found:
        raise SandboxError(f"Deno is not installed, so model-written code cannot run: {DENO_INSTALL_HINT}")
    return found


def default_cache_dir() -> Path:
    """Where Pyodide is cached: ``$SLEEPTIME_DENO_DIR``, else ``<user cache>/sleeptime-compute/deno``."""
    from_env = os.environ.get(DENO_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("sleeptime-compute")) / "deno"


def _runner_path() -> Path:
    import dspy.primitives.python_interpreter as interpreter_module

    return Path(interpreter_module.__file__).resolve().with_name("runner.js")


_prepared: dict[str, Path] = {}
_prepare_guard = threading.Lock()


def prepare_runtime(cache_dir: str | os.PathLike[str] | None = None, *,
                    timeout_seconds: float = 600.0) -> Path:
    """Write the import map and fetch Pyodide into ``cache_dir`` (once per process); the import map's path.

    The fetch runs ``deno cache`` with this process's environment, so proxy and certificate settings apply
    (the system CA store is trusted besides Deno's own, unless ``DENO_TLS_CA_STORE`` says otherwise).
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = root.resolve()
    with _prepare_guard:
        if str(root) in _prepared:
            return _prepared[str(root)]
        (root / "runtime").mkdir(parents=True, exist_ok=True)
        shim = root / "runtime" / "std_io.js"
        import_map = root / "runtime" / "import_map.json"
        replace_text(shim, _STD_IO_SHIM, only_if_changed=True)
        replace_text(import_map, json.dumps({"imports": {STD_IO_URL: shim.as_uri()}}, indent=2) + "\n",
                     only_if_changed=True)
        env = dict(os.environ, DENO_DIR=str(root / "cache"), DENO_NO_PACKAGE_JSON="1", NO_COLOR="1")
        env.setdefault("DENO_TLS_CA_STORE", "system,mozilla")
        command = [find_deno(), "cache", "--no-config", "--no-lock", "--node-modules-dir=false",
                   f"--import-map={import_map}", str(_runner_path())]
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_seconds,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SandboxError(f"fetching Pyodide from the npm registry took over {timeout_seconds:.0f} s; "
                               "check that registry.npmjs.org is reachable (HTTPS_PROXY if needed)") from None
        if done.returncode != 0:
            raise SandboxError(f"could not fetch Pyodide into {root / 'cache'} with `{' '.join(command)}`:\n"
                               f"{done.stderr.strip()[-2000:]}\nThe sandbox needs registry.npmjs.org once "
                               "(set HTTPS_PROXY / SSL_CERT_FILE as for npm), or a cache dir filled "
                               f"elsewhere (${DENO_DIR_ENV}).")
        _prepared[str(root)] = import_map
        return import_map


def _vm_data_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise SandboxError(f"no VmData in /proc/{pid}/status: cannot bound the sandbox's memory")


class Sandbox:
    """Runs model-written Python with no file system, network or environment access, bounded in time and RAM.

    ``run(code)`` never raises for a bad program: it returns a :class:`SandboxRun` whose ``error`` says what
    went wrong (``"line 3: ZeroDivisionError: division by zero"``, a timeout, a ``MemoryError``). It raises
    :class:`SandboxError` only when the runtime itself cannot start. One Deno process serves all runs of a
    sandbox (start-up takes seconds; it happens on the first run, or on :meth:`start`); use the sandbox from
    one thread (DSPy's interpreter requires it), or one per thread with :func:`thread_sandbox`.

    Example:
        >>> with Sandbox(timeout_seconds=10, memory_mb=256) as sandbox:
        ...     run = sandbox.run("boxes = 3\\napples_per_box = 4\\ntotal_apples = boxes * apples_per_box")
        >>> run.values, run.error
        ({'boxes': 3, 'apples_per_box': 4, 'total_apples': 12}, None)
    """

    def __init__(self, *, timeout_seconds: float = 10.0, memory_mb: int | None = 512,
                 cache_dir: str | os.PathLike[str] | None = None,
                 startup_timeout_seconds: float = 120.0) -> None:
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        if memory_mb is not None and memory_mb < 16:
            raise ValueError(f"memory_mb must be at least 16 (or None for no bound), got {memory_mb}")
        if memory_mb is not None and not sys.platform.startswith("linux"):
            raise SandboxError(f"the memory bound needs Linux prlimit; on {sys.platform} pass memory_mb=None")
        self.timeout_seconds, self.memory_mb = timeout_seconds, memory_mb
        self.cache_dir, self.startup_timeout_seconds = cache_dir, startup_timeout_seconds
        self.startup_seconds: float | None = None  # of the latest start
        self.starts = 0
        self._interpreter = None
        self._guard = threading.Lock()

    def _command(self, import_map: Path) -> list[str]:
        runner = str(_runner_path())
        deno_dir = str(import_map.parent.parent / "cache")
        heap_mb = max(64, self.memory_mb or 512)
        return ["env", "-i", f"DENO_DIR={deno_dir}", "DENO_NO_PACKAGE_JSON=1", "NO_COLOR=1",
                find_deno(), "run", "--no-config", "--no-lock", "--node-modules-dir=false", "--cached-only",
                "--no-prompt", f"--import-map={import_map}", f"--allow-read={runner},{deno_dir}",
                "--deny-net", "--deny-env", "--deny-write", "--deny-run", "--deny-ffi", "--deny-sys",
                f"--v8-flags=--max-old-space-size={heap_mb}",
                runner, "", f"--dspy-deno-dir={deno_dir}"]  # runner args: env names to pass (none), cache

    def start(self) -> None:
        """Start the Deno process now (it otherwise starts on the first run); fetches Pyodide if needed."""
        with self._guard:
            self._start()

    def _start(self) -> None:
        if self._interpreter is not None:
            return
        from dspy.primitives.code_interpreter import CodeInterpreterError
        from dspy.primitives.python_interpreter import PythonInterpreter

        interpreter = PythonInterpreter(deno_command=self._command(prepare_runtime(self.cache_dir)))
        began = time.monotonic()
        watchdog = threading.Timer(self.startup_timeout_seconds, lambda: _kill(interpreter))
        watchdog.start()
        try:
            interpreter.start()
        except CodeInterpreterError as exc:
            raise SandboxError(f"the sandbox did not start: {exc}") from None
        finally:
            watchdog.cancel()
        if self.memory_mb is not None:
            pid = interpreter.deno_process.pid
            limit = _vm_data_bytes(pid) + self.memory_mb * 2**20
            resource.prlimit(pid, resource.RLIMIT_DATA, (limit, limit))
        self.startup_seconds = time.monotonic() - began
        self.starts += 1
        self._interpreter = interpreter

    def run(self, code: str) -> SandboxRun:
        """Run ``code`` in a fresh namespace: its top-level int/float variables, output, error, wall time.

        ``values`` holds what was defined before an error too; a timeout or crash leaves it empty."""
        if not isinstance(code, str):
            raise TypeError(f"code must be a str of Python source, got {type(code).__name__}")
        from dspy.primitives.code_interpreter import CodeInterpreterError

        with self._guard:
            self._start()
            interpreter = self._interpreter
            timed_out = threading.Event()

            def stop() -> None:
                timed_out.set()
                _kill(interpreter)

            watchdog = threading.Timer(self.timeout_seconds, stop)
            began = time.monotonic()
            watchdog.start()
            try:
                reply = interpreter.execute(f"{_RUN_PROGRAM}\n_sleeptime_run({code!r}, {MAX_STDOUT_CHARS})")
            except (CodeInterpreterError, SyntaxError, RuntimeError) as exc:
                reply = None
                failure = str(exc)
            finally:
                watchdog.cancel()
            seconds = time.monotonic() - began
            if reply is None:
                self._discard()
                if timed_out.is_set():
                    error = f"TimeoutError: the program ran over {self.timeout_seconds:g} s and was stopped"
                else:
                    error = f"SandboxCrash: the sandbox process stopped ({failure.strip()[:500]})"
                return SandboxRun(values={}, stdout="", error=error, seconds=seconds)
            result = json.loads(reply)
            if (result["error"] or "").split(": ", 1)[-1].startswith("MemoryError"):
                self._discard()  # the WebAssembly heap never shrinks: start the next program with a fresh one
            values = {name: value for name, value in result["values"].items()
                      if isinstance(value, int) or math.isfinite(value)}
            return SandboxRun(values=values, stdout=result["stdout"], error=result["error"], seconds=seconds)

    def _discard(self) -> None:
        interpreter, self._interpreter = self._interpreter, None
        if interpreter is not None:
            _kill(interpreter)
            try:
                interpreter.shutdown()
            except Exception:  # noqa: BLE001 - an already dead process has nothing left to shut down
                pass

    def close(self) -> None:
        """Stop the Deno process (a later run starts a new one)."""
        with self._guard:
            self._discard()

    @property
    def pid(self) -> int | None:
        """The running Deno process's id, or None when none runs."""
        process = self._interpreter.deno_process if self._interpreter is not None else None
        return process.pid if process is not None and process.poll() is None else None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _kill(interpreter) -> None:
    process = getattr(interpreter, "deno_process", None)
    if process is not None and process.poll() is None:
        process.kill()


_thread_sandboxes = threading.local()
_all_thread_sandboxes: list[Sandbox] = []


def thread_sandbox(*, timeout_seconds: float = 10.0, memory_mb: int | None = 512) -> Sandbox:
    """The calling thread's sandbox with these bounds, started on first use and closed at exit.

    Modules use this instead of owning a process, so they stay picklable and deep-copyable, and parallel
    evaluation threads each get their own interpreter.
    """
    cache = getattr(_thread_sandboxes, "by_bounds", None)
    if cache is None:
        cache = _thread_sandboxes.by_bounds = {}
    key = (timeout_seconds, memory_mb)
    if key not in cache:
        cache[key] = Sandbox(timeout_seconds=timeout_seconds, memory_mb=memory_mb)
        _all_thread_sandboxes.append(cache[key])
    return cache[key]


@atexit.register
def _close_thread_sandboxes() -> None:
    for sandbox in _all_thread_sandboxes:
        sandbox.close()

