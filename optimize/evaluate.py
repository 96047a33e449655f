"""Run a program over examples: one scored row per question, written as it finishes, resumable.

Questions are grouped by context and the first question of each context runs before its siblings, so the
learned context is made once and the siblings find it in the store. Each worker opens a ledger scope per
example, so the tokens in a row are exactly the calls made for that row, in either phase.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
import warnings
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd

from programs.answers import extract_number, is_correct
from programs.lm.ledger import TokenLedger

COLUMNS = [
    "context_id", "question_id", "template_id", "level", "predictability", "question", "gold", "prediction",
    "extracted", "correct", "error", "test_prompt_tokens", "test_completion_tokens", "test_tokens",
    "sleep_prompt_tokens", "sleep_completion_tokens", "sleep_tokens", "sleep_tokens_spent", "store_hit",
    "test_seconds", "sleep_seconds", "seconds",
]
META_FIELDS = ("context_id", "question_id", "template_id", "level", "predictability")


def _key(example) -> str:
    qid = example.get("question_id")
    if qid is None:
        raise ValueError("every example needs a question_id to be evaluated and resumed; load examples with "
                         "optimize.data.loaders.load_examples, or set question_id on each dspy.Example")
    return str(qid)


def _context_group(example) -> str:
    cid = example.get("context_id")
    return str(cid) if cid is not None else "text:" + str(hash(example.get("context")))


def read_results(path: str | os.PathLike) -> list[dict]:
    """Rows already written to a results JSONL file (a torn last line from an interrupted run is skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                warnings.warn(f"{path}:{number} is not a complete JSON row (interrupted write?); it will be "
                              "redone", stacklevel=2)
    return rows


def score_row(example, prediction, error: str | None, scope, seconds: float) -> dict[str, Any]:
    """One results row: the example's identity, the answer and its score, and the tokens of both phases."""
    test, spent = scope.usage("test"), scope.usage("sleep")
    answer = None if prediction is None else prediction.get("answer")
    extracted = extract_number(answer) if answer is not None else None
    gold = example.get("answer")
    cost = prediction.get("sleep_cost") if prediction is not None else None
    if cost is None and spent.calls:  # the sleep phase ran (and perhaps failed) before an error
        cost = {"prompt_tokens": spent.prompt_tokens, "completion_tokens": spent.completion_tokens,
                "seconds": spent.seconds}
    cost = cost or {"prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}
    row = {name: example.get(name) for name in META_FIELDS}
    row.update(
        question=example.get("question"), gold=gold, prediction=answer, extracted=extracted,
        correct=bool(error is None and extracted is not None and is_correct(answer, gold)), error=error,
        test_prompt_tokens=test.prompt_tokens, test_completion_tokens=test.completion_tokens,
        test_tokens=test.total_tokens, sleep_prompt_tokens=int(cost["prompt_tokens"]),
        sleep_completion_tokens=int(cost["completion_tokens"]),
        sleep_tokens=int(cost["prompt_tokens"]) + int(cost["completion_tokens"]),
        sleep_tokens_spent=spent.total_tokens,
        store_hit=bool(prediction.get("store_hit")) if prediction is not None else False,
        test_seconds=test.seconds, sleep_seconds=float(cost["seconds"]), seconds=seconds,
    )
    return row


def evaluate(program, examples, *, ledger: TokenLedger, num_threads: int = 1,
             results_path: str | os.PathLike | None = None, progress: bool = True,
             retry_errors: bool = False) -> pd.DataFrame:
    """Answer and score every example; rows go to ``results_path`` (JSONL) as they finish.

    Re-running with the same ``results_path`` skips questions already there (``retry_errors=True`` redoes
    rows that ended in an error). An LM failure after retries becomes a row with ``error`` set and
    ``correct=False``; an answer with no number is scored wrong. Programs with ``needs_gold`` (the pass@k
    oracle) are called with ``gold=``.

    Example::

        ledger = TokenLedger()
        program = programs.build_program(Budget(test_verbosity=2), ledger=ledger)
        frame = evaluate(program, examples, ledger=ledger, num_threads=4, results_path="results.jsonl")
    """
    from tqdm.auto import tqdm

    if num_threads < 1:
        raise ValueError(f"num_threads must be at least 1, got {num_threads}")
    examples = list(examples)
    keys = [_key(example) for example in examples]
    if len(set(keys)) != len(keys):
        raise ValueError("question_id values repeat in the examples; each question needs its own id to be "
                         "resumed (check the loader or de-duplicate)")
    finished: dict[str, dict] = {}
    if results_path is not None:
        for row in read_results(results_path):
            if row.get("question_id") is not None and not (retry_errors and row.get("error")):
                finished[str(row["question_id"])] = row
    pending = [example for key, example in zip(keys, examples, strict=True) if key not in finished]

    groups: OrderedDict[str, list] = OrderedDict()
    for example in pending:
        groups.setdefault(_context_group(example), []).append(example)

    write_lock = threading.Lock()
    handle = None
    if results_path is not None:
        Path(results_path).parent.mkdir(parents=True, exist_ok=True)
        torn = False
        if Path(results_path).exists() and Path(results_path).stat().st_size > 0:
            with open(results_path, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                torn = existing.read(1) != b"\n"  # an interrupted run's partial line: start on a fresh one
        handle = open(results_path, "a", encoding="utf-8")  # closed in finally
        if torn:
            handle.write("\n")
    needs_gold = bool(getattr(program, "needs_gold", False))

    def run_one(example) -> dict:
        started = time.perf_counter()
        with ledger.scope() as scope:
            try:
                kwargs = {"context": example.get("context"), "question": example.get("question")}
                if needs_gold:
                    kwargs["gold"] = example.get("answer")
                prediction, error = program(**kwargs), None
            except Exception as exc:  # an LM or parse failure is a counted, scored-wrong row, never dropped
                prediction, error = None, f"{type(exc).__name__}: {exc}"[:2000]
        return score_row(example, prediction, error, scope, time.perf_counter() - started)

    new_rows: dict[str, dict] = {}
    bar = tqdm(total=len(pending), desc="evaluate", unit="q", disable=not progress)
    try:
        with ThreadPoolExecutor(max_workers=num_threads) as pool:
            running: dict[Future, Any] = {}

            def submit(example) -> None:
                # Each task runs in a copy of this context: ledger scopes opened by the caller see it.
                running[pool.submit(contextvars.copy_context().run, run_one, example)] = example

            waiting = {group: members[1:] for group, members in groups.items()}
            for members in groups.values():
                submit(members[0])
            while running:
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    example = running.pop(future)
                    row = future.result()
                    new_rows[_key(example)] = row
                    if handle is not None:
                        with write_lock:
                            handle.write(json.dumps(row, default=str) + "\n")
                            handle.flush()
                    bar.update(1)
                    if not row["correct"] and row["error"]:
                        bar.set_postfix(errors=sum(1 for r in new_rows.values() if r["error"]))
                    for sibling in waiting.pop(_context_group(example), []):
                        submit(sibling)
    finally:
        bar.close()
        if handle is not None:
            handle.close()

    rows = [new_rows.get(key) or finished.get(key) for key in keys]
    return pd.DataFrame([row for row in rows if row is not None], columns=COLUMNS)
