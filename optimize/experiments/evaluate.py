"""Run a program over examples: one scored row per question, written as it finishes, resumable.

:func:`evaluate` composes the jobs: the results file and resuming it (:mod:`.results_file`), the order
questions run in, context by context (:mod:`.task_order`), answering and scoring one question
(:class:`QuestionRunner`, :func:`score_row`) and the progress bar. Each question runs in its own ledger
scope, so the tokens in a row are exactly the calls made for that row, in either phase (a learned context
made ahead is charged to its context's first question); the rows are the same serially and threaded.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pandas as pd

from optimize.experiments.results_file import RowWriter, config_id, resume
from optimize.experiments.task_order import presleep_possible, run_by_context
from optimize.reports.metrics import is_failed_row
from optimize.reports.server_settings import program_server_settings
from programs.answers import extract_number, is_correct, states_number
from programs.lm.ledger import LedgerScope, TokenLedger
from programs.redact import redact

COLUMNS = [
    "context_id", "question_id", "template_id", "level", "predictability", "question", "gold", "prediction",
    "extracted", "correct", "error", "test_prompt_tokens", "test_completion_tokens", "test_tokens",
    "sleep_prompt_tokens", "sleep_completion_tokens", "sleep_tokens", "sleep_tokens_spent", "store_hit",
    "test_seconds", "sleep_seconds", "seconds", "truncated", "parse_error", "reply_correct",
    "learned_context", "notes_state_gold", "sleep_repairs", "sleep_fallbacks", "config_id",
]
META_FIELDS = ("context_id", "question_id", "template_id", "level", "predictability")


def _key(example) -> str:
    qid = example.get("question_id")
    if qid is None:
        raise ValueError("every example needs a question_id to be evaluated and resumed; load examples with "
                         "optimize.data.loaders.load_examples, or set question_id on each dspy.Example")
    return str(qid)


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
    row.update(made_columns(prediction.get("sleep_made") if prediction is not None else None))
    return row


def made_columns(made: dict | None) -> dict[str, int | None]:
    """``sleep_repairs`` / ``sleep_fallbacks`` of the row whose question made its learned context (a
    program-writing strategy's repaired programs and fallbacks to text notes); None on every other row.

    Example:
        >>> made_columns({"repairs": 1, "fallbacks": 0}), made_columns(None)
        ({'sleep_repairs': 1, 'sleep_fallbacks': 0}, {'sleep_repairs': None, 'sleep_fallbacks': None})
    """
    made = made or {}
    return {"sleep_repairs": made.get("repairs"), "sleep_fallbacks": made.get("fallbacks")}


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


class QuestionRunner:
    """Answers and scores one question at a time; with ``sleep``, makes a context's learned context ahead.

    A learned context made ahead (:meth:`sleep`) is kept for the context's first question, whose row is
    charged its tokens (as a serial run would), or gets its error. Programs with ``needs_gold`` (the pass@k
    oracle) are called with ``gold=``. An LM or parse failure becomes a row with ``error`` set, never a
    dropped question.

    Example:
        >>> import dspy
        >>> from programs.lm.ledger import TokenLedger
        >>> runner = QuestionRunner(lambda context, question: dspy.Prediction(answer="12"), TokenLedger())
        >>> row = runner.answer(dspy.Example(question_id="q1", context="...", question="?", answer="12"))
        >>> row["correct"], row["test_tokens"]
        (True, 0)
    """

    def __init__(self, program, ledger: TokenLedger) -> None:
        self.program, self.ledger = program, ledger
        self.needs_gold = bool(getattr(program, "needs_gold", False))
        self._made_ahead: dict[str, tuple[LedgerScope, Any, BaseException | None]] = {}

    def sleep(self, example) -> None:
        """Make the learned context of ``example``'s context, for :meth:`answer` of the same example."""
        with self.ledger.scope() as scope:
            try:
                made, failure = self.program.sleep_phase(example.get("context")), None
            except Exception as exc:  # recorded as the first question's error row
                made, failure = None, exc
        self._made_ahead[_key(example)] = (scope, made, failure)

    def answer(self, example) -> dict[str, Any]:
        """The scored row of ``example``."""
        started = time.perf_counter()
        ahead = self._made_ahead.pop(_key(example), None)
        if ahead is not None and ahead[2] is not None:  # making its learned context failed: the row's error
            exc = ahead[2]
            return score_row(example, None, _error_text(exc), ahead[0], time.perf_counter() - started,
                             parse_error=is_parse_error(exc), reply=unparsed_reply(exc))
        with self.ledger.scope() as scope:
            try:
                kwargs = {"context": example.get("context"), "question": example.get("question")}
                if self.needs_gold:
                    kwargs["gold"] = example.get("answer")
                prediction, error, failure = self.program(**kwargs), None, None
            except Exception as exc:  # an LM or parse failure is a counted, scored-wrong row, never dropped
                prediction, error, failure = None, _error_text(exc), exc
        if ahead is not None:  # this row's context was made ahead: charge it here, as a serial run would
            merged = LedgerScope()
            merged.calls = list(ahead[0].calls) + list(scope.calls)
            scope = merged
        row = score_row(example, prediction, error, scope, time.perf_counter() - started,
                        parse_error=is_parse_error(failure), reply=unparsed_reply(failure))
        if ahead is not None and ahead[1] is not None and not ahead[1].store_hit:
            row["store_hit"] = False
            row.update(made_columns(ahead[1].made))
        return row


def _progress_bar(total: int, progress: bool, retried: list[str]):
    from tqdm.auto import tqdm

    if retried and progress:
        shown = ", ".join(retried[:10]) + (" ..." if len(retried) > 10 else "")
        tqdm.write(f"evaluate: retrying {len(retried)} row(s) that failed before: {shown}")
    # A resumed run with nothing left to answer shows no "evaluate: 0q" bar.
    return tqdm(total=total, desc="evaluate", unit="q", disable=not progress or not total)


def _show_row(bar, row: dict, rows_so_far: dict[str, dict]) -> None:
    bar.update(1)
    if row["error"]:  # LM failures and unparseable replies, each counted apart
        rows_now = list(rows_so_far.values())
        bar.set_postfix(errors=sum(map(is_failed_row, rows_now)),
                        unparsed=sum(1 for r in rows_now if r.get("parse_error")))


def evaluate(program, examples, *, ledger: TokenLedger, num_threads: int = 1,
             results_path: str | os.PathLike | None = None, progress: bool = True,
             config: dict | None = None, retry_errors: bool = True) -> pd.DataFrame:
    """Answer and score every example; rows go to ``results_path`` (JSONL) as they finish.

    Re-running with the same ``results_path`` skips questions already there; rows that ended in an error are
    redone (``retry_errors=False`` keeps them) and the frame's ``attrs["retried"]`` lists them. With
    ``config`` (see :func:`optimize.experiments.results_file.run_config`) every row carries its ``config_id``
    and a file written under another configuration is refused (:class:`optimize.errors.ResumeMismatchError`)
    before any work. An LM failure after retries becomes a row with ``error`` set and ``correct=False``; an
    answer with no number is scored wrong. Programs with ``needs_gold`` (the pass@k oracle) are called with
    ``gold=``.

    Example::

        ledger = TokenLedger()
        program = programs.build_program(Budget(test_verbosity=2), ledger=ledger)
        frame = evaluate(program, examples, ledger=ledger, num_threads=4, results_path="results.jsonl")
    """
    if num_threads < 1:
        raise ValueError(f"num_threads must be at least 1, got {num_threads}")
    examples = list(examples)
    keys = [_key(example) for example in examples]
    if len(set(keys)) != len(keys):
        raise ValueError("question_id values repeat in the examples; each question needs its own id to be "
                         "resumed (check the loader or de-duplicate)")
    wanted_id = config_id(config) if config is not None else None
    server = program_server_settings(program)
    previous, finished, retried = [], {}, []
    if results_path is not None:
        previous, finished, retried = resume(results_path, keys, config=config, server=server,
                                             retry_errors=retry_errors)
    pending = [example for key, example in zip(keys, examples, strict=True) if key not in finished]
    writer = (RowWriter(results_path, config=config, server=server, fresh=not previous)
              if results_path is not None else None)
    runner = QuestionRunner(program, ledger)
    new_rows: dict[str, dict] = {}
    bar = _progress_bar(len(pending), progress, retried)

    def keep(example, row: dict) -> None:
        if wanted_id is not None:
            row["config_id"] = wanted_id
        new_rows[_key(example)] = row
        if writer is not None:
            writer.write(row)
        _show_row(bar, row, new_rows)

    try:
        run_by_context(pending, key=_key, answer=runner.answer, num_threads=num_threads, on_answer=keep,
                       sleep=runner.sleep if presleep_possible(program, num_threads) else None)
    finally:
        bar.close()
        if writer is not None:
            writer.close()

    rows = [new_rows.get(key) or finished.get(key) for key in keys]
    frame = pd.DataFrame([row for row in rows if row is not None], columns=COLUMNS)
    frame.attrs["retried"] = retried
    return frame
