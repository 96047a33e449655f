"""Prompt formats for small local models: DSPy's ChatAdapter without its JSON fallback, or a plain format.

Small models are sensitive to formatting. The ChatAdapter's ``[[ ## field ## ]]`` markers cost tokens and a
0.5B model often drops them; when parsing then fails, DSPy silently retries the whole call with a JSON
adapter (double tokens, unmetered intent). Here the fallback is always off, and :class:`PlainAdapter`
offers a plain "instructions, facts, question, then ``Answer: <number>``" prompt with a forgiving parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dspy
from dspy.adapters.utils import format_field_value
from dspy.signatures.signature import Signature
from dspy.utils.exceptions import AdapterParseError

ADAPTERS = ("chat", "plain")
_DIGIT = re.compile(r"\d")


def _label(name: str, field: Any) -> str:
    extra = getattr(field, "json_schema_extra", None) or {}
    prefix = str(extra.get("prefix") or "").strip()
    if not prefix or prefix.startswith("${"):
        prefix = name.replace("_", " ").capitalize() + ":"
    return prefix if prefix.endswith(":") else prefix + ":"


def _is_free_text(signature: type[Signature]) -> bool:
    """A single text output that is not an answer: the whole completion is its value (e.g. the notes)."""
    outputs = signature.output_fields
    return len(outputs) == 1 and next(iter(outputs)) != "answer"


class PlainAdapter(dspy.Adapter):
    """Plain prompts: the instructions, each input under a short label, and a final ``Answer: ...`` line.

    Parsing never needs markers: the text after the last ``Answer:`` is the answer (else the last line that
    holds a digit), the text before it is the reasoning; a single notes field takes the whole completion.

    Example:
        >>> import dspy
        >>> sig = dspy.Signature("question -> reasoning, answer")
        >>> PlainAdapter().parse(sig, "3 boxes of 4 is 12.\\nAnswer: 12")["answer"]
        '12'
    """

    def format_field_description(self, signature: type[Signature]) -> str:
        return ""

    def format_field_structure(self, signature: type[Signature]) -> str:
        outputs = signature.output_fields
        if _is_free_text(signature):
            return "Write only the notes, nothing else."
        final_name, final_field = list(outputs.items())[-1]
        return f"End your reply with a last line of the form '{_label(final_name, final_field)} <number>'."

    def format_task_description(self, signature: type[Signature]) -> str:
        return signature.instructions.strip()

    def format_system_message(self, signature: type[Signature]) -> str:
        return f"{self.format_task_description(signature)}\n\n{self.format_field_structure(signature)}"

    def format_user_message_content(self, signature: type[Signature], inputs: dict[str, Any],
                                    prefix: str = "", suffix: str = "", main_request: bool = False) -> str:
        parts = [prefix]
        for name, field in signature.input_fields.items():
            if name in inputs:
                value = format_field_value(field_info=field, value=inputs[name])
                parts.append(f"{_label(name, field)}\n{value}")
        if main_request and _is_free_text(signature):
            # Small models follow the last instruction they read: restate the task after the facts.
            parts.append(self.format_task_description(signature))
        elif main_request:
            final_name, final_field = list(signature.output_fields.items())[-1]
            parts.append(f"(Finish with '{_label(final_name, final_field)} <number>'.)")
        parts.append(suffix)
        return "\n\n".join(p for p in parts if p).strip()

    def format_assistant_message_content(self, signature: type[Signature], outputs: dict[str, Any],
                                         missing_field_message: str | None = None) -> str:
        items = list(signature.output_fields.items())
        if _is_free_text(signature):
            return str(outputs.get(items[0][0], missing_field_message or ""))
        lines = [str(outputs.get(name, missing_field_message or "")) for name, _ in items[:-1]]
        final_name, final_field = items[-1]
        final_value = outputs.get(final_name, missing_field_message or "")
        lines.append(f"{_label(final_name, final_field)} {final_value}")
        return "\n".join(line for line in lines if line.strip())

    def parse(self, signature: type[Signature], completion: str) -> dict[str, Any]:
        text = completion.strip()
        items = list(signature.output_fields.items())
        if _is_free_text(signature):
            name, field = items[0]
            return {name: _strip_leading_label(text, _label(name, field))}
        final_name, final_field = items[-1]
        before, final = _split_on_last_label(text, _label(final_name, final_field))
        values = {name: "" for name, _ in items[:-1]}
        if items[:-1]:
            values[items[0][0]] = before
        values[final_name] = final
        return values


def _strip_leading_label(text: str, label: str) -> str:
    word = re.escape(label.rstrip(":").strip())
    return re.sub(rf"^\W*{word}\W*:\**\s*", "", text, count=1, flags=re.IGNORECASE).strip()


def _split_on_last_label(text: str, label: str) -> tuple[str, str]:
    """(text before the last ``label``, the value after it); without a label, the last line with a digit."""
    word = re.escape(label.rstrip(":").strip())
    matches = list(re.finditer(rf"{word}\s*\**\s*[:：]\**", text, flags=re.IGNORECASE))
    if matches:
        last = matches[-1]
        rest = [line.strip(" *`") for line in text[last.end():].splitlines()]
        value = next((line for line in rest if line), "")
        return text[:last.start()].strip(), value
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    with_digit = [line for line in lines if _DIGIT.search(line)]
    value = (with_digit or lines or [""])[-1]
    return text, value


def make_adapter(name: str = "chat") -> dspy.Adapter:
    """The adapter for ``name``: ``"chat"`` (ChatAdapter, JSON fallback off) or ``"plain"``.

    Example:
        >>> make_adapter("chat").use_json_adapter_fallback
        False
    """
    if name == "chat":
        return dspy.ChatAdapter(use_json_adapter_fallback=False)
    if name == "plain":
        return PlainAdapter()
    raise ValueError(f"unknown adapter {name!r}; use one of {ADAPTERS}")


class TruncatedReplyError(AdapterParseError):
    """The adapter could not parse a reply that was cut off at its token cap.

    It is an ``AdapterParseError`` (so code that catches parse errors keeps working), raised instead of one
    when the failed call hit the cap: the cap, not the model's answer, failed. ``max_tokens`` is the cap.

    Example:
        >>> import dspy
        >>> from dspy.utils.exceptions import AdapterParseError
        >>> error = AdapterParseError("ChatAdapter", dspy.Signature("question -> answer"), "[[ ## ans")
        >>> explained = explain_parse_error(error, [{"completion_tokens": 64}], max_tokens=64)
        >>> isinstance(explained, TruncatedReplyError), isinstance(explained, AdapterParseError)
        (True, True)
        >>> explain_parse_error(error, [{"completion_tokens": 5}], max_tokens=64) is error
        True
    """

    def __init__(self, *args: Any, max_tokens: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_tokens = max_tokens


def _was_cut_off(call: Any, max_tokens: int | None) -> bool:
    """Whether an LM call stopped at its cap: its finish reason when the ledger has one, else its length."""
    get = call.get if isinstance(call, dict) else lambda name, default=None: getattr(call, name, default)
    truncated = get("truncated", None)
    if truncated is not None:
        return bool(truncated)
    if get("finish_reason", None) is not None:
        return get("finish_reason") == "length"
    return max_tokens is not None and int(get("completion_tokens", 0) or 0) >= max_tokens


def explain_parse_error(error: AdapterParseError, calls: Sequence[Any],
                        max_tokens: int | None) -> AdapterParseError:
    """``error`` as a :class:`TruncatedReplyError` when the last call in ``calls`` was cut off, else as is.

    ``calls`` are the ledger's records of the phase's calls (``programs.lm.LMCall``, or dicts with the same
    names): ``truncated`` / ``finish_reason`` when the LM layer reports them, else completion tokens >= cap.
    """
    if not calls or isinstance(error, TruncatedReplyError) or not _was_cut_off(calls[-1], max_tokens):
        return error
    note = (f"the reply was cut off at the {max_tokens}-token cap before its fields were complete; raise "
            "Budget.test_max_tokens (or Budget.sleep_max_tokens) to let the model finish")
    return TruncatedReplyError(error.adapter_name, error.signature, error.lm_response, message=note,
                               parsed_result=error.parsed_result, max_tokens=max_tokens)


@contextmanager
def explaining_parse_errors(calls: Sequence[Any], phase: str, max_tokens: int | None) -> Iterator[None]:
    """Re-raise a parse error of the block as :class:`TruncatedReplyError` when its last ``phase`` call was
    cut off at ``max_tokens``; ``calls`` is the list the block's calls are recorded in (a ledger scope's).

    Example:
        >>> import dspy
        >>> calls = [{"completion_tokens": 64}]
        >>> try:
        ...     with explaining_parse_errors(calls, "test", max_tokens=64):
        ...         raise AdapterParseError("ChatAdapter", dspy.Signature("question -> answer"), "[[ ## ans")
        ... except TruncatedReplyError as error:
        ...     print(error.max_tokens)
        64
    """
    try:
        yield
    except AdapterParseError as error:
        own = [call for call in calls if getattr(call, "phase", phase) == phase]
        explained = explain_parse_error(error, own, max_tokens)
        if explained is error:
            raise
        raise explained from error
