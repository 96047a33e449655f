"""Screenshots of the MLflow UI taken by headless Chromium, and the browser driver the UI test uses.

``python3 -m tools.screenshots --out docs/screens`` starts the MLflow UI on this project's store on
loopback (:mod:`optimize.tracking.ui`), opens it in Debian's ``chromium`` (headless, throwaway profile) and
saves what a reader should see: the runs list with a demo's named child runs, the parent run's overview
(description), the distinct-budget Pareto figure among its artifacts, the chart view comparing its children
and the traces.
``--store DIR`` reads another ``mlruns`` directory; ``--fake-demo`` first fills a temporary store with the
demo run on the deterministic fake engine (plumbing previews only: the fake is not a model, its numbers
mean nothing).

Chromium is driven over the Chrome DevTools protocol, spoken with ``aiohttp`` (already installed: MLflow and
LiteLLM depend on it), so no browser-automation package is needed. The MLflow UI is a React app: a page is
read once the awaited text has rendered.

Example::

    with Chromium() as browser:
        browser.goto("http://127.0.0.1:5000/#/experiments/1/runs")
        browser.wait_for_text("demo-comparison")
        browser.screenshot("runs.png")
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from programs.lm.local import find_free_port

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
    "--disable-dev-shm-usage", "--remote-allow-origins=*",
)


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or a page never showed what was awaited."""


def find_chromium() -> str | None:
    """The path of an installed Chromium (Debian: ``apt-get install chromium``), or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """One headless Chromium with one page, driven over the DevTools protocol (see the module example).

    Example:
        >>> "--headless" in CHROMIUM_FLAGS  # never a window; its profile is a throwaway directory
        True
        >>> with Chromium(width=800, height=600) as browser:  # doctest: +SKIP
        ...     browser.goto("data:text/html,<p>hello</p>")
        ...     browser.wait_for_text("hello")
        'hello'
    """

    def __init__(self, width: int = 1600, height: int = 1000, *, binary: str | None = None) -> None:
        self.binary = binary or find_chromium()
        if self.binary is None:
            raise BrowserError("chromium is not installed; install it with: apt-get install -y chromium")
        self.width, self.height = width, height
        self._profile = tempfile.mkdtemp(prefix="sleeptime-chromium-")
        self._port = find_free_port()
        self._log = open(Path(self._profile) / "chromium.log", "wb")
        self._process = subprocess.Popen(
            [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
             f"--remote-debugging-port={self._port}", "--remote-debugging-address=127.0.0.1",
             f"--window-size={width},{height}", "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self._loop = asyncio.new_event_loop()
        self._session = self._ws = None
        self._next_id = 0
        try:
            self._loop.run_until_complete(self._connect(self._page_websocket_url()))
            self.send("Emulation.setDeviceMetricsOverride",
                      width=width, height=height, deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _page_websocket_url(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrowserError(f"chromium exited with code {self._process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self._port}/json/list", timeout=5) as answer:
                    pages = [t for t in json.load(answer) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.3)
        raise BrowserError(f"chromium's DevTools port {self._port} did not answer within {timeout:.0f} s")

    async def _connect(self, url: str) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(url, max_msg_size=0, timeout=aiohttp.ClientWSTimeout())

    async def _call(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._next_id += 1
        call_id = self._next_id
        await self._ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = await asyncio.wait_for(self._ws.receive(), timeout)
            if message.type != 1:  # aiohttp.WSMsgType.TEXT
                raise BrowserError(f"the DevTools connection closed during {method}")
            data = json.loads(message.data)
            if data.get("id") == call_id:
                if "error" in data:
                    raise BrowserError(f"{method}: {data['error'].get('message')}")
                return data.get("result", {})

    def send(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        """One DevTools command; returns its result."""
        return self._loop.run_until_complete(self._call(method, params, timeout))

    # -- pages --------------------------------------------------------------------------------------------
    def goto(self, url: str) -> None:
        # Through about:blank: a URL differing only in its fragment would not load the app afresh.
        self.send("Page.navigate", url="about:blank")
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"javascript failed: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def text(self) -> str:
        """The page's visible text."""
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, *texts: str, timeout: float = 60.0) -> str:
        """Wait until every one of ``texts`` is visible on the page; returns the page text."""
        deadline = time.monotonic() + timeout
        page = ""
        while time.monotonic() < deadline:
            page = self.text()
            if all(t in page for t in texts):
                return page
            time.sleep(0.5)
        missing = [t for t in texts if t not in page]
        raise BrowserError(f"the page never showed {missing} within {timeout:.0f} s; "
                           f"it showed: {page[:500]!r}")

    def wait_for(self, expression: str, timeout: float = 60.0) -> Any:
        """Wait until a JavaScript expression is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        raise BrowserError(f"the page never satisfied {expression[:120]!r} within {timeout:.0f} s")

    def click_text(self, text: str) -> None:
        """Click the innermost element whose visible text starts with ``text``."""
        script = """(() => {
            const hits = [...document.querySelectorAll('body *')].filter(
                e => (e.innerText || '').trim().startsWith(TEXT) && e.offsetParent !== null);
            const inner = hits.filter(e => !hits.some(o => o !== e && e.contains(o)));
            if (!inner.length) return false;
            inner[0].click();
            return true;
        })()""".replace("TEXT", json.dumps(text))
        if not self.evaluate(script):
            raise BrowserError(f"nothing on the page says {text!r}")

    def screenshot(self, path: str | Path) -> Path:
        """The viewport as a PNG."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    # -- lifetime -----------------------------------------------------------------------------------------
    def close(self) -> None:
        async def _close() -> None:
            if self._ws is not None:
                await self._ws.close()
            if self._session is not None:
                await self._session.close()

        try:
            self._loop.run_until_complete(_close())
        finally:
            self._loop.close()
            # Chromium runs in its own session: end the whole group (renderers, zygote), not just the browser.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self._process.pid, sig)
                    self._process.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
                break
            self._log.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- a demo-like store on the fake engine -------------------------------------------------------------------
def fake_demo_reply(messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
    """A fake-engine responder that answers some questions right (more often with a learned context), so
    previews show differing accuracies. Deterministic; not a model."""
    import hashlib

    from programs.lm.fake_engine import chat_adapter_reply

    text = " ".join(str(m.get("content") or "") for m in messages)
    gold = next((answer for (context, question), answer in _gold_answers().items()
                 if question in text and context in text), "0")
    draw = int(hashlib.sha1(text[-400:].encode()).hexdigest()[:8], 16) / 16**8
    right = draw < (0.7 if "learned_context" in text else 0.35)
    return chat_adapter_reply(learned_context="- the total is computed step by step from the story",
                              reasoning="Multiply, then add the parts.", answer=gold if right else "0")


_GOLD: dict[tuple[str, str], str] = {}  # (context, question) -> answer: templates repeat question texts


def _gold_answers() -> dict[tuple[str, str], str]:
    if not _GOLD:
        from optimize.data.loaders import load_examples

        for split in ("test", "dev"):
            _GOLD.update({(str(e.context), str(e.question)): str(e.answer)
                          for e in load_examples("ours", split=split)})
    return _GOLD


def fill_fake_demo(directory: str | Path, *, name: str = "demo") -> Path:
    """Run ``sleeptime demo`` (2 held-out contexts, a 3-trial search) on the fake engine into
    ``directory/mlruns``; returns that mlruns directory. For tests and UI previews only."""
    from optimize.cli.app import main
    from programs.lm.fake_engine import FakeEngine

    mlruns = Path(directory).resolve() / "mlruns"
    previous = os.environ.get("SLEEPTIME_MLRUNS_DIR")
    os.environ["SLEEPTIME_MLRUNS_DIR"] = str(mlruns)
    try:
        with FakeEngine(fake_demo_reply) as engine:
            code = main(["demo", "--model", f"openai/fake@{engine.api_base}", "--store", ":memory:",
                         "--contexts", "2", "--search-contexts", "1", "--n-trials", "3", "--name", name,
                         "--out", str(Path(directory) / "reports")])
    finally:
        if previous is None:
            os.environ.pop("SLEEPTIME_MLRUNS_DIR", None)
        else:
            os.environ["SLEEPTIME_MLRUNS_DIR"] = previous
    if code != 0:
        raise RuntimeError(f"the fake demo exited with {code}")
    return mlruns


# -- the MLflow UI's pages ----------------------------------------------------------------------------------
@dataclass
class DemoRuns:
    """The ids the screenshots need: the experiment, the demo's parent run, and its children's names.

    Example:
        >>> runs = DemoRuns("1", "abc123", "demo-comparison", {"def456": "sleep k=1 + v0 (0.5B)"}, None)
        >>> view = next(json.loads(v) for k, v in ui_state(runs).items() if k.endswith("ReactComponentState"))
        >>> view["runsExpanded"]
        {'abc123': True}
    """

    experiment_id: str
    parent_run_id: str
    parent_name: str
    children: dict[str, str]  # run id -> run name
    trace_id: str | None  # a trace with the most spans (sleep and test phases), if any was logged


def find_demo_runs(tracking_uri: str, parent_name: str | None = None) -> DemoRuns:
    """The newest parent run named ``parent_name`` (default: a demo comparison, else the newest parent with
    children) in the project's experiment, with its children."""
    from mlflow.tracking import MlflowClient

    from optimize.tracking.runs import DEFAULT_EXPERIMENT, PARENT_RUN_TAG

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(DEFAULT_EXPERIMENT)
    if experiment is None:
        raise BrowserError(f"no experiment {DEFAULT_EXPERIMENT!r} in {tracking_uri}; run "
                           "`python3 -m optimize demo` first (or pass --store DIR)")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    children: dict[str, dict[str, str]] = {}
    for run in runs:
        parent = run.data.tags.get(PARENT_RUN_TAG)
        if parent:
            children.setdefault(parent, {})[run.info.run_id] = run.info.run_name
    parents = [r for r in runs if PARENT_RUN_TAG not in r.data.tags and r.info.run_id in children]
    if parent_name:
        parents = [r for r in parents if r.info.run_name == parent_name]
    else:
        parents = sorted(parents, key=lambda r: not r.info.run_name.endswith("-comparison"))
    if not parents:
        wanted = f"named {parent_name!r} " if parent_name else ""
        raise BrowserError(f"no parent run {wanted}with child runs in {tracking_uri}")
    parent = parents[0]
    return DemoRuns(experiment.experiment_id, parent.info.run_id, parent.info.run_name,
                    children[parent.info.run_id], _richest_trace(client, experiment.experiment_id))


def _richest_trace(client, experiment_id: str) -> str | None:
    """The id of the logged trace with the most spans (one that shows both phases), or None."""
    try:
        traces = client.search_traces(locations=[experiment_id], max_results=200)
    except Exception:  # noqa: BLE001 - a store without trace tables: the traces pages are skipped
        return None

    def spans(trace) -> int:
        stats = trace.info.trace_metadata.get("mlflow.trace.sizeStats") or "{}"
        return int(json.loads(stats).get("num_spans", 0))

    return max(traces, key=spans).info.trace_id if len(traces) else None


def ui_state(runs: DemoRuns, *, only_children: bool = False) -> dict[str, str]:
    """``localStorage`` entries that set the UI up as a reader should first see it: the "Model training"
    view, the assistant panel closed, the demo's parent expanded, accuracy/tokens/cost columns shown (or
    only its children listed)."""
    columns = ["attributes.`Dataset`"] + [f"metrics.`{m}`" for m in ("accuracy", "mean_test_tokens",
                                                                     "mean_sleep_tokens_amortized",
                                                                     "cost_per_query")]
    view = {
        "searchFilter": f"tags.`mlflow.parentRunId` = '{runs.parent_run_id}'" if only_children else "",
        "orderByKey": "attributes.start_time", "orderByAsc": True, "startTime": "ALL",
        "lifecycleFilter": "Active", "datasetsFilter": [], "modelVersionFilter": "All Runs",
        "selectedColumns": columns, "runsExpanded": {runs.parent_run_id: True},
        # The UI applies stored widths only to the columns named in columnOrder.
        "columnOrder": ["attributes.`Run Name`", "runDateAndNestInfo", "attributes.`Dataset`", "duration",
                        *columns[1:]],
        "columnWidths": {"attributes.`Run Name`": 250, "runDateAndNestInfo": 150, "attributes.`Dataset`": 240,
                         **{c: 130 for c in columns[1:]}},
        "runsHiddenMode": "FIRST_20_RUNS", "hideEmptyCharts": True,
    }
    page_state = f'MLflowLocalStorage-1.1-ExperimentPage-["{runs.experiment_id}"]-ReactComponentState'
    return {
        "mlflow.workflowType_v1": json.dumps("machine_learning"),  # the "Model training" view, not "GenAI"
        "mlflow.assistant.panelOpen_v1": "false",
        "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
        "mlflow.detectIssues.guidanceShown_v1": "true",
        page_state: json.dumps(view),
    }


def open_page(browser: Chromium, base_url: str, fragment: str, state: dict[str, str], *waits: str,
              timeout: float = 90.0, settle: float = 2.0) -> str:
    """Open ``base_url/#/fragment`` with ``state`` in localStorage; wait until ``waits`` are shown."""
    browser.goto(f"{base_url}/health")
    browser.evaluate(f"(() => {{const s = {json.dumps(state)}; "
                     "for (const k in s) localStorage.setItem(k, s[k]); return 1})()")
    browser.goto(f"{base_url}/#/{fragment}")
    browser.wait_for_text(*waits, timeout=timeout)
    time.sleep(settle)  # charts and images finish drawing after their text appears
    return browser.text()


# The artifact viewer shows a PNG as a blob: URL image once it has been fetched and decoded.
PREVIEW_SHOWN = ("[...document.images].some(i => i.complete && i.naturalWidth >= 300 "
                 "&& i.src.startsWith('blob:'))")


@contextmanager
def running_ui(mlruns: str | Path, timeout: float = 300.0) -> Iterator[str]:
    """The MLflow UI on ``mlruns/mlflow.db`` on loopback (a child process group); yields its base URL."""
    from optimize.tracking.ui import start_ui

    mlruns = Path(mlruns).resolve()
    handle = start_ui(tracking_uri=f"sqlite:///{mlruns / 'mlflow.db'}", artifact_root=mlruns / "artifacts")
    try:
        handle.wait_ready(timeout=timeout)
        yield handle.url
    finally:
        handle.stop()


def take_screenshots(base_url: str, runs: DemoRuns, out: str | Path) -> list[Path]:
    """The screenshots a reader should see, written to ``out``; returns their paths."""
    out = Path(out)
    child_names = sorted(runs.children.values())
    experiment = f"experiments/{runs.experiment_id}"
    run = f"{experiment}/runs/{runs.parent_run_id}"
    shots = []
    with Chromium() as browser:
        listing = ui_state(runs)
        open_page(browser, base_url, f"{experiment}/runs", listing, runs.parent_name, *child_names)
        shots.append(browser.screenshot(out / "1-runs-list.png"))
        open_page(browser, base_url, run, listing, runs.parent_name, "Description")
        shots.append(browser.screenshot(out / "2-parent-run.png"))
        open_page(browser, base_url, f"{run}/artifacts/pareto_front.png", listing, "pareto_front.png")
        browser.wait_for(PREVIEW_SHOWN)
        shots.append(browser.screenshot(out / "3-pareto-figure.png"))
        children = ui_state(runs, only_children=True)
        open_page(browser, base_url, f"{experiment}/runs?compareRunsMode=CHART", children, *child_names,
                  settle=4.0)
        shots.append(browser.screenshot(out / "4-chart-view.png"))
        if runs.trace_id:
            open_page(browser, base_url, f"{experiment}/traces", listing, "Traces", "Input", settle=4.0)
            shots.append(browser.screenshot(out / "5-traces.png"))
            open_page(browser, base_url, f"{experiment}/traces?traceId={runs.trace_id}", listing,
                      "Spans", "sleep call", settle=3.0)
            browser.click_text("sleep call")  # what the model read and wrote while making the learned context
            browser.wait_for_text("Inputs", "Outputs")
            time.sleep(2.0)
            shots.append(browser.screenshot(out / "6-trace-detail.png"))
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tools.screenshots",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/screens", help="where the PNG files go")
    parser.add_argument("--store", help="the mlruns directory to show (default: $SLEEPTIME_MLRUNS_DIR "
                        "or ./mlruns)")
    parser.add_argument("--parent", help="name of the parent run to show (default: the newest demo "
                        "comparison)")
    parser.add_argument("--fake-demo", action="store_true",
                        help="first fill a temporary store with the demo on the fake engine (previews only)")
    args = parser.parse_args(argv)
    from optimize.tracking.runs import default_mlruns_dir

    if find_chromium() is None:
        print("error: chromium is not installed; install it with: apt-get install -y chromium",
              file=sys.stderr)
        return 2
    scratch = tempfile.mkdtemp(prefix="sleeptime-screens-") if args.fake_demo else None
    try:
        mlruns = fill_fake_demo(scratch) if scratch else Path(args.store or default_mlruns_dir())
        if not (Path(mlruns) / "mlflow.db").exists():
            print(f"error: no MLflow store at {mlruns}/mlflow.db; pass --store DIR or run the demo first",
                  file=sys.stderr)
            return 2
        runs = find_demo_runs(f"sqlite:///{Path(mlruns).resolve() / 'mlflow.db'}", args.parent)
        with running_ui(mlruns) as url:
            for path in take_screenshots(url, runs, args.out):
                print(f"{path}  ({path.stat().st_size // 1024} KB)")
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
