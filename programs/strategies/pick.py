"""Test-time strategy "pick": answer by choosing the notes line that answers, its value copied by code.

At verbosity 0 the answerer states a number, and on the computed notes it often states one no line holds
(it computes instead of reading) or another line's. Here the model names the line and the value is read
from the notes, so every answer is a value the sleep phase computed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dspy

from programs.answers import extract_number, numbers_in
from programs.binding import LMBinding, prepare_phase
from programs.strategies.code_runs import format_number
from programs.strategies.signatures import PickNoteLine


@dataclass(frozen=True)
class NoteLine:
    """One line of notes: its name (the text before ``=``, in lower case words) and its value, if any.

    Example:
        >>> note_lines("- Eggs_Sold = 9")[0]
        NoteLine(text='- Eggs_Sold = 9', name='eggs sold', value=9.0)
    """

    text: str
    name: str
    value: float | None


_ASSIGNMENT = re.compile(r"^\s*(?:[-*]\s*)?(?P<name>.*?)\s*=\s*(?P<value>[^=]*)$")


def note_lines(notes: str) -> list[NoteLine]:
    """The lines of ``notes`` with a name and a value: ``name = value`` lines (a trailing remark such as
    ``(most programs)`` is not part of the value), else any line, named by its words, valued by its last
    number.

    Example:
        >>> notes = "- total eggs = 16 (most programs)\\nSold 3 a day."
        >>> [(line.name, line.value) for line in note_lines(notes)]
        [('total eggs', 16.0), ('sold 3 a day.', 3.0)]
    """
    lines = []
    for text in notes.splitlines():
        if not text.strip():
            continue
        match = _ASSIGNMENT.match(text)
        if match:
            name, value = match["name"], next(numbers_in(match["value"]), None)
        else:
            name, value = text.strip().lstrip("-* "), extract_number(text)
        lines.append(NoteLine(text.strip(), _words(name), value))
    return lines


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9.]+", text.lower().replace("_", " ")))


def picked_line(reply: str, lines: list[NoteLine]) -> NoteLine | None:
    """The notes line ``reply`` names: the same name, else the line whose name the reply's name contains or
    is contained in, as whole words (the longest), else None.

    Example:
        >>> lines = note_lines("- eggs = 16\\n- eggs sold = 9\\n- price = 2")
        >>> picked_line("- eggs sold = 9", lines).value, picked_line("Eggs sold", lines).value
        (9.0, 9.0)
        >>> picked_line("the weekly eggs sold total", lines).value, picked_line("carton", lines)
        (9.0, None)
    """
    match = _ASSIGNMENT.match(reply.strip().splitlines()[0] if reply.strip() else "")
    name = _words(match["name"] if match else reply)
    if not name:
        return None
    exact = [line for line in lines if line.name == name]
    if exact:
        return exact[0]
    padded = f" {name} "  # contained as whole words: "eggs" is not in "legs"
    near = [line for line in lines
            if line.name and (f" {line.name} " in padded or padded in f" {line.name} ")]
    return max(near, key=lambda line: len(line.name)) if near else None


class NoteLinePicker(dspy.Module):
    """Answer a question by picking the notes line that answers it; the answer is that line's value.

    The model sees the facts, the notes and the question and copies one notes line; the answer is the
    value of the line it names (:func:`picked_line`), so it is always a number the notes state. A reply
    naming no line is answered by the number it states, if any (``picked`` is then None); a reply with
    neither is a failed answer (``failed``), counted with the unparsed replies. The prediction carries
    ``answer``, the model's ``line``, the notes line ``picked`` and ``failed``. Every call runs on the
    test-phase LM bound by ``lm``.

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> from programs.binding import LMBinding
        >>> with FakeEngine(lambda m, r: chat_adapter_reply(line="total apples")) as engine:
        ...     lm = LMBinding(f"openai/fake@{engine.api_base}", phase="test", max_tokens=64)
        ...     picker = NoteLinePicker(lm=lm)
        ...     made = picker(context="3 boxes of 4 apples.", question="How many apples?",
        ...                   learned_context="- boxes = 3\\n- total apples = 12")
        >>> made.answer, made.picked
        ('12', '- total apples = 12')
    """

    def __init__(self, *, lm: LMBinding | None = None) -> None:
        super().__init__()
        self.lm_binding = lm
        self.predict = dspy.Predict(PickNoteLine)

    def forward(self, context: str, question: str, learned_context: str | None = None,
                lm: dspy.BaseLM | None = None) -> dspy.Prediction:
        if learned_context is None:
            raise ValueError("NoteLinePicker answers from notes: pass learned_context=... (make one with "
                             "program.sleep(context)); without notes use test_strategy='answer'")
        adapter, config = prepare_phase(self, self.lm_binding)
        on_lm = {"lm": lm} if lm is not None else {}  # Predict reads a passed lm=None as "no LM"
        with dspy.context(adapter=adapter):
            reply = self.predict(context=context, learned_context=learned_context, question=question,
                                 config=config, **on_lm).line or ""
        line = picked_line(reply, note_lines(learned_context))
        value = line.value if line is not None else extract_number(reply)
        return dspy.Prediction(answer=format_number(value) if value is not None else "", line=reply,
                               picked=line.text if line is not None else None, failed=value is None)
