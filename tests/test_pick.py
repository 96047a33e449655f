"""Test-time strategy "pick": the model names a notes line; the answer is that line's value as the notes
state it."""

from __future__ import annotations

import dspy
import pytest

from optimize.experiments.evaluate import evaluate
from optimize.experiments.runner import run_label
from programs import Budget, build_program
from programs.binding import LMBinding
from programs.budget import BudgetError
from programs.lm import TokenLedger
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.strategies.pick import NoteLinePicker, note_lines, picked_line

CONTEXT = "Mia baked 60 scones and sold 18 at the market. Each scone costs $2.50."
NOTES = "- scones baked = 60\n- scones sold = 18\n- scones left = 42 (most programs)\n- revenue = 45"


def pick(reply: str, notes: str = NOTES) -> dspy.Prediction:
    with FakeEngine(lambda messages, request: chat_adapter_reply(line=reply)) as engine:
        lm = LMBinding(f"openai/fake@{engine.api_base}", phase="test", max_tokens=64)
        return NoteLinePicker(lm=lm)(context=CONTEXT, question="How many scones are left?",
                                     learned_context=notes)


def test_the_answer_is_the_value_the_notes_state_not_the_one_the_model_copied():
    made = pick("- scones left = 24")  # the line named, its number miscopied
    assert (made.answer, made.picked, made.failed) == ("42", "- scones left = 42 (most programs)", False)


@pytest.mark.parametrize("reply", ["scones left", "Scones_Left", "- scones left =", "the scones left now"])
def test_a_line_is_found_by_its_name_however_the_model_writes_it(reply):
    assert pick(reply).answer == "42"


def test_a_reply_naming_no_line_keeps_its_own_number_and_one_with_neither_fails():
    stated = pick("The answer is 40.")
    assert (stated.answer, stated.picked, stated.failed) == ("40", None, False)
    nothing = pick("I cannot tell.")
    assert (nothing.answer, nothing.picked, nothing.failed) == ("", None, True)


def test_the_most_specific_line_wins_when_several_names_fit():
    lines = note_lines("- eggs = 16\n- eggs sold = 9\n- eggs sold to family = 4")
    assert picked_line("eggs sold to family", lines).value == 4
    assert picked_line("how many eggs sold", lines).value == 9
    assert picked_line("legs", lines) is None  # names match as whole words
    assert picked_line("cartons sold", lines) is None


def test_text_notes_are_lines_too_valued_by_their_last_number():
    notes = "Scones left: 60 - 18 = 42\nRevenue is $45."
    assert pick("Scones left: 60 - 18 = 42", notes=notes).answer == "42"


def test_pick_needs_notes_and_names_itself_in_run_labels():
    with pytest.raises(BudgetError, match="use_sleep=True"):
        Budget(use_sleep=False, test_strategy="pick")
    budget = Budget(sleep_strategy="compute", test_strategy="pick")
    assert isinstance(build_program(budget).answerer, NoteLinePicker)
    assert run_label(budget).endswith("+ pick (0.5B)")
    with pytest.raises(ValueError, match="learned_context"):
        NoteLinePicker()(context=CONTEXT, question="How many?")


def test_a_run_scores_the_picked_value_and_counts_a_reply_naming_nothing_as_unparsed():
    replies = iter(["scones left", "no idea"])

    def reply(messages, request):
        system = messages[0]["content"]
        if "`line`" in system:
            return chat_adapter_reply(line=next(replies))
        return chat_adapter_reply(code="scones_baked = 60\nscones_sold = 18\nscones_left = 42")

    examples = [dspy.Example(context=CONTEXT, question=f"How many scones are left? ({i})", answer=42,
                             context_id="c1", question_id=f"q{i}", template_id="t") for i in range(2)]
    ledger = TokenLedger()
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program = build_program(Budget(sleep_strategy="compute", test_strategy="pick", sleep_model=spec,
                                       test_model=spec), ledger=ledger)
        rows = evaluate(program, examples, ledger=ledger, progress=False).set_index("question_id")
    assert bool(rows.loc["q0", "correct"]) and rows.loc["q0", "extracted"] == 42
    assert not rows.loc["q1", "correct"] and bool(rows.loc["q1", "parse_error"])
