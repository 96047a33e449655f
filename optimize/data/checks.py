"""Template checks: :func:`validate_template` for ours, :func:`coverage` of third-party GSM-Symbolic files.

Coverage parses each file, samples instances and compares its ``#answer`` with the final ``#### {expr}`` of
its annotated solution, and (for base templates) checks that the defaults reproduce the original answer.

Example:
    >>> from optimize.data.parsing import load_template
    >>> validate_template(load_template("data/templates/mq-0001.json"), samples=2)
    []
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
from optimize.data.instances import Template, TemplateError, render
from optimize.data.limits import ExpressionError
from optimize.data.parsing import load_template, template_paths
from optimize.data.values import exact, format_value, is_exact_number, to_answer

__all__ = [
    "validate_template",
    "CoverageResult",
    "check_template",
    "coverage",
    "final_answer_expression",
    "AnswerMismatch",
    "solution_disagreement",
]


class AnswerMismatch(TemplateError):
    """A template's ``#answer`` disagrees with its own annotated solution (its answer key is suspect)."""

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
                if not is_exact_number(value):
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
    """How one GSM-Symbolic template fares: parses, generates, answers check out, defaults reproduce.

    Example:
        >>> CoverageResult(Path("gsm-p1-0001.json"), parses=True, generates=True).ok  # None: unchecked
        True
        >>> CoverageResult(Path("gsm-p1-0001.json"), parses=True, generates=True, answers_check=False).ok
        False
    """

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


def solution_disagreement(template: Template, values: Mapping[str, Any]) -> str | None:
    """Why ``template``'s ``#answer`` on ``values`` differs from its solution's ``#### {expr}``, or None.

    Only GSM-Symbolic templates carry a solution; other templates always agree.
    """
    final = final_answer_expression(template.answer_annotated or "")
    if template.format != "gsm-symbolic" or final is None:
        return None if template.format != "gsm-symbolic" else "answer_annotated has no '#### {expr}'"
    try:
        answer, expected = template.answers(values)[0], Expression(final).evaluate(values)
    except ExpressionError as error:
        return str(error)
    if _same_number(answer, expected):
        return None
    return (
        f"#answer gives {format_value(answer)} but '#### {final}' gives {format_value(expected)} "
        f"for {_short(values)}"
    )


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
    checkable = final_answer_expression(template.answer_annotated or "") is not None
    if not checkable:
        result.problems.append("check: answer_annotated has no '#### {expr}'")
    rng = random.Random(f"coverage|{seed}|{template.id}")
    mismatches = 0
    try:
        for _ in range(samples):
            values, _ = template.sample_values(rng)
            problem = solution_disagreement(template, values) if checkable else None
            if problem is not None:
                mismatches += 1
                if mismatches == 1:
                    result.problems.append(f"check: {problem}")
        result.generates = True
    except TemplateError as error:
        result.problems.append(f"generate: {error}")
    if result.generates and checkable:
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
