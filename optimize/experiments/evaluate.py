"""Run a program over examples: one scored row per question, written as it finishes, resumable.

Questions are grouped by context. Serially, the first question of each context runs before its siblings,
so the learned context is made once and the siblings find it in the store. With several threads the sleep
phase of every context is queued first and each context's questions are queued together as soon as its
learned context exists (the server's prompt-prefix cache is reused); the rows are the same as serially.
Each worker opens a ledger scope per example, so the tokens in a row are exactly the calls made for that
row, in either phase (a learned context made ahead is charged to its context's first question).

A results file is tied to one configuration (``config``: budget, models, prompts, data file and its hash):
resuming it under another configuration raises :class:`optimize.errors.ResumeMismatchError`.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd

from optimize.errors import ResumeMismatchError
from optimize.experiments.server_settings import (
    SERVER_KEY,
    comparable,
    describe,
    program_server_settings,
    recorded_settings,
)
from optimize.reports.metrics import is_failed_row
from optimize.reports.rows import read_results
from programs.answers import extract_number, is_correct, states_number
from programs.lm.ledger import LedgerScope, TokenLedger
from programs.redact import redact

COLUMNS = [
    "context_id", "question_id", "template_id", "level", "predictability", "question", "gold", "prediction",
    "extracted", "correct", "error", "test_prompt_tokens", "test_completion_tokens", "test_tokens",
    "sleep_prompt_tokens", "sleep_completion_tokens", "sleep_tokens", "sleep_tokens_spent", "store_hit",
    "test_seconds", "sleep_seconds", "seconds", "truncated", "parse_error", "reply_correct",
    "learned_context", "notes_state_gold", "config_id",
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


def _truncated(call) -> bool:
    """A call cut off at its token cap (``LMCall.truncated`` once the LM layer reports finish reasons)."""
    return bool(getattr(call, "truncated", False) or getattr(call, "finish_reason", None) == "length")


def adapter_parse_error(exc: BaseException | None) -> BaseException | None:
    """DSPy's adapter parse error behind ``exc`` (``exc`` itself or an exception it came from), else None:
    a reply with no parseable fields, e.g. one cut off at the token cap."""
    seen = 0
    while exc is not None and seen < 10:  # the adapter's error may be wrapped by the program or a retry
        if any(cls.__name__ == "AdapterParseError" for cls in type(exc).__mro__):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def is_parse_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it came from) is DSPy's adapter parse error."""
    return adapter_parse_error(exc) is not None


def unparsed_reply(exc: BaseException | None) -> str | None:
    """The raw LM reply an adapter could not parse (``AdapterParseError.lm_response``), else None."""
    reply = getattr(adapter_parse_error(exc), "lm_response", None)
    return reply if isinstance(reply, str) else None


def score_row(example, prediction, error: str | None, scope, seconds: float, *,
              parse_error: bool = False, reply: str | None = None) -> dict[str, Any]:
    """One results row: the example's identity, the answer and its score, and the tokens of both phases.

    ``truncated``: a test-phase call of this row hit its token cap; ``parse_error``: the adapter could not
    parse the reply (``error`` says so too). Both are reported beside ``correct``, never folded into it.
    ``reply_correct``: for an unparsed ``reply``, whether the final number it states (the one scoring
    reader) equals gold, so a table can say what a lenient reading would have scored; None otherwise.
    ``learned_context`` is the notes the answer read (None without a sleep phase) and ``notes_state_gold``
    whether any number in them equals gold, so the notes' coverage can be recomputed from the rows.
    """
    test, spent = scope.usage("test"), scope.usage("sleep")
    answer = None if prediction is None else prediction.get("answer")
    extracted = extract_number(answer) if answer is not None else None
    gold = example.get("answer")
    cost = prediction.get("sleep_cost") if prediction is not None else None
    if cost is None and spent.calls:  # the sleep phase ran (and perhaps failed) before an error
        cost = {"prompt_tokens": spent.prompt_tokens, "completion_tokens": spent.completion_tokens,
                "seconds": spent.seconds}
    cost = cost or {"prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}
    notes = prediction.get("learned_context") if prediction is not None else None
    row = {name: example.get(name) for name in META_FIELDS}
    row.update(
        question=example.get("question"), gold=gold, prediction=answer, extracted=extracted,
        correct=bool(error is None and extracted is not None and is_correct(answer, gold)),
        error=None if error is None else redact(error),  # an endpoint URL in a message may hold a password
        test_prompt_tokens=test.prompt_tokens, test_completion_tokens=test.completion_tokens,
        test_tokens=test.total_tokens, sleep_prompt_tokens=int(cost["prompt_tokens"]),
        sleep_completion_tokens=int(cost["completion_tokens"]),
        sleep_tokens=int(cost["prompt_tokens"]) + int(cost["completion_tokens"]),
        sleep_tokens_spent=spent.total_tokens,
        store_hit=bool(prediction.get("store_hit")) if prediction is not None else False,
        test_seconds=test.seconds, sleep_seconds=float(cost["seconds"]), seconds=seconds,
        truncated=any(_truncated(call) for call in scope.calls if call.phase == "test"),
        parse_error=parse_error or bool(prediction is not None and prediction.get("answer_failed")),
        reply_correct=is_correct(reply, gold) if parse_error and reply is not None else None,
        learned_context=notes, notes_state_gold=states_number(notes, gold),
    )
    return row



# ---- the configuration a results file belongs to ----

def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (the data file identity of a results file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prompt_hash(program) -> str:
    """A short hash of a program's prompts: every predictor's instructions, fields and demos.

    Two programs with the same hash send the same prompts (compiled or not), whatever LM they are bound to.
    """
    parts = []
    named = program.named_predictors() if hasattr(program, "named_predictors") else []
    for name, predictor in named:
        state = predictor.dump_state()
        parts.append({"name": name, "signature": state.get("signature"), "demos": state.get("demos")})
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_config(program, *, data: dict | None = None, api_base: str | None = None,
               **settings: Any) -> dict[str, Any]:
    """The identity of an evaluation, for ``evaluate(config=...)``: what determines a row's result.

    Budget (sleep fields dropped for a test-time-only run; the compiled path replaced by the prompt hash),
    models and ``api_base`` redacted, the program class, ``settings`` (adapter, baseline, sampler seed, ...)
    and ``data`` (e.g. ``{"source": ..., "sha256": ...}``). Thread count, retries and ``--n`` are left out:
    they do not change a row.

    Example::

        config = run_config(program, data={"source": "ours", "sha256": file_sha256("data/x.jsonl")})
        evaluate(program, examples, ledger=ledger, results_path="out.jsonl", config=config)
    """
    budget = getattr(program, "budget", None)
    budget_dict = dict(budget.to_dict()) if budget is not None else {}
    budget_dict.pop("compiled", None)
    resolved = getattr(budget, "resolved_test_max_tokens", None)
    if resolved is not None:
        budget_dict["test_max_tokens"] = resolved
    if budget_dict and not budget_dict.get("use_sleep", True):
        budget_dict = {k: v for k, v in budget_dict.items() if not k.startswith("sleep_")}
    budget_dict = {k: redact(v) if isinstance(v, str) else v for k, v in budget_dict.items()}
    config = {"program": type(program).__name__, "budget": budget_dict, "prompts": prompt_hash(program),
              "api_base": redact(api_base) if api_base else None, "data": data or {}}
    config.update({k: (redact(v) if isinstance(v, str) else v) for k, v in settings.items()})
    return config


def config_id(config: dict) -> str:
    """A short stable id of a configuration (written in every row as ``config_id``)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _config_path(results_path: str | os.PathLike) -> Path:
    return Path(str(results_path) + ".config.json")


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Readable differences between two configurations: changed values first, then fields only one has."""
    changed, only = [], []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _differences(a, b, f"{prefix}{key}.")
        elif key not in old or key not in new:
            only.append(f"{prefix}{key}")
        elif a != b:
            changed.append(f"{prefix}{key} {a!r} -> {b!r}")
    return changed + ([f"fields in only one of them: {', '.join(only)}"] if only else [])


def check_resume(results_path: str | os.PathLike, rows: list[dict], config: dict) -> None:
    """Refuse to resume ``results_path`` if any of its rows was written under another configuration."""
    wanted = config_id(config)
    foreign = [row for row in rows if row.get("config_id") != wanted]
    if not foreign:
        return
    saved = _config_path(results_path)
    detail = ""
    if saved.exists():
        try:
            recorded = {k: v for k, v in json.loads(saved.read_text()).items() if k != SERVER_KEY}
            detail = "; it differs in " + "; ".join(_differences(recorded, config)[:8])
        except (OSError, json.JSONDecodeError):
            detail = ""
    elif any(row.get("config_id") is None for row in foreign):
        detail = "; its rows record no configuration (written by an older version)"
    raise ResumeMismatchError(redact(
        f"{results_path} holds {len(foreign)} row(s) of another configuration{detail}. Its rows would be "
        "reported as this run's: write to a new --out file, or delete it to start over"))


def _write_config(results_path: str | os.PathLike, config: dict, *, fresh: bool,
                  server: dict | None = None) -> None:
    """Write the configuration beside the results (``fresh``: no rows yet, so replace any old file), with
    the server settings the rows are made under (:mod:`optimize.experiments.server_settings`; not part of
    the id)."""
    path = _config_path(results_path)
    if fresh or not path.exists():
        payload = {**config, **({SERVER_KEY: server} if server is not None else {})}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def check_same_server(results_path: str | os.PathLike, rows: list[dict], server: dict | None) -> None:
    """Refuse to add rows made under other server settings (slots, speculative decoding) to a file whose
    rows recorded theirs: the file would mix two conditions under one configuration."""
    recorded = recorded_settings(results_path)
    if not rows or recorded is None or server is None or comparable(recorded, server):
        return
    raise ResumeMismatchError(
        f"{results_path} holds rows made at {describe(recorded)}; this run's server has {describe(server)}. "
        f"Set $SLEEPTIME_LOCAL_SLOTS / $SLEEPTIME_LOCAL_SPECULATIVE as before, or write to a new --out file")


# ---- evaluation ----

def _presleep_possible(program, num_threads: int) -> bool:
    """Sleep all contexts ahead only with several threads and a program that has a sleep phase."""
    return (num_threads > 1 and callable(getattr(type(program), "sleep_phase", None))
            and getattr(program, "rewriter", None) is not None)


def evaluate(program, examples, *, ledger: TokenLedger, num_threads: int = 1,
             results_path: str | os.PathLike | None = None, progress: bool = True,
             config: dict | None = None, retry_errors: bool = True) -> pd.DataFrame:
    """Answer and score every example; rows go to ``results_path`` (JSONL) as they finish.

    Re-running with the same ``results_path`` skips questions already there; rows that ended in an error are
    redone (``retry_errors=False`` keeps them) and the frame's ``attrs["retried"]`` lists them. With
    ``config`` (see :func:`run_config`) every row carries its ``config_id`` and a file written under another
    configuration is refused (:class:`optimize.errors.ResumeMismatchError`) before any work. An LM failure
    after retries becomes a row with ``error`` set and ``correct=False``; an answer with no number is scored
    wrong. Programs with ``needs_gold`` (the pass@k oracle) are called with ``gold=``.

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
    wanted_id = config_id(config) if config is not None else None
    server = program_server_settings(program)
    finished: dict[str, dict] = {}
    retried: list[str] = []
    previous: list[dict] = []
    if results_path is not None:
        previous = read_results(results_path)
        if config is not None:
            check_resume(results_path, previous, config)
        check_same_server(results_path, previous, server)
        for row in previous:
            if row.get("question_id") is not None:
                finished[str(row["question_id"])] = row  # a later row of a question replaces an earlier one
        if retry_errors:
            wanted = set(keys)
            retried = [qid for qid, row in finished.items()
                       if is_failed_row(row) and qid in wanted]
            for qid in retried:
                del finished[qid]
            if retried and progress:
                shown = ", ".join(retried[:10]) + (" ..." if len(retried) > 10 else "")
                tqdm.write(f"evaluate: retrying {len(retried)} row(s) that failed before: {shown}")
    pending = [example for key, example in zip(keys, examples, strict=True) if key not in finished]

    groups: OrderedDict[str, list] = OrderedDict()
    for example in pending:
        groups.setdefault(_context_group(example), []).append(example)

    write_lock = threading.Lock()
    handle = None
    if results_path is not None:
        Path(results_path).parent.mkdir(parents=True, exist_ok=True)
        if config is not None or server is not None:
            _write_config(results_path, config or {}, fresh=not previous, server=server)
        torn = False
        if Path(results_path).exists() and Path(results_path).stat().st_size > 0:
            with open(results_path, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                torn = existing.read(1) != b"\n"  # an interrupted run's partial line: start on a fresh one
        handle = open(results_path, "a", encoding="utf-8")  # closed in finally
        if torn:
            handle.write("\n")
    needs_gold = bool(getattr(program, "needs_gold", False))
    presleep = _presleep_possible(program, num_threads)
    made_ahead: dict[str, tuple[LedgerScope, Any, BaseException | None]] = {}  # first example key -> sleep

    def run_one(example) -> dict:
        started = time.perf_counter()
        ahead = made_ahead.pop(_key(example), None)
        if ahead is not None and ahead[2] is not None:  # making its learned context failed: the row's error
            exc = ahead[2]
            return score_row(example, None, f"{type(exc).__name__}: {exc}"[:2000], ahead[0],
                             time.perf_counter() - started, parse_error=is_parse_error(exc),
                             reply=unparsed_reply(exc))
        with ledger.scope() as scope:
            try:
                kwargs = {"context": example.get("context"), "question": example.get("question")}
                if needs_gold:
                    kwargs["gold"] = example.get("answer")
                prediction, error, failure = program(**kwargs), None, None
            except Exception as exc:  # an LM or parse failure is a counted, scored-wrong row, never dropped
                prediction, error, failure = None, f"{type(exc).__name__}: {exc}"[:2000], exc
        if ahead is not None:  # this row's context was made ahead: charge it here, as a serial run would
            merged = LedgerScope()
            merged.calls = list(ahead[0].calls) + list(scope.calls)
            scope = merged
        row = score_row(example, prediction, error, scope, time.perf_counter() - started,
                        parse_error=is_parse_error(failure), reply=unparsed_reply(failure))
        if ahead is not None and ahead[1] is not None and not ahead[1].store_hit:
            row["store_hit"] = False
        return row

    def sleep_one(example) -> None:
        with ledger.scope() as scope:
            try:
                made, failure = program.sleep_phase(example.get("context")), None
            except Exception as exc:  # recorded as the first question's error row
                made, failure = None, exc
        made_ahead[_key(example)] = (scope, made, failure)

    new_rows: dict[str, dict] = {}
    position = {key: index for index, key in enumerate(keys)}
    # A resumed run with nothing left to answer shows no "evaluate: 0q" bar.
    bar = tqdm(total=len(pending), desc="evaluate", unit="q", disable=not progress or not pending)
    try:
        pool = ThreadPoolExecutor(max_workers=num_threads)
        try:
            running: dict[Future, tuple[str, Any]] = {}

            def submit(kind: str, example) -> None:
                # Each task runs in a copy of this context: ledger scopes opened by the caller see it.
                task = run_one if kind == "answer" else sleep_one
                running[pool.submit(contextvars.copy_context().run, task, example)] = (kind, example)

            if presleep:  # every context's sleep phase first; then each context's questions together
                waiting = {group: list(members) for group, members in groups.items()}
                for members in groups.values():
                    submit("sleep", members[0])
            else:  # the first question of a context makes its learned context; siblings follow it
                waiting = {group: members[1:] for group, members in groups.items()}
                for members in groups.values():
                    submit("answer", members[0])
            while running:
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: position[_key(running[f][1])]):
                    kind, example = running.pop(future)
                    if kind == "answer":
                        row = future.result()
                        if wanted_id is not None:
                            row["config_id"] = wanted_id
                        new_rows[_key(example)] = row
                        if handle is not None:
                            with write_lock:
                                handle.write(json.dumps(row, default=str) + "\n")
                                handle.flush()
                        bar.update(1)
                        if row["error"]:  # LM failures and unparseable replies, each counted apart
                            rows_now = list(new_rows.values())
                            bar.set_postfix(errors=sum(map(is_failed_row, rows_now)),
                                            unparsed=sum(1 for r in rows_now if r.get("parse_error")))
                    for member in waiting.pop(_context_group(example), []):
                        submit("answer", member)
        except BaseException:
            # Ctrl-C or SIGTERM (raised here as KeyboardInterrupt): drop the questions not started and do not
            # wait for those in flight, so the run stops now instead of first answering the whole queue (every
            # context's first question is queued at once). What finished is already in results_path.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    finally:
        bar.close()
        if handle is not None:
            handle.close()

    rows = [new_rows.get(key) or finished.get(key) for key in keys]
    frame = pd.DataFrame([row for row in rows if row is not None], columns=COLUMNS)
    frame.attrs["retried"] = retried
    return frame
