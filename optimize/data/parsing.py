"""Read template files of both formats (docs/template-format.md) into :class:`Template` objects.

GSM-Symbolic's single-question files (``question_annotated`` with ``#init``, ``#conditions``, ``#answer``)
and our multi-query files (``context_annotated`` plus ``questions``). Every problem raises
:class:`~optimize.data.instances.TemplateError` naming the file (and the line of a section, where it has one).

Example:
    >>> template = load_template("data/templates/mq-0001.json")
    >>> template.id, template.format
    ('mq-0001', 'multi-query')
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from optimize.data.expressions import Expression
from optimize.data.instances import PLACEHOLDER, InitLine, QuestionSpec, Template, TemplateError
from optimize.data.limits import ExpressionError
from optimize.data.pools import pool_namespace

__all__ = ["load_template", "load_templates", "template_paths", "third_party_id"]

_SECTION = re.compile(r"^[ \t]*#[ \t]*(init|conditions|answer)[ \t]*[:=]", re.MULTILINE | re.IGNORECASE)
_ASSIGN = re.compile(r"^\s*(\$?[A-Za-z_]\w*(?:\s*,\s*\$?[A-Za-z_]\w*)*)\s*,?\s*=(?!=)\s*(.+)$", re.DOTALL)


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
    except RecursionError:
        raise TemplateError(f"{where}: JSON nested too deeply; see docs/template-format.md") from None
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

