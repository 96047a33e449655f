"""Templates and their instances: sample variables by rejection, render the text, compute exact answers.

A :class:`Template` (parsed from a file by :mod:`optimize.data.parsing`) holds text with ``{var,default}``
placeholders, ``#init`` lines (how to sample each variable), ``#conditions`` (rejection sampling) and one
answer expression per question. Sampling uses only the ``random.Random`` it is given, and all tries of one
instance share a step budget, so a template whose lines are expensive fails in bounded time.

Example:
    >>> import json, random, tempfile, pathlib
    >>> spec = {"id": "demo", "level": "base", "topic": "bakery",
    ...   "context_annotated": "{name,Maya} bakes {n,4} trays of {k,6} muffins.\\n\\n#init:\\n"
    ...       "- name = sample(names)\\n- $n = range(2, 9)\\n- $k = range(2, 13)\\n",
    ...   "questions": [{"id": "q1", "text": "How many muffins does {name,Maya} bake?",
    ...                  "answer": "n * k", "predictability": "high"}]}
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.json"
    >>> _ = path.write_text(json.dumps(spec))
    >>> from optimize.data.parsing import load_template
    >>> template = load_template(path)
    >>> template.default_instance().questions[0]["answer"]
    24
    >>> instance = template.instantiate(random.Random(1))
    >>> instance.questions[0]["answer"] == instance.values["n"] * instance.values["k"]
    True
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from optimize.data.expressions import Expression
from optimize.data.functions import is_int, sampling_functions
from optimize.data.limits import ExpressionError, LimitError, StepLimitError, charge, metered
from optimize.data.pools import NUMBER_WORDS, pool_namespace
from optimize.data.sentences import split_context_question
from optimize.data.values import (
    DecimalValue,
    exact,
    format_value,
    is_exact_number,
    number_from_text,
    to_answer,
    worded,
)

__all__ = [
    "TemplateError",
    "Template",
    "Instance",
    "QuestionSpec",
    "InitLine",
    "render",
    "DEFAULT_MAX_TRIES",
    "DEFAULT_STEP_BUDGET",
    "PLACEHOLDER",
]

DEFAULT_MAX_TRIES = 20_000
# Steps (see optimize.data.limits) all tries of one instance may spend. The costliest instance of the 195
# templates we know (ours and GSM-Symbolic's, 5 seeds each) took 318k steps (gsm-p1-0083): ~10x headroom.
DEFAULT_STEP_BUDGET = 3_000_000
PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_]\w*)\s*(?:,([^{}]*))?\}")


class TemplateError(ValueError):
    """A template file cannot be parsed or sampled; the message names the file and the problem."""


@dataclass(frozen=True)
class InitLine:
    """One ``#init`` line: ``targets = expression`` (``a, b = sample(pool, 2)`` has two targets).

    Example:
        >>> line = InitLine(targets=("trays",), expression=Expression("range(3, 10)"), line=3)
        >>> line.targets, line.expression.evaluate({})
        (('trays',), range(3, 10))
    """

    targets: tuple[str, ...]
    expression: Expression
    line: int


@dataclass(frozen=True)
class QuestionSpec:
    """One question of a template: annotated text, answer expression and predictability label.

    Example:
        >>> spec = QuestionSpec("q3", "How many {item,muffins} are left?", Expression("trays * per - sold"),
        ...                     predictability="medium")
        >>> render(spec.text, None), spec.answer.evaluate({"trays": 6, "per": 12, "sold": 50})
        ('How many muffins are left?', 22)
    """

    id: str
    text: str
    answer: Expression
    predictability: str | None


@dataclass
class Instance:
    """One sampled instance: the context, its questions (with exact answers) and the sampled values.

    Example:
        >>> from optimize.data.parsing import load_template
        >>> instance = load_template("data/templates/mq-0001.json").default_instance()
        >>> instance.template_id, instance.values["trays"], instance.questions[0]["answer"]
        ('mq-0001', 6, 2)
        >>> instance.context.startswith("Mia bakes 6 trays of muffins")
        True
    """

    template_id: str
    context: str
    questions: list[dict[str, Any]]
    values: dict[str, Any]
    texts: dict[str, str]


@dataclass
class Template:
    """A parsed template; ``instantiate(rng)`` samples one :class:`Instance`.

    ``format`` is ``"gsm-symbolic"`` (single question, split off the end of ``text``) or ``"multi-query"``.

    Example:
        >>> from optimize.data.parsing import load_template
        >>> template = load_template("data/templates/mq-0001.json")
        >>> template.format, len(template.questions)
        ('multi-query', 4)
        >>> instance = template.instantiate(random.Random(0))
        >>> values = instance.values
        >>> template.check_conditions(values), template.answers(values)[1] == values["trays"] * values["per"]
        ([], True)
    """

    id: str
    path: Path
    format: str
    level: str
    topic: str | None
    text: str
    init: list[InitLine]
    conditions: list[Expression]
    questions: list[QuestionSpec]
    source: str
    answer_annotated: str | None = None
    original_question: str | None = None
    original_answer: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    _condition_stage: list[int] = field(default_factory=list, repr=False)
    # init-line index -> condition `var == expr` that determines var (sampled last, by solving, not guessing)
    _solved: dict[int, Expression] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ sampling

    def sample_values(
        self,
        rng: random.Random,
        *,
        max_tries: int = DEFAULT_MAX_TRIES,
        max_steps: int = DEFAULT_STEP_BUDGET,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Draw values satisfying every ``#condition`` (rejection sampling, bounded in tries and in steps)."""
        try:
            with metered(max_steps):
                return self._sample(rng, max_tries)
        except StepLimitError as error:
            raise TemplateError(
                f"{self.path}: template {self.id!r} used more than {max_steps} evaluation steps without a "
                f"valid sample ({error}); fix: make the #init lines cheaper or the #conditions looser"
            ) from None
        except LimitError as error:
            raise TemplateError(
                f"{self.path}: template {self.id!r} went past a bound of the template engine ({error}); "
                "fix: keep numbers, lists and texts small"
            ) from None

    def _sample(self, rng: random.Random, max_tries: int) -> tuple[dict[str, Any], dict[str, str]]:
        functions = sampling_functions(rng)
        pools = pool_namespace()
        last_problem = "no sample satisfied the conditions"
        for _ in range(max_tries):
            values: dict[str, Any] = {}
            texts: dict[str, str] = {}
            ok = True
            for index, line in enumerate(self.init):
                if index in self._solved:
                    continue
                try:
                    result = line.expression.evaluate({**pools, **values}, functions)
                    self._assign(line, result, rng, values, texts)
                except LimitError:
                    raise
                except (ExpressionError, _Reject) as error:
                    last_problem = str(error)
                    ok = False
                    break
                if not self._conditions_hold(index, values):
                    ok = False
                    break
            if ok and self._solved:
                ok = self._solve(values, texts, pools, functions)
            if ok and self._conditions_hold(-1, values):
                problem = self._answer_problem(values)
                if problem is None:
                    return values, texts
                last_problem = problem
        raise TemplateError(
            f"{self.path}: template {self.id!r} found no valid sample in {max_tries} tries ({last_problem}); "
            "fix: loosen #conditions or widen the #init ranges"
        )

    def instantiate(self, rng: random.Random, *, max_tries: int = DEFAULT_MAX_TRIES) -> Instance:
        """Sample values and render the context and questions with exact answers."""
        values, texts = self.sample_values(rng, max_tries=max_tries)
        return self._instance(values, texts)

    def default_instance(self) -> Instance:
        """The instance spelled out by the ``{var,default}`` placeholders (texts rendered as written)."""
        values, _ = self.default_values()
        missing = sorted(self.variables - set(values))
        if missing:
            raise TemplateError(
                f"{self.path}: template {self.id!r} has no placeholder default for {', '.join(missing)}; "
                "fix: show each variable as {var,default} somewhere in the text"
            )
        return self._instance(values, None)

    @property
    def variables(self) -> set[str]:
        return {target for line in self.init for target in line.targets}

    def default_values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Values implied by the placeholder defaults (variables without a default are left out)."""
        values: dict[str, Any] = {}
        texts: dict[str, str] = {}
        pools = pool_namespace()
        functions = dict(sampling_functions(random.Random(0)))
        functions["sample"] = _all_candidates
        functions["sample_sequential"] = _all_candidates
        for line in self.init:
            try:
                candidates = line.expression.evaluate({**pools, **values}, functions)
            except ExpressionError:
                candidates = None
            for target in line.targets:
                if target not in self.defaults:
                    continue
                value = _resolve_default(self.defaults[target], candidates)
                values[target] = value
                texts[target] = self.defaults[target]
        for index, equation in self._solved.items():
            target = self.init[index].targets[0]
            if target not in values:
                try:
                    values[target] = exact(equation.evaluate(values))
                    texts[target] = format_value(values[target])
                except ExpressionError:
                    pass
        return values, texts

    def check_conditions(self, values: Mapping[str, Any]) -> list[str]:
        """The source of every condition that is false (or fails) for ``values``."""
        failed = []
        for condition in self.conditions:
            try:
                if not condition.evaluate(values):
                    failed.append(condition.source)
            except ExpressionError as error:
                failed.append(f"{condition.source} ({error})")
        return failed

    def answers(self, values: Mapping[str, Any]) -> list[Any]:
        """Exact answer values (ints/Fractions) of every question for ``values``."""
        return [spec.answer.evaluate(values) for spec in self.questions]

    # ------------------------------------------------------------ internals

    def _assign(
        self, line: InitLine, result: Any, rng: random.Random, values: dict[str, Any], texts: dict[str, str]
    ) -> None:
        if len(line.targets) == 1:
            if isinstance(result, (list, range)):
                if len(result) == 0:
                    raise _Reject(f"#init line {line.line} produced an empty pool")
                result = result[rng.randrange(len(result))]
            items = [result]
        else:
            if not isinstance(result, (list, tuple)) or len(result) != len(line.targets):
                raise ExpressionError(
                    f"#init line {line.line}: {len(line.targets)} targets need {len(line.targets)} values, "
                    f"got {result!r}"
                )
            items = list(result)
        for target, item in zip(line.targets, items, strict=True):
            text, value = _split_item(item)
            values[target] = value
            texts[target] = text

    def _solve(
        self,
        values: dict[str, Any],
        texts: dict[str, str],
        pools: Mapping[str, Any],
        functions: Mapping[str, Any],
    ) -> bool:
        """Set each equation-determined variable from its equation, if the result is one of its candidates."""
        for index, equation in self._solved.items():
            line = self.init[index]
            try:
                value = exact(equation.evaluate(values))
                candidates = line.expression.evaluate({**pools, **values}, functions)
            except LimitError:
                raise
            except ExpressionError:
                return False
            if isinstance(candidates, range):  # membership of a range is O(1); scanning it is not
                matches = [int(value)] if is_int(value) and int(value) in candidates else []
            else:
                pool = candidates if isinstance(candidates, list) else [candidates]
                charge(len(pool))
                matches = [item for item in pool if _split_item(item)[1] == value]
            if not matches:
                return False
            texts[line.targets[0]], values[line.targets[0]] = _split_item(matches[0])
        return True

    def _conditions_hold(self, stage: int, values: Mapping[str, Any]) -> bool:
        for condition, when in zip(self.conditions, self._condition_stage, strict=True):
            if when != stage:
                continue
            try:
                if not condition.evaluate(values):
                    return False
            except LimitError:
                raise
            except ExpressionError:
                return False
        return True

    def _answer_problem(self, values: Mapping[str, Any]) -> str | None:
        for spec in self.questions:
            try:
                value = spec.answer.evaluate(values)
            except LimitError:
                raise
            except ExpressionError as error:
                return f"answer of {spec.id} failed: {error}"
            if not is_exact_number(value):
                return f"answer of {spec.id} is {format_value(value)}, not an exact number; add a #condition"
        return None

    def _instance(self, values: dict[str, Any], texts: dict[str, str] | None) -> Instance:
        questions = []
        for spec in self.questions:
            try:
                answer = to_answer(spec.answer.evaluate(values))
            except ExpressionError as error:
                raise TemplateError(
                    f"{self.path}: template {self.id!r} question {spec.id!r}: {error}"
                ) from None
            questions.append(
                {
                    "id": spec.id,
                    "question": render(spec.text, texts),
                    "answer": answer,
                    "predictability": spec.predictability,
                }
            )
        context = render(self.text, texts)
        if self.format == "gsm-symbolic":
            context, question = split_context_question(context)
            if not context:
                raise TemplateError(
                    f"{self.path}: template {self.id!r} is one sentence: no context precedes its question; "
                    "fix: state the facts in their own sentences before the question"
                )
            questions[0]["question"] = question
        return Instance(self.id, context, questions, values, texts or {})


class _Reject(Exception):
    """A sample that cannot be completed (empty pool); rejection sampling tries again."""


def _all_candidates(pool: Any, k: Any = None) -> list:
    return list(pool)


def _split_item(item: Any) -> tuple[str, Any]:
    """Pool items are plain values or ``(display_text, value)`` pairs."""
    if _is_pair(item):
        text = item[0] if isinstance(item[0], str) else format_value(item[0])
        return text, worded(text, item[1])
    if isinstance(item, float):
        item = DecimalValue(repr(item))
    return format_value(item), item


def _parse_number(text: str) -> Any:
    cleaned = text.strip().replace(",", "").lstrip("$€£¥₹").rstrip("%").strip()
    if re.fullmatch(r"-?\d*\.\d+", cleaned):
        return DecimalValue(cleaned)  # keeps the digits as written ("0.30")
    try:
        return exact(number_from_text(cleaned))
    except ValueError:
        pass
    word = text.strip().lower()
    if word in NUMBER_WORDS:
        return exact(NUMBER_WORDS[word])
    return _compound_number_word(word)


_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_VALUES = {**{w: i for i, w in enumerate(_UNITS)}, **{w: 10 * i for i, w in enumerate(_TENS) if w}}


def _compound_number_word(word: str) -> int | None:
    """'forty-two' -> 42, 'one hundred twenty' -> 120; None when it is not a number word."""
    parts = [p for p in re.split(r"[\s-]+", word.replace(" and ", " ")) if p]
    if not parts:
        return None
    total, current = 0, 0
    for part in parts:
        if part in _WORD_VALUES:
            current += _WORD_VALUES[part]
        elif part == "hundred":
            current = max(current, 1) * 100
        elif part == "thousand":
            total += max(current, 1) * 1000
            current = 0
        else:
            return None
    return total + current


def _resolve_default(default: str, candidates: Any) -> Any:
    pool = (
        list(candidates)
        if isinstance(candidates, (list, range, tuple)) and not _is_pair(candidates)
        else ([candidates] if candidates is not None else [])
    )
    wanted = default.strip().lower()
    for item in pool:
        text, value = _split_item(item)
        if text.strip().lower() == wanted:
            return value
    number = _parse_number(default)
    if number is not None:
        return number
    return default.strip()


def _is_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], (int, float, Fraction))


def render(text: str, texts: Mapping[str, str] | None) -> str:
    """Replace ``{var,default}`` / ``{var}`` placeholders; ``texts=None`` renders each default as written."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if texts is None:
            return default.strip() if default is not None else match.group(0)
        return texts.get(name, match.group(0))

    return PLACEHOLDER.sub(substitute, text)


