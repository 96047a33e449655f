"""What the model read and wrote for a few example questions, as MLflow traces of an experiment's child runs.

:class:`TraceRecorder` is a DSPy callback installed for one evaluation (``with recorder.recording():``). It
keeps only the LM calls made for the chosen questions: a sleep-time call whose prompt holds one of their
contexts, a test-time call whose prompt holds one of their questions and its context. The program is not
wrapped, so the evaluation runs exactly as it would untraced. :func:`log_traces` writes one trace per
question, linked to the child run: a root span with the question and the scored answer, one span per call.

Example::

    recorder = TraceRecorder(examples[:2])
    with recorder.recording():
        frame = evaluate(program, examples, ledger=ledger)
    log_traces(tracker, run_id, recorder.records(frame))
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from programs.redact import redact

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")  # a trace is written before we go on
MAX_TEXT = 20000  # characters of one message kept in a trace


def _text(value: Any) -> str:
    return redact("" if value is None else value)[:MAX_TEXT]


def _get(example, name: str):
    return example.get(name) if hasattr(example, "get") else getattr(example, name, None)


class TraceRecorder:
    """Collects the LM calls (phase, messages, replies) made for ``examples`` during one evaluation.

    Example:
        >>> recorder = TraceRecorder([{"question_id": "q1", "context": "Mia bakes 6 trays.",
        ...                            "question": "How many?"}])
        >>> prompt = [{"role": "user", "content": "Mia bakes 6 trays. How many?"}]
        >>> recorder.callback.on_lm_start("call-1", object(), {"messages": prompt})  # as DSPy calls it
        >>> recorder.callback.on_lm_end("call-1", ["6"])
        >>> [(call["phase"], call["outputs"]) for call in recorder.records()[0]["calls"]]
        [('lm', ['6'])]
    """

    def __init__(self, examples: Sequence) -> None:
        from dspy.utils.callback import BaseCallback

        self.examples = [
            {"question_id": _get(e, "question_id"), "context": str(_get(e, "context") or ""),
             "question": str(_get(e, "question") or ""), "calls": []}
            for e in examples
        ]
        self._pending: dict[str, tuple[dict, dict]] = {}
        self._lock = threading.Lock()
        recorder = self

        class Callback(BaseCallback):
            def on_lm_start(self, call_id, instance, inputs):
                recorder._start(call_id, instance, inputs)

            def on_lm_end(self, call_id, outputs, exception=None):
                recorder._end(call_id, outputs, exception)

        self.callback = Callback()

    @contextmanager
    def recording(self) -> Iterator[TraceRecorder]:
        """Install the callback for the block (worker threads that copy the context see it too)."""
        import dspy

        with dspy.context(callbacks=[*(dspy.settings.callbacks or []), self.callback]):
            yield self

    def _owner(self, phase: str, text: str) -> dict | None:
        for example in self.examples:
            if example["context"] and example["context"] in text:
                if phase == "sleep" or (example["question"] and example["question"] in text):
                    return example
        return None

    def _start(self, call_id, instance, inputs) -> None:
        messages = inputs.get("messages") or [{"role": "user", "content": inputs.get("prompt")}]
        text = "\n".join(str(m.get("content") or "") for m in messages)
        phase = getattr(instance, "phase", None) or "lm"
        owner = self._owner(phase, text)
        if owner is None:
            return
        model = getattr(instance, "label", None) or getattr(instance, "model", "")
        call = {"phase": phase, "model": redact(model), "start_ns": time.time_ns(),
                "messages": [{"role": m.get("role"), "content": _text(m.get("content"))} for m in messages]}
        with self._lock:
            owner["calls"].append(call)
            self._pending[call_id] = (owner, call, instance, messages)

    def _end(self, call_id, outputs, exception) -> None:
        with self._lock:
            found = self._pending.pop(call_id, None)
        if found is None:
            return
        _owner, call, instance, messages = found
        call["end_ns"] = time.time_ns()
        call["usage"] = _usage_of(instance, messages)
        call["outputs"] = [_text(o) for o in (outputs or [])]
        call["error"] = None if exception is None else _text(f"{type(exception).__name__}: {exception}")

    def records(self, frame=None) -> list[dict]:
        """One record per chosen question, with its scored row (answer, gold, correct, error) when given."""
        rows = {}
        if frame is not None and len(frame) and "question_id" in frame:
            rows = {str(r["question_id"]): r for r in frame.to_dict("records")}
        records = []
        for example in self.examples:
            row = rows.get(str(example["question_id"]), {})
            records.append({
                "question_id": example["question_id"], "context": _text(example["context"]),
                "question": _text(example["question"]), "calls": list(example["calls"]),
                **{k: _plain(row.get(k)) for k in ("prediction", "gold", "correct", "error", "store_hit")},
            })
        return records


def _usage_of(instance, messages) -> dict | None:
    """The server-reported tokens of the call that sent ``messages`` (DSPy keeps them in the LM's history)."""
    for entry in reversed(list(getattr(instance, "history", None) or [])[-50:]):
        if entry.get("messages") is messages:
            usage = entry.get("usage") or {}
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            if prompt is None and completion is None:
                return None
            prompt, completion = int(prompt or 0), int(completion or 0)
            return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}
    return None


def log_traces(tracker, run_id: str, records: Sequence[dict], *, label: str | None = None) -> list[str]:
    """One MLflow trace per recorded question, linked to ``run_id`` (tagged with its ``label``); returns the
    trace ids. Spans carry the calls' real start and end times and their token usage.

    Tracing is a view, never a result: a failure to write a trace is a warning, not an error.
    """
    import mlflow

    ids = []
    try:
        mlflow.set_tracking_uri(tracker.tracking_uri)  # the trace exporter writes to the global store
        client = tracker.client
        for record in records:
            calls = record.get("calls", [])
            starts = [c["start_ns"] for c in calls if c.get("start_ns")]
            ends = [c.get("end_ns") or c["start_ns"] for c in calls if c.get("start_ns")]
            root = client.start_trace(
                f"question {record.get('question_id')}", span_type="CHAIN",
                experiment_id=tracker.experiment_id, run_id=run_id,
                inputs={"context": record["context"], "question": record["question"]},
                tags={"sleeptime.run": redact(label)} if label else None,
                start_time_ns=min(starts) if starts else None,
            )
            for number, call in enumerate(calls, start=1):
                attributes = {"phase": call["phase"], "model": call.get("model", "")}
                if call.get("usage"):
                    attributes["mlflow.chat.tokenUsage"] = call["usage"]  # the Traces page's token column
                span = client.start_span(
                    f"{call['phase']} call {number}", trace_id=root.trace_id, parent_id=root.span_id,
                    span_type="CHAT_MODEL", inputs={"messages": call["messages"]}, attributes=attributes,
                    start_time_ns=call.get("start_ns"),
                )
                client.end_span(root.trace_id, span.span_id, outputs={"replies": call.get("outputs", [])},
                                status="ERROR" if call.get("error") else "OK",
                                end_time_ns=call.get("end_ns") or call.get("start_ns"))
            outputs = {k: record.get(k) for k in ("prediction", "gold", "correct", "store_hit", "error")}
            client.end_trace(root.trace_id, outputs=outputs, status="ERROR" if record.get("error") else "OK",
                             end_time_ns=max(ends) if ends else None)
            ids.append(root.trace_id)
    except Exception as exc:  # noqa: BLE001 - see docstring
        warnings.warn(f"could not log example traces to MLflow: {redact(exc)}", stacklevel=2)
    return ids


def _plain(value: Any) -> Any:
    """A JSON-friendly, redacted value (numpy scalars and NaN from a DataFrame row: Python values, None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return _text(value) if isinstance(value, str) else value
