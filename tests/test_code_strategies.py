"""Compute-exactly (sleep time) and program-of-thought (test time): the fake engine writes the programs, the
real sandbox runs them, so every path (first run, one repair, fallback) is exercised end to end."""

from __future__ import annotations

import pytest

from programs.binding import LMBinding
from programs.lm import TokenLedger
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.strategies.compute import ComputeQuantities
from programs.strategies.pot import ProgramOfThoughtAnswerer

CONTEXT = "Mia baked 60 scones and sold 18 at the market. Each scone costs $2.50."
GOOD = ("scones_baked = 60\nscones_sold = 18\nscones_left = scones_baked - scones_sold\n"
        "revenue = scones_sold * 2.5")
CRASHES = "scones_baked = 60\nscones_per_tray = scones_baked / 0"
NO_NUMBERS = "summary = 'Mia baked scones'"
TEXT_NOTES = "- scones left = 60 - 18 = 42"


class Scripted:
    """A responder that replies per predictor: programs in order, repairs in order, text notes."""

    def __init__(self, programs: list[str], repairs: list[str] = (), notes: str = TEXT_NOTES,
                 fence: bool = False) -> None:
        self.programs, self.repairs, self.notes, self.fence = list(programs), list(repairs), notes, fence
        self.prompts: list[tuple[str, str]] = []  # (which predictor, the user message)

    def __call__(self, messages, request) -> str:
        system, user = messages[0]["content"], messages[-1]["content"]
        if "`fixed_code`" in system:
            self.prompts.append(("repair", user))
            return chat_adapter_reply(fixed_code=self._code(self.repairs.pop(0)))
        if "`learned_context`" in system:
            self.prompts.append(("notes", user))
            return chat_adapter_reply(learned_context=self.notes)
        self.prompts.append(("write", user))
        return chat_adapter_reply(code=self._code(self.programs.pop(0)))

    def _code(self, code: str) -> str:
        return f"Here is the program:\n```python\n{code}\n```" if self.fence else code


def binding(engine: FakeEngine, phase: str, ledger: TokenLedger) -> LMBinding:
    return LMBinding(f"openai/fake@{engine.api_base}", phase=phase, max_tokens=256, ledger=ledger)


def compute(script: Scripted, **inputs):
    ledger = TokenLedger()
    with FakeEngine(script) as engine:
        result = ComputeQuantities(lm=binding(engine, "sleep", ledger))(context=CONTEXT, **inputs)
    return result, ledger


def test_a_correct_program_puts_each_computed_value_in_the_notes():
    script = Scripted([GOOD], fence=True)
    result, ledger = compute(script)
    assert result.learned_context.splitlines() == [
        "- scones baked = 60", "- scones sold = 18", "- scones left = 42", "- revenue = 45"]
    assert result.quantities == {"scones_baked": 60, "scones_sold": 18, "scones_left": 42, "revenue": 45.0}
    assert (result.repairs, result.fallback, result.error) == (0, False, None)
    assert result.code == GOOD  # the fenced block, not the prose around it
    assert [which for which, _ in script.prompts] == ["write"]
    assert ledger.usage("sleep").calls == 1 and ledger.usage("sleep").completion_tokens > 0


@pytest.mark.parametrize("broken, error_text", [(CRASHES, "ZeroDivisionError"),
                                                (NO_NUMBERS, "no top-level int or float")])
def test_a_failing_program_is_repaired_once_from_its_error(broken, error_text):
    script = Scripted([broken], repairs=[GOOD])
    result, ledger = compute(script)
    assert (result.repairs, result.fallback) == (1, False)
    assert "- scones left = 42" in result.learned_context
    assert [which for which, _ in script.prompts] == ["write", "repair"]
    repair_prompt = script.prompts[1][1]
    assert error_text in repair_prompt and broken in repair_prompt
    assert ledger.usage("sleep").calls == 2


def test_a_program_failing_twice_falls_back_to_text_notes():
    script = Scripted([CRASHES], repairs=[NO_NUMBERS])
    result, ledger = compute(script)
    assert result.learned_context == TEXT_NOTES
    assert (result.repairs, result.fallback, result.quantities) == (1, True, {})
    assert "no top-level int or float" in result.error
    assert [which for which, _ in script.prompts] == ["write", "repair", "notes"]
    assert ledger.usage("sleep").calls == 3


def test_anticipated_questions_go_into_the_program_prompt():
    script = Scripted([GOOD + "\nscones_left_to_sell = scones_left"])
    result, _ = compute(script, questions=["How many scones are left?", "How much did Mia earn?"])
    prompt = script.prompts[0][1]
    assert "1. How many scones are left?" in prompt and "2. How much did Mia earn?" in prompt
    assert result.quantities["scones_left_to_sell"] == 42


def test_the_fingerprint_follows_prompts_and_bounds_but_not_the_model():
    base = ComputeQuantities()
    one, other = (ComputeQuantities(lm=LMBinding(spec, phase="sleep", max_tokens=9, check=False))
                  for spec in ("openai/a@http://127.0.0.1:9/v1", "openai/b@http://127.0.0.1:9/v1"))
    assert one.fingerprint() == other.fingerprint()
    assert base.fingerprint() != ComputeQuantities(timeout_seconds=3).fingerprint()
    edited = ComputeQuantities()
    edited.write.signature = edited.write.signature.with_instructions("Compute everything.")
    assert base.fingerprint() != edited.fingerprint()


def answer(script: Scripted):
    ledger = TokenLedger()
    with FakeEngine(script) as engine:
        result = ProgramOfThoughtAnswerer(lm=binding(engine, "test", ledger))(
            context=CONTEXT, question="How many scones are left?")
    return result, ledger


def test_program_of_thought_answers_with_the_answer_variable():
    script = Scripted(["scones_left = 60 - 18\nanswer = scones_left"])
    result, ledger = answer(script)
    assert (result.answer, result.repairs, result.failed) == ("42", 0, False)
    assert ledger.usage("test").calls == 1 and ledger.usage("sleep").calls == 0


def test_program_of_thought_repairs_a_program_without_an_answer_once():
    script = Scripted(["scones_left = 60 - 18"], repairs=["answer = 60 - 18"])
    result, ledger = answer(script)
    assert (result.answer, result.repairs, result.failed) == ("42", 1, False)
    assert "named 'answer'" in script.prompts[1][1]
    assert ledger.usage("test").calls == 2


def test_program_of_thought_failing_twice_gives_no_answer_and_is_flagged():
    script = Scripted(["answer = 60 / 0"], repairs=["answer = 60 - undefined_name"])
    result, _ = answer(script)
    assert result.failed and result.repairs == 1
    assert result.answer == "" and result.code == "answer = 60 - undefined_name"
    assert "NameError" in result.error


def test_a_run_counts_the_repairs_and_fallbacks_of_each_learned_context_on_the_row_that_made_it():
    import dspy

    from optimize.experiments.evaluate import evaluate
    from programs import Budget, build_program

    def reply(messages, request):
        system = messages[0]["content"]
        if "`answer`" in system:
            return chat_adapter_reply(answer="42")
        if "`fixed_code`" in system:
            return chat_adapter_reply(fixed_code=NO_NUMBERS)
        if "`learned_context`" in system:
            return chat_adapter_reply(learned_context=TEXT_NOTES)
        return chat_adapter_reply(code=CRASHES)

    examples = [dspy.Example(context=CONTEXT, question=f"How many scones are left? ({i})", answer=42,
                             context_id="c1", question_id=f"q{i}", template_id="t") for i in range(3)]
    ledger = TokenLedger()
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program = build_program(Budget(sleep_strategy="compute", sleep_model=spec, test_model=spec),
                                ledger=ledger)
        rows = evaluate(program, examples, ledger=ledger, progress=False)

    made = rows[~rows["store_hit"]]
    assert len(made) == 1 and (made["sleep_repairs"].item(), made["sleep_fallbacks"].item()) == (1, 1)
    assert rows[rows["store_hit"]]["sleep_repairs"].isna().all()
    assert rows["correct"].all() and (rows["learned_context"] == TEXT_NOTES).all()


def test_a_program_written_without_its_field_header_is_still_run():
    # A sampled reply the adapter cannot parse (seen at temperature 0.7): the program is in it, fenced, with
    # the completion marker inside the fence. It must be run, not fail the context's learned context.
    unparsed = f"```python\n{GOOD}\n\n[[ ## completed ## ]]\n```"
    ledger = TokenLedger()
    with FakeEngine(lambda messages, request: unparsed) as engine:
        result = ComputeQuantities(lm=binding(engine, "sleep", ledger))(context=CONTEXT)
    assert (result.repairs, result.fallback) == (0, False)
    assert "- scones left = 42" in result.learned_context
