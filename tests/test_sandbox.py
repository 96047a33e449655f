"""The sandbox for model-written code: each restriction is proved by a program that tries to break it.

These tests run the real Deno + Pyodide runtime (``deno`` comes with the [local] extra; Pyodide is fetched
from the npm registry into the cache on first use). Never skipped: without Deno the sandbox cannot work.
"""

from __future__ import annotations

import os
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from programs.sandbox import Sandbox, SandboxRun

NOT_CAPABLE = "NotCapable"  # Deno's error for an operation its permissions deny


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(timeout_seconds=5, memory_mb=128) as sandbox:
        yield sandbox


def run(sandbox: Sandbox, code: str) -> SandboxRun:
    return sandbox.run(textwrap.dedent(code))


def assert_usable(sandbox: Sandbox) -> None:
    after = sandbox.run("still_working = 6 * 7")
    assert after.error is None and after.values == {"still_working": 42}


def test_values_are_the_top_level_numbers_the_program_defined(sandbox):
    result = run(sandbox, """
        eggs_per_day = 16
        price = 2.5
        is_open = True
        label = "market"
        _scratch = 99
        def helper(n):
            local_only = n * 2
            return local_only
        revenue = helper(eggs_per_day) * price
        print("revenue", revenue)
    """)
    assert result.error is None
    assert result.values == {"eggs_per_day": 16, "price": 2.5, "revenue": 80.0}
    assert result.stdout == "revenue 80.0\n"
    assert result.seconds > 0


def test_each_run_starts_from_a_fresh_namespace_in_the_same_process(sandbox):
    sandbox.run("leftover = 5")
    pid = sandbox.pid
    result = sandbox.run("seen = leftover")
    assert result.error == "line 1: NameError: name 'leftover' is not defined"
    assert sandbox.pid == pid  # a program's error does not cost a restart


def test_a_syntax_error_is_reported_with_its_line(sandbox):
    result = sandbox.run("total = 3\ntotal = (4 +\n")
    assert result.error.startswith("line 2: SyntaxError")
    assert result.values == {}


def test_reading_a_host_file_fails(sandbox, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the host's secret")
    for code in (f"text = open({str(secret)!r}).read()",
                 "text = open('/etc/passwd').read()",
                 f"import js\ntext = js.Deno.readTextFileSync({str(secret)!r})",
                 "import js\ntext = js.Deno.readTextFileSync('/etc/passwd')"):
        result = sandbox.run(code + "\nprint(text)")
        assert result.error is not None, code
        assert "secret" not in result.stdout and "root:" not in result.stdout
    assert NOT_CAPABLE in result.error  # the JavaScript bridge meets Deno's read permission


def test_writing_a_host_file_fails(sandbox, tmp_path):
    target = tmp_path / "written.txt"
    direct = sandbox.run(f"open({str(target)!r}, 'w').write('escaped')")
    bridge = sandbox.run(f"import js\njs.Deno.writeTextFileSync({str(target)!r}, 'escaped')")
    assert direct.error is not None and "FileNotFoundError" in direct.error  # not in the in-memory FS
    assert bridge.error is not None and NOT_CAPABLE in bridge.error
    assert not target.exists()
    # Pyodide's own /tmp is in memory: a write there succeeds inside and never reaches the host.
    name = f"sleeptime-sandbox-probe-{os.getpid()}.txt"
    inside = sandbox.run(f"open('/tmp/{name}', 'w').write('x')")
    assert inside.error is None and not (Path("/tmp") / name).exists()


def test_a_network_connection_fails(sandbox):
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"reached")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}/probe"
    try:
        attempts = {
            "fetch": "from pyodide.ffi import run_sync\nimport js\n"
                     f"body = run_sync(run_sync(js.fetch({url!r})).text())",
            "urllib": f"import urllib.request\nbody = urllib.request.urlopen({url!r}).read()",
            "socket": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)",
        }
        results = {name: sandbox.run(code + "\nprint(body)" if name != "socket" else code)
                   for name, code in attempts.items()}
    finally:
        server.shutdown()
        server.server_close()
    assert all(result.error is not None for result in results.values()), results
    assert all("reached" not in result.stdout for result in results.values())
    assert "net access" in results["fetch"].error  # refused by Deno's net permission, not by chance
    assert requests == []


def test_the_environment_is_not_visible(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEPTIME_SANDBOX_SECRET", "hunter2-do-not-leak")
    with Sandbox(timeout_seconds=5, memory_mb=128) as fresh:  # started after the secret is set
        python = fresh.run("import os\nnames = sorted(os.environ)\nprint(dict(os.environ))")
        bridge = fresh.run("import js\nprint(js.Deno.env.get('SLEEPTIME_SANDBOX_SECRET'))")
        proc = fresh.run("import js\nprint(js.Deno.readTextFileSync('/proc/self/environ'))")
    assert python.error is None
    assert "SLEEPTIME_SANDBOX_SECRET" not in python.stdout and "hunter2" not in python.stdout
    assert bridge.error is not None and NOT_CAPABLE in bridge.error and "hunter2" not in bridge.stdout
    assert proc.error is not None and "hunter2" not in proc.stdout


def test_subprocesses_and_permission_prompts_are_refused(sandbox):
    spawn = sandbox.run("import js\nout = js.Deno.Command.new('/usr/bin/id').outputSync()")
    assert spawn.error is not None and NOT_CAPABLE in spawn.error
    request = sandbox.run("""
import js
status = js.Deno.permissions.requestSync(js.JSON.parse('{"name": "read"}')).state
granted = int(status == "granted")
""")
    assert request.values.get("granted", 0) == 0


def test_an_infinite_loop_is_stopped_by_the_timeout(sandbox):
    result = sandbox.run("count = 0\nwhile True:\n    count += 1")
    assert result.error is not None and result.error.startswith("TimeoutError")
    assert 5 <= result.seconds < 20
    assert_usable(sandbox)


def test_a_memory_bomb_is_stopped_by_the_memory_bound():
    # A generous timeout: a refused WebAssembly grow makes V8 collect garbage and retry, which takes seconds
    # on a busy machine, and this test is about memory, not time.
    sandbox = Sandbox(timeout_seconds=60, memory_mb=128)
    result = run(sandbox, """
        hoard = []
        try:
            while True:
                hoard.append(bytearray(16 * 2**20))
        finally:
            held_mb = 16 * len(hoard)
    """)
    assert result.error is not None
    # The bound stops the bomb one of two ways, depending on when V8 gives up: Pyodide's refused grow is a
    # MemoryError the program sees, or the runtime dies at its cap and the sandbox reports the crash.
    assert "MemoryError" in result.error or "SandboxCrash" in result.error, result.error
    if "MemoryError" in result.error:
        # 128 MB of growth plus the free part of the heap Pyodide starts with; unbounded, it reaches 4 GB
        assert result.values["held_mb"] <= 128 + 64
    assert_usable(sandbox)  # either way the next program runs
    sandbox.close()


def test_a_program_that_kills_its_runtime_is_reported_and_the_sandbox_rebuilt(sandbox):
    assert_usable(sandbox)
    starts = sandbox.starts
    result = sandbox.run("import js\njs.Deno.exit(3)")
    assert result.error is not None
    assert_usable(sandbox)
    assert sandbox.starts == starts + 1


def test_close_stops_the_process():
    sandbox = Sandbox(timeout_seconds=5, memory_mb=128)
    sandbox.start()
    pid = sandbox.pid
    assert pid is not None and Path(f"/proc/{pid}").exists()
    sandbox.close()
    assert sandbox.pid is None
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.parametrize("bad", [{"timeout_seconds": 0}, {"memory_mb": 1}])
def test_bad_bounds_are_refused(bad):
    with pytest.raises(ValueError, match="must be"):
        Sandbox(**bad)
