"""What the model read and wrote for a few example questions, as MLflow traces of an experiment's child runs.

:class:`TracedProgram` wraps a program for one evaluation and records, for the chosen questions only, every
LM call made while answering them (phase, messages, reply), through a DSPy callback installed in the
question's own context (so worker threads never mix questions). :func:`log_traces` writes one trace per
question, linked to the child run: a root span with the question and the answer, one span per LM call.

Example::

    traced = TracedProgram(program, examples[:2])
    frame = evaluate(traced, examples, ledger=ledger)
    log_traces(tracker, run_id, traced.records)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

from programs.redact import redact

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")  # a trace is written before we go on
MAX_TEXT = 20000  # characters of one message kept in a trace


def _text(value: Any) -> str:
    return redact(value)[:MAX_TEXT]


class _Recorder:
    """A DSPy callback collecting the LM calls of one question."""

    def __init__(self) -> None:
        from dspy.utils.callback import BaseCallback

        outer = self

        class Callback(BaseCallback):
            def on_lm_start(self, call_id, instance, inputs):
                messages = inputs.get("messages") or [{"role": "user", "content": inputs.get("prompt")}]
                outer.calls[call_id] = {
                    "phase": getattr(instance, "phase", None) or "lm",
                    "model": redact(getattr(instance, "label", None) or getattr(instance, "model", "")),
                    "messages": [{"role": m.get("role"), "content": _text(m.get("content"))}
                                 for m in messages],
                }

            def on_lm_end(self, call_id, outputs, exception=None):
                call = outer.calls.setdefault(call_id, {"phase": "lm", "messages": []})
                call["outputs"] = [_text(o) for o in (outputs or [])]
                failed = exception is not None
                call["error"] = _text(f"{type(exception).__name__}: {exception}") if failed else None

        self.calls: dict[str, dict] = {}
        self.callback = Callback()


class TracedProgram:
    """``program`` for an evaluation, recording the LM calls of the questions in ``examples``.

    Everything else (attributes such as ``needs_gold`` or ``budget``) is the wrapped program's.
    """

    def __init__(self, program, examples: Sequence) -> None:
        self.program = program
        self.wanted = {(_get(e, "context"), _get(e, "question")): _get(e, "question_id") for e in examples}
        self.records: list[dict] = []

    def __getattr__(self, name: str):
        return getattr(self.program, name)

    def __call__(self, **kwargs):
        key = (kwargs.get("context"), kwargs.get("question"))
        if key not in self.wanted:
            return self.program(**kwargs)
        import dspy

        recorder = _Recorder()
        record = {"question_id": self.wanted[key], "context": _text(key[0]), "question": _text(key[1])}
        self.records.append(record)
        try:
            with dspy.context(callbacks=[*(dspy.settings.callbacks or []), recorder.callback]):
                prediction = self.program(**kwargs)
        except Exception as exc:
            record["error"] = _text(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            record["calls"] = list(recorder.calls.values())
        record["answer"] = _text(prediction.get("answer"))
        record["learned_context"] = _text(prediction.get("learned_context") or "")
        record["store_hit"] = bool(prediction.get("store_hit"))
        return prediction


def _get(example, name: str):
    return example.get(name) if hasattr(example, "get") else getattr(example, name, None)


def log_traces(tracker, run_id: str, records: Sequence[dict]) -> list[str]:
    """One MLflow trace per recorded question, linked to ``run_id``; returns the trace ids.

    Tracing is a view, never a result: a failure to write a trace is a warning, not an error.
    """
    import mlflow

    ids = []
    try:
        mlflow.set_tracking_uri(tracker.tracking_uri)  # the trace exporter writes to the global store
        client = tracker.client
        for record in records:
            root = client.start_trace(
                f"question {record.get('question_id')}", span_type="CHAIN",
                experiment_id=tracker.experiment_id, run_id=run_id,
                inputs={"context": record["context"], "question": record["question"]},
            )
            for number, call in enumerate(record.get("calls", []), start=1):
                span = client.start_span(
                    f"{call['phase']} call {number}", trace_id=root.trace_id, parent_id=root.span_id,
                    span_type="CHAT_MODEL", inputs={"messages": call["messages"]},
                    attributes={"phase": call["phase"], "model": call.get("model", "")},
                )
                client.end_span(root.trace_id, span.span_id, outputs={"replies": call.get("outputs", [])},
                                status="ERROR" if call.get("error") else "OK")
            outputs = {k: record.get(k) for k in ("answer", "learned_context", "store_hit", "error")}
            client.end_trace(root.trace_id, outputs=outputs, status="ERROR" if record.get("error") else "OK")
            ids.append(root.trace_id)
    except Exception as exc:  # noqa: BLE001 - see docstring
        warnings.warn(f"could not log example traces to MLflow: {redact(exc)}", stacklevel=2)
    return ids
