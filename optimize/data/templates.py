"""Parse and instantiate GSM-Symbolic style templates (both formats of docs/template-format.md).

A template is text with ``{var,default}`` placeholders plus ``#init`` (how to sample each variable),
``#conditions`` (rejection sampling) and answers (``#answer`` for Apple's single-question files, one
``answer`` per question for our multi-query files). Sampling uses only the ``random.Random`` it is given.

Example:
    >>> import json, random, tempfile, pathlib
    >>> spec = {"id": "demo", "level": "base", "topic": "bakery",
    ...   "context_annotated": "{name,Maya} bakes {n,4} trays of {k,6} muffins.\\n\\n#init:\\n"
    ...       "- name = sample(names)\\n- $n = range(2, 9)\\n- $k = range(2, 13)\\n",
    ...   "questions": [{"id": "q1", "text": "How many muffins does {name,Maya} bake?",
    ...                  "answer": "n * k", "predictability": "high"}]}
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.json"
    >>> _ = path.write_text(json.dumps(spec))
    >>> template = load_template(path)
    >>> template.default_instance().questions[0]["answer"]
    24
    >>> instance = template.instantiate(random.Random(1))
    >>> instance.questions[0]["answer"] == instance.values["n"] * instance.values["k"]
    True
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from optimize.data.expressions import (
    DecimalValue,
    Expression,
    ExpressionError,
    exact,
    format_value,
    sampling_functions,
    to_answer,
)
from optimize.data.pools import NUMBER_WORDS, pool_namespace

__all__ = [
    "TemplateError",
    "Template",
    "Instance",
    "QuestionSpec",
    "InitLine",
    "load_template",
    "load_templates",
    "render",
    "split_context_question",
    "split_sentences",
    "final_answer_expression",
]

DEFAULT_MAX_TRIES = 20_000
PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_]\w*)\s*(?:,([^{}]*))?\}")
_SECTION = re.compile(r"^[ \t]*#[ \t]*(init|conditions|answer)[ \t]*[:=]", re.MULTILINE | re.IGNORECASE)
_ASSIGN = re.compile(r"^\s*(\$?[A-Za-z_]\w*(?:\s*,\s*\$?[A-Za-z_]\w*)*)\s*,?\s*=(?!=)\s*(.+)$", re.DOTALL)


class TemplateError(ValueError):
    """A template file cannot be parsed or sampled; the message names the file and the problem."""


@dataclass(frozen=True)
class InitLine:
    """One ``#init`` line: ``targets = expression`` (``a, b = sample(pool, 2)`` has two targets)."""

    targets: tuple[str, ...]
    expression: Expression
    line: int


@dataclass(frozen=True)
class QuestionSpec:
    """One question of a template: annotated text, answer expression and predictability label."""

    id: str
    text: str
    answer: Expression
    predictability: str | None


@dataclass
class Instance:
    """One sampled instance: the context, its questions (with exact answers) and the sampled values."""

    template_id: str
    context: str
    questions: list[dict[str, Any]]
    values: dict[str, Any]
    texts: dict[str, str]


@dataclass
class Template:
    """A parsed template; ``instantiate(rng)`` samples one :class:`Instance`.

    ``format`` is ``"gsm-symbolic"`` (single question, split off the end of ``text``) or ``"multi-query"``.
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
        self, rng: random.Random, *, max_tries: int = DEFAULT_MAX_TRIES
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Draw variable values satisfying every ``#condition`` (rejection sampling, bounded)."""
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
            except ExpressionError:
                return False
            pool = candidates if isinstance(candidates, (list, range)) else [candidates]
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
            except ExpressionError:
                return False
        return True

    def _answer_problem(self, values: Mapping[str, Any]) -> str | None:
        for spec in self.questions:
            try:
                value = spec.answer.evaluate(values)
            except ExpressionError as error:
                return f"answer of {spec.id} failed: {error}"
            if not _is_exact_number(value):
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
            questions[0]["question"] = question
        return Instance(self.id, context, questions, values, texts or {})


class _Reject(Exception):
    """A sample that cannot be completed (empty pool); rejection sampling tries again."""


def _all_candidates(pool: Any, k: Any = None) -> list:
    return list(pool)


def _is_exact_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, Fraction):
        denominator = value.denominator
        for prime in (2, 5):
            while denominator % prime == 0:
                denominator //= prime
        return denominator == 1
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    return False


def _split_item(item: Any) -> tuple[str, Any]:
    """Pool items are plain values or ``(display_text, value)`` pairs."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (int, float, Fraction)):
        text = item[0] if isinstance(item[0], str) else format_value(item[0])
        return text, exact(item[1])
    if isinstance(item, float):
        item = DecimalValue(repr(item))
    return format_value(item), item


def _parse_number(text: str) -> Any:
    cleaned = text.strip().replace(",", "").lstrip("$€£¥₹").rstrip("%").strip()
    if re.fullmatch(r"-?\d+", cleaned):
        return int(cleaned)
    if re.fullmatch(r"-?\d*\.\d+", cleaned):
        return DecimalValue(cleaned)
    if re.fullmatch(r"-?\d+\s*/\s*\d+", cleaned):
        return exact(Fraction(cleaned.replace(" ", "")))
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


# ---------------------------------------------------------------- sentence splitting

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "st",
    "jr",
    "sr",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "mt",
    "no",
    "approx",
    "fig",
    "inc",
    "ltd",
    "co",
    "u.s",
    "a.m",
    "p.m",
    "sgt",
    "capt",
    "gen",
    "rev",
    "hon",
    "ave",
    "blvd",
}
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*\s+")


def split_sentences(text: str) -> list[str]:
    """Split at sentence ends, keeping decimals ($0.7), abbreviations (Dr.) and initials (J.) intact.

    Example:
        >>> split_sentences("Dr. Lee pays $0.7 per pen. He buys 3. How much does he pay?")
        ['Dr. Lee pays $0.7 per pen.', 'He buys 3.', 'How much does he pay?']
    """
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        punctuation = match.group(0).strip()
        if punctuation.startswith("."):
            words = text[start : match.start()].split()
            last = words[-1].lower().lstrip("(\"'") if words else ""
            if (
                last in _ABBREVIATIONS
                or re.fullmatch(r"[a-z]", last)
                or re.fullmatch(r"(?:[a-z]\.)+[a-z]", last)
            ):
                continue
        following = text[match.end() : match.end() + 1]
        if following and following.islower():
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def split_context_question(text: str) -> tuple[str, str]:
    """Split a problem into (context, question): the question is the last sentence with a '?'
    (plus anything after it), else the last sentence.

    Example:
        >>> split_context_question("Ann has 3.5 kg of flour. Dr. Ruiz adds 2 kg. How much flour is there?")
        ('Ann has 3.5 kg of flour. Dr. Ruiz adds 2 kg.', 'How much flour is there?')
    """
    text = text.strip()
    sentences = split_sentences(text)
    if not sentences:
        return "", ""
    index = len(sentences) - 1
    for position in range(len(sentences) - 1, -1, -1):
        if "?" in sentences[position]:
            index = position
            break
    context = " ".join(sentences[:index]).strip()
    question = " ".join(sentences[index:]).strip()
    return context, question


# ---------------------------------------------------------------- loading


def _sections(annotated: str, where: str) -> dict[str, str]:
    matches = list(_SECTION.finditer(annotated))
    sections = {"body": annotated[: matches[0].start()] if matches else annotated}
    for position, match in enumerate(matches):
        end = matches[position + 1].start() if position + 1 < len(matches) else len(annotated)
        name = match.group(1).lower()
        if name in sections:
            raise TemplateError(f"{where}: section #{name} appears twice; fix: merge them into one")
        sections[name] = annotated[match.end() : end]
    return sections


def _bullet_lines(section: str) -> list[tuple[int, str]]:
    """``- item`` lines (continuation lines are joined to the previous item), with 1-based positions."""
    items: list[tuple[int, str]] = []
    for number, raw in enumerate(section.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            items.append((number, line[1:].strip()))
        elif items:
            items[-1] = (items[-1][0], items[-1][1] + " " + line)
        else:
            items.append((number, line))
    # Number the items 1, 2, ... as a reader counts the "- " lines of the section.
    return [(position, text) for position, (_, text) in enumerate((i for i in items if i[1]), start=1)]


def _compile(source: str, where: str) -> Expression:
    try:
        return Expression(source)
    except ExpressionError as error:
        raise TemplateError(f"{where}: {error}") from None


def _parse_init(section: str, where: str) -> list[InitLine]:
    lines = []
    for number, text in _bullet_lines(section):
        match = _ASSIGN.match(text)
        if not match:
            raise TemplateError(
                f"{where}: bad #init line {number}: {text!r}; fix: write '- name = expression' "
                "(e.g. '- $x = range(2, 10)' or '- a, b = sample(names, 2)')"
            )
        targets = tuple(t.strip().lstrip("$") for t in match.group(1).split(","))
        if any(t.startswith("_") for t in targets):
            raise TemplateError(f"{where}: #init line {number}: variable names may not start with '_'")
        lines.append(
            InitLine(targets, _compile(match.group(2).strip(), f"{where}: #init line {number}"), number)
        )
    return lines


def _check_names(template: Template, where: str) -> None:
    pools = set(pool_namespace())
    defined: set[str] = set()
    for line in template.init:
        unknown = sorted(line.expression.names - defined - pools)
        if unknown:
            raise TemplateError(
                f"{where}: #init line {line.line} uses undefined pool or variable {', '.join(unknown)}; fix: "
                f"define it on an earlier #init line or use a defined pool ({', '.join(sorted(pools))})"
            )
        defined.update(line.targets)
    template._solved = _equations(template)
    solved_names = {template.init[index].targets[0] for index in template._solved}
    stages = []
    for condition in template.conditions:
        unknown = sorted(condition.names - defined)
        if unknown:
            raise TemplateError(
                f"{where}: #conditions line {condition.source!r} uses undefined variable "
                f"{', '.join(unknown)}; "
                "fix: define it in #init"
            )
        needed = condition.names
        stage = -1
        if needed & solved_names:
            stages.append(-1)
            continue
        seen: set[str] = set()
        for index, line in enumerate(template.init):
            seen.update(line.targets)
            if needed <= seen:
                stage = index
                break
        stages.append(stage)
    template._condition_stage = stages
    for spec in template.questions:
        unknown = sorted(spec.answer.names - defined)
        if unknown:
            raise TemplateError(
                f"{where}: answer of question {spec.id!r} ({spec.answer.source!r}) uses undefined variable "
                f"{', '.join(unknown)}; fix: define it in #init"
            )
        for name, _ in _placeholders(spec.text):
            if name not in defined:
                raise TemplateError(
                    f"{where}: question {spec.id!r} shows {{{name}}} which #init never defines"
                )
    for name, _ in _placeholders(template.text):
        if name not in defined:
            raise TemplateError(
                f"{where}: placeholder {{{name}}} is never defined in #init; "
                f"fix: add '- {name} = ...' to #init"
            )


def _equations(template: Template) -> dict[int, Expression]:
    """Conditions `x == expr` whose x is sampled from a plain pool and read by nothing else in #init.

    Guessing such an x almost never hits the equation, so it is computed instead; the distribution equals
    rejection sampling's (x uniform, kept only when it equals expr and lies in its pool).
    """
    solved: dict[int, Expression] = {}
    for condition in template.conditions:
        try:
            tree = ast.parse(condition.source.strip().replace("$", ""), mode="eval").body
        except SyntaxError:
            continue
        if not (isinstance(tree, ast.Compare) and len(tree.ops) == 1 and isinstance(tree.ops[0], ast.Eq)):
            continue
        for side, other in ((tree.left, tree.comparators[0]), (tree.comparators[0], tree.left)):
            if not isinstance(side, ast.Name):
                continue
            name = side.id
            lines = [i for i, line in enumerate(template.init) if line.targets == (name,)]
            if len(lines) != 1 or lines[0] in solved:
                continue
            index = lines[0]
            expression = Expression(ast.unparse(other))
            later_reads = any(name in line.expression.names for line in template.init)
            if (
                name in expression.names
                or later_reads
                or template.init[index].expression.names - set(pool_namespace())
            ):
                continue
            solved[index] = expression
            break
    return solved


def _placeholders(text: str) -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(text)]


def _defaults(*texts: str) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for text in texts:
        for name, default in _placeholders(text):
            if default is not None and name not in defaults:
                defaults[name] = default.strip()
    return defaults


def _unbrace(answer: str) -> str:
    answer = " ".join(answer.split())
    if answer.startswith("{") and answer.endswith("}") and answer.count("{") == 1:
        answer = answer[1:-1].strip()
    return answer


def third_party_id(path: Path) -> str:
    """``templates/p1/0004.json`` -> ``gsm-p1-0004`` (the folder name keeps p1 and base ids apart)."""
    return f"gsm-{path.parent.name}-{path.stem}"


def load_template(path: str | Path) -> Template:
    """Parse one template file of either format; raises :class:`TemplateError` naming the file."""
    path = Path(path)
    where = str(path)
    try:
        spec = json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise TemplateError(f"{where}: file not found") from None
    except UnicodeDecodeError as error:
        raise TemplateError(
            f"{where}: not valid UTF-8 (byte {error.start + 1}); fix: save the file as UTF-8"
        ) from None
    except json.JSONDecodeError as error:
        raise TemplateError(f"{where}: invalid JSON at line {error.lineno} ({error.msg})") from None
    if not isinstance(spec, dict):
        raise TemplateError(f"{where}: expected a JSON object")
    if "question_annotated" in spec:
        return _load_gsm_symbolic(spec, path)
    if "context_annotated" in spec:
        return _load_multi_query(spec, path)
    raise TemplateError(
        f"{where}: neither 'question_annotated' (GSM-Symbolic) nor 'context_annotated' (multi-query) found; "
        "see docs/template-format.md"
    )


def _load_gsm_symbolic(spec: dict[str, Any], path: Path) -> Template:
    where = str(path)
    sections = _sections(spec["question_annotated"], where)
    if "answer" not in sections:
        raise TemplateError(f"{where}: no #answer section; fix: add '#answer: <expression>'")
    level = path.parent.name if path.parent.name in ("p1", "p2") else "base"
    template = Template(
        id=third_party_id(path),
        path=path,
        format="gsm-symbolic",
        level=level,
        topic=None,
        text=sections["body"].strip(),
        init=_parse_init(sections.get("init", ""), where),
        conditions=[
            _compile(text, f"{where}: #conditions line {n}")
            for n, text in _bullet_lines(sections.get("conditions", ""))
        ],
        questions=[QuestionSpec("q1", "", _compile(_unbrace(sections["answer"]), f"{where}: #answer"), None)],
        source="gsm-symbolic",
        answer_annotated=spec.get("answer_annotated"),
        original_question=spec.get("question"),
        original_answer=spec.get("answer"),
    )
    template.defaults = _defaults(template.text)
    _check_names(template, where)
    return template


def _load_multi_query(spec: dict[str, Any], path: Path) -> Template:
    where = str(path)
    for key in ("id", "questions"):
        if key not in spec:
            raise TemplateError(f"{where}: missing field {key!r}; see docs/template-format.md section 2")
    sections = _sections(spec["context_annotated"], where)
    if "answer" in sections:
        raise TemplateError(f"{where}: multi-query templates give answers per question, not in #answer")
    questions = []
    for position, question in enumerate(spec["questions"], start=1):
        if not isinstance(question, dict) or not {"text", "answer"} <= set(question):
            raise TemplateError(f"{where}: question {position} needs 'text' and 'answer'")
        question_id = str(question.get("id", f"q{position}"))
        questions.append(
            QuestionSpec(
                question_id,
                question["text"].strip(),
                _compile(str(question["answer"]), f"{where}: question {question_id} answer"),
                question.get("predictability"),
            )
        )
    if not questions:
        raise TemplateError(f"{where}: 'questions' is empty")
    template = Template(
        id=str(spec["id"]),
        path=path,
        format="multi-query",
        level=str(spec.get("level", "base")),
        topic=spec.get("topic"),
        text=sections["body"].strip(),
        init=_parse_init(sections.get("init", ""), where),
        conditions=[
            _compile(text, f"{where}: #conditions line {n}")
            for n, text in _bullet_lines(sections.get("conditions", ""))
        ],
        questions=questions,
        source="ours",
    )
    template.defaults = _defaults(template.text, *(q.text for q in questions))
    _check_names(template, where)
    return template


def template_paths(directory: str | Path) -> list[Path]:
    """Every ``*.json`` under ``directory`` (recursively), in a stable order."""
    directory = Path(directory)
    if directory.is_file():
        return [directory]
    if not directory.is_dir():
        raise TemplateError(f"{directory}: template directory not found")
    return sorted(directory.rglob("*.json"), key=lambda p: p.relative_to(directory).as_posix())


def load_templates(directory: str | Path) -> list[Template]:
    """Load every template under ``directory``; the first broken file raises :class:`TemplateError`."""
    return [load_template(path) for path in template_paths(directory)]


def final_answer_expression(answer_annotated: str) -> str | None:
    """The expression in the final ``#### {expr}`` of an annotated solution (or a literal number)."""
    if "####" not in answer_annotated:
        return None
    tail = answer_annotated.rsplit("####", 1)[1].strip()
    placeholders = re.findall(r"\{([^{}]*)\}", tail)
    if placeholders:
        return placeholders[0].strip()
    number = re.search(r"-?\d[\d,]*(?:\.\d+)?", tail)
    return number.group(0).replace(",", "") if number else None


def validate_template(template: Template, *, samples: int = 20, seed: int = 0) -> list[str]:
    """Problems with a template: defaults must be a valid instance and sampling must succeed.

    Returns an empty list when the template is fine.
    """
    problems: list[str] = []
    values, _ = template.default_values()
    missing = sorted(template.variables - set(values))
    if missing:
        problems.append(f"no placeholder default for {', '.join(missing)}")
    else:
        problems += [f"defaults violate condition {c}" for c in template.check_conditions(values)]
        for spec in template.questions:
            try:
                value = spec.answer.evaluate(values)
                if not _is_exact_number(value):
                    problems.append(
                        f"question {spec.id}: answer {value} on the defaults is not an exact decimal"
                    )
            except ExpressionError as error:
                problems.append(f"question {spec.id}: {error}")
    if template.format == "multi-query":
        if len(template.questions) < 3:
            problems.append(f"only {len(template.questions)} questions (need at least 3)")
        for spec in template.questions:
            if not render(spec.text, None).rstrip().endswith("?"):
                problems.append(f"question {spec.id} does not end with '?'")
            if spec.predictability not in ("high", "medium", "low"):
                problems.append(
                    f"question {spec.id}: predictability {spec.predictability!r} is not high/medium/low"
                )
    rng = random.Random(f"validate|{seed}|{template.id}")
    for _ in range(samples):
        try:
            template.instantiate(rng)
        except TemplateError as error:
            problems.append(str(error))
            break
    return problems


# ---------------------------------------------------------------- coverage of third-party templates


@dataclass
class CoverageResult:
    """How one GSM-Symbolic template fares: parses, generates, answers check out, defaults reproduce."""

    path: Path
    parses: bool = False
    generates: bool = False
    answers_check: bool | None = None
    defaults_match: bool | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.parses
            and self.generates
            and self.answers_check is not False
            and self.defaults_match is not False
        )


def _same_number(a: Any, b: Any) -> bool:
    try:
        return abs(float(to_answer(exact(a))) - float(to_answer(exact(b)))) <= 1e-6 * max(1.0, abs(float(b)))
    except (ExpressionError, TypeError, ValueError):
        return False


def check_template(path: str | Path, *, samples: int = 5, seed: int = 0) -> CoverageResult:
    """Parse, sample ``samples`` instances and check each ``#answer`` against the solution's ``#### {expr}``;
    for base GSM-Symbolic templates also check the defaults reproduce the original ``answer``."""
    result = CoverageResult(Path(path))
    try:
        template = load_template(path)
    except TemplateError as error:
        result.problems.append(f"parse: {error}")
        return result
    result.parses = True
    final = final_answer_expression(template.answer_annotated or "")
    final_expression = None
    if final is None:
        result.problems.append("check: answer_annotated has no '#### {expr}'")
    else:
        try:
            final_expression = Expression(final)
        except ExpressionError as error:
            result.problems.append(f"check: {error}")
    rng = random.Random(f"coverage|{seed}|{template.id}")
    mismatches = 0
    try:
        for _ in range(samples):
            values, _ = template.sample_values(rng)
            answer = template.answers(values)[0]
            if final_expression is not None:
                try:
                    expected = final_expression.evaluate(values)
                except ExpressionError as error:
                    result.problems.append(f"check: {error}")
                    final_expression = None
                    continue
                if not _same_number(answer, expected):
                    mismatches += 1
                    if mismatches == 1:
                        result.problems.append(
                            f"check: #answer gives {format_value(answer)} but '#### {final}' gives "
                            f"{format_value(expected)} for {_short(values)}"
                        )
        result.generates = True
    except TemplateError as error:
        result.problems.append(f"generate: {error}")
    if result.generates and final_expression is not None:
        result.answers_check = mismatches == 0
    elif result.generates:
        result.answers_check = False
    if template.level == "base" and template.original_answer:
        values, _ = template.default_values()
        missing = sorted(template.variables - set(values))
        if missing:
            result.problems.append(f"defaults: no placeholder default for {', '.join(missing)} (not checked)")
        else:
            try:
                got = template.answers(values)[0]
                wanted = Fraction(final_answer_expression(template.original_answer) or "nan")
                result.defaults_match = _same_number(got, wanted)
                if not result.defaults_match:
                    result.problems.append(
                        f"defaults: #answer on the defaults is {format_value(got)}, original answer is "
                        f"{format_value(wanted)}"
                    )
            except (ExpressionError, ValueError) as error:
                result.defaults_match = False
                result.problems.append(f"defaults: {error}")
    return result


def _short(values: Mapping[str, Any]) -> str:
    text = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
    return text if len(text) <= 160 else text[:157] + "..."


def coverage(
    directory: str | Path, *, samples: int = 5, seed: int = 0, progress: bool = True
) -> list[CoverageResult]:
    """:func:`check_template` for every ``*.json`` under ``directory``."""
    from tqdm import tqdm

    paths = template_paths(directory)
    return [
        check_template(path, samples=samples, seed=seed)
        for path in tqdm(paths, desc="coverage", unit="template", disable=not progress)
    ]
