"""Anticipate and solve: list the questions a user is likely to ask, then answer each one ahead of time."""

from __future__ import annotations

import re

import dspy
from dspy.utils.exceptions import AdapterParseError

from programs.answers import extract_number
from programs.binding import LMBinding, module_fingerprint, prepare_phase
from programs.sampling import active_lm, rollout_lm
from programs.signatures import answering_signature
from programs.strategies.agreement import majority_value, same_value
from programs.strategies.code_runs import format_number
from programs.strategies.signatures import AnticipateQuestions

_NUMBERING = re.compile(r"^\s*(?:[-*•]+|\(?\d+[.):]|Q\d*[.:)]?)\s*", re.IGNORECASE)
_CALCULATION = re.compile(r"[\d.,$]+(?:\s*[-+*/×÷x]\s*\(?[\d.,$]+\)?)+\s*=\s*\$?[\d.,]*\d")

# One worked example of the list the anticipating predictor should write: a small model asked for
# "N questions" without one lists a single question. The facts are invented, not from any data split.
ANTICIPATE_DEMO = dspy.Example(
    context="A baker makes 6 batches of muffins with 24 muffins in each batch. She sells 90 muffins in the "
            "morning and packs the rest into boxes of 6.",
    count=6,
    questions="How many muffins does the baker make in total?\n"
              "How many muffins are left after the morning sales?\n"
              "How many boxes does she fill with the muffins that are left?\n"
              "How many more muffins are left than she sold?\n"
              "If she had made one more batch, how many muffins would have been left after the morning?\n"
              "If she had sold 10 fewer muffins, how many boxes would she fill?",
).with_inputs("context", "count")


def anticipating_predictor() -> dspy.Predict:
    """The predictor that lists likely questions, with its worked example as a demo.

    Example:
        >>> len(anticipating_predictor().demos)
        1
    """
    predictor = dspy.Predict(AnticipateQuestions)
    predictor.demos = [ANTICIPATE_DEMO]
    return predictor


def parse_questions(text: str, limit: int) -> list[str]:
    """The distinct questions in a model's list, numbering and bullets removed, at most ``limit``.

    Example:
        >>> parse_questions("1. How many apples?\\n2) How many apples?\\n- What is left?\\nNotes", 5)
        ['How many apples?', 'What is left?']
    """
    seen: set[str] = set()
    questions: list[str] = []
    for line in (text or "").splitlines():
        question = _NUMBERING.sub("", line).strip().strip('"')
        norm = " ".join(question.lower().split())
        if not question.endswith("?") or norm in seen:
            continue
        seen.add(norm)
        questions.append(question)
        if len(questions) == limit:
            break
    return questions


def short_derivation(reasoning: str | None, limit: int = 2) -> str:
    """The last ``limit`` calculations of a reasoning (those that give the result), joined by '; '.

    Example:
        >>> short_derivation("There are 7 trays, so 7 * 14 = 98 scones. 98 - 56 = 42 are left. So 42.")
        '7 * 14 = 98; 98 - 56 = 42'
    """
    calculations = [" ".join(match.split()) for match in _CALCULATION.findall(reasoning or "")]
    return "; ".join(calculations[-limit:])


class AnticipateAndSolve(dspy.Module):
    """Sleep-time strategy: anticipate ``questions`` likely questions, answer each, note question and answer.

    Each anticipated question is answered at sleep-time ``verbosity`` (0 = directly .. 4 = step by step and
    double-checked). With ``samples > 1`` each question is answered ``samples`` times on rollout copies of
    the LM (``temperature``, ``seed``): an answer is kept when more than half the samples give it; when they
    disagree, one greedy re-derivation at verbosity 4 decides, and it is kept only if it matches one of
    the samples, otherwise the question is dropped. A reply the adapter cannot parse is an unread sample
    (a vote for no value), so one unreadable answer drops that question, not the whole learned context.
    The learned context is one line per kept question:
    ``- <question> <answer>`` with the calculation that gave it.

    Example:
        >>> from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
        >>> from programs.binding import LMBinding
        >>> def reply(messages, request):
        ...     if "## count ##" in messages[-1]["content"]:
        ...         return chat_adapter_reply(questions="1. How many apples in total?")
        ...     return chat_adapter_reply(reasoning="3 * 4 = 12", answer="12")
        >>> with FakeEngine(reply) as engine:
        ...     lm = LMBinding(f"openai/fake@{engine.api_base}", phase="sleep", max_tokens=128)
        ...     AnticipateAndSolve(questions=3, lm=lm)(context="3 boxes of 4 apples.").learned_context
        '- How many apples in total? 12 (3 * 4 = 12)'
    """

    def __init__(self, *, questions: int = 8, verbosity: int = 3, samples: int = 1, temperature: float = 0.7,
                 seed: int = 0, lm: LMBinding | None = None) -> None:
        super().__init__()
        if samples > 1 and temperature <= 0:
            raise ValueError(f"{samples} samples at temperature {temperature} would all be identical; "
                             "pass temperature > 0 (e.g. 0.7) or samples=1")
        self.questions, self.verbosity, self.samples = questions, verbosity, samples
        self.temperature, self.seed, self.lm_binding = temperature, seed, lm
        self.anticipate = anticipating_predictor()
        self.solve = dspy.Predict(answering_signature(with_learned_context=False, verbosity=verbosity))
        self.rederive = dspy.Predict(answering_signature(with_learned_context=False, verbosity=4))

    def fingerprint(self) -> str:
        """Everything about this module that shapes c' besides the Budget: prompts, demos, settings."""
        return module_fingerprint(self, self.lm_binding, strategy="anticipate", seed=self.seed,
                                  temperature=self.temperature if self.samples > 1 else 0.0)

    def anticipated(self, context: str, config: dict) -> list[str]:
        """The questions this module expects about ``context`` (one call)."""
        listed = self.anticipate(context=context, count=self.questions, config=config).questions
        return parse_questions(listed, self.questions)

    def _solve_once(self, context: str, question: str, index: int, config: dict) -> dspy.Prediction:
        if self.samples == 1:
            return self.solve(context=context, question=question, config=config)
        lm = rollout_lm(active_lm(self.solve), index, temperature=self.temperature, seed=self.seed)
        return self.solve(context=context, question=question, lm=lm, config=config)

    @staticmethod
    def _parsed(call) -> dspy.Prediction | None:
        """A solve's prediction, or None for a reply the adapter could not parse (an unread sample: it
        counts against agreement, and one unreadable question never costs the context its other notes)."""
        try:
            return call()
        except AdapterParseError:
            return None

    def _settle(self, context: str, question: str, config: dict) -> tuple[float | None, str, str]:
        """(answer or None, derivation, how it was settled: agreed / rederived / dropped)."""
        solved = [self._parsed(lambda i=index: self._solve_once(context, question, i, config))
                  for index in range(self.samples)]
        values = [extract_number(p.answer) if p is not None else None for p in solved]
        agreed = majority_value(values)
        if agreed is not None:
            reasoning = next((p.get("reasoning") for p, v in zip(solved, values, strict=True)
                              if p is not None and v == agreed), None)
            return agreed, short_derivation(reasoning), "agreed"
        checked = self._parsed(lambda: self.rederive(context=context, question=question, config=config))
        if checked is None:
            return None, "", "dropped"
        value = extract_number(checked.answer)
        if value is not None and any(v is not None and same_value(v, value) for v in values):
            return value, short_derivation(checked.get("reasoning")), "rederived"
        return None, "", "dropped"

    def forward(self, context: str) -> dspy.Prediction:
        adapter, config = prepare_phase(self, self.lm_binding)
        lines: list[str] = []
        outcomes: dict[str, int] = {"agreed": 0, "rederived": 0, "dropped": 0}
        with dspy.context(adapter=adapter):
            questions = self.anticipated(context, config)
            for question in questions:
                value, derivation, outcome = self._settle(context, question, config)
                outcomes[outcome] += 1
                if value is None:
                    continue
                line = f"- {question} {format_number(value)}"
                lines.append(line + (f" ({derivation})" if derivation else ""))
        return dspy.Prediction(learned_context="\n".join(lines), questions=questions, outcomes=outcomes)
