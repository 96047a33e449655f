"""Generate a Stateful GSM JSONL (docs/template-format.md section 3) from a directory of templates.

Each template gets its own ``random.Random`` seeded from ``(seed, template id, instance)``, so the output
is byte-for-byte identical for the same templates and seed, whatever other templates are present.

Example:
    >>> from pathlib import Path
    >>> rows = generate_rows(Path("data/templates"), per_template=2, seed=7)  # doctest: +SKIP
    >>> write_jsonl(rows, Path("data/stateful_gsm.jsonl"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from optimize.data.checks import AnswerMismatch, check_template, solution_disagreement
from optimize.data.instances import Template, TemplateError
from optimize.data.parsing import load_template, template_paths

__all__ = ["generate_rows", "instance_rows", "write_jsonl", "generate_file"]

MAX_DUPLICATE_FACTOR = 20


def instance_rows(
    template: Template, *, per_template: int, seed: int, checked: bool = False
) -> list[dict[str, Any]]:
    """Up to ``per_template`` distinct instances of one template as dataset rows.

    Distinct means a different context + questions; a template with fewer possible instances yields fewer.
    With ``checked`` an instance whose answer disagrees with the template's own solution raises
    :class:`~optimize.data.checks.AnswerMismatch`.
    """
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    attempt = 0
    while len(rows) < per_template and attempt < per_template * MAX_DUPLICATE_FACTOR:
        rng = random.Random(f"{seed}|{template.id}|{attempt}")
        attempt += 1
        instance = template.instantiate(rng)
        if checked:
            _check_instance(template, instance.values)
        key = (instance.context, *(q["question"] for q in instance.questions))
        if key in seen:
            continue
        seen.add(key)
        context_id = f"{template.id}-s{seed}-{len(rows):03d}"
        rows.append(
            {
                "context_id": context_id,
                "template_id": template.id,
                "level": template.level,
                "seed": seed,
                "instance": len(rows),
                "context": instance.context,
                "source": template.source,
                "questions": [
                    {
                        "question_id": f"{context_id}-{question['id']}",
                        "question": question["question"],
                        "answer": question["answer"],
                        "predictability": question["predictability"],
                    }
                    for question in instance.questions
                ],
            }
        )
    return rows


def generate_rows(
    templates: str | Path | Sequence[Template],
    *,
    per_template: int,
    seed: int,
    levels: Iterable[str] | None = None,
    skip_broken: bool = False,
    checked: bool = False,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for every template (optionally only some ``levels``); returns ``(rows, problems)``.

    With ``skip_broken`` a template that fails to parse or sample is reported in ``problems`` and skipped;
    otherwise the first failure raises :class:`TemplateError`. With ``checked`` a GSM-Symbolic template whose
    ``#answer`` disagrees with its own annotated solution (:func:`~optimize.data.checks.check_template`) is
    reported and skipped, so a held-out set carries no wrong answer keys.
    """
    if per_template < 1:
        raise ValueError(f"per_template must be at least 1 (got {per_template})")
    problems: list[str] = []
    if isinstance(templates, (str, Path)):
        loaded: list[Template] = []
        for path in template_paths(templates):
            try:
                loaded.append(load_template(path))
            except TemplateError as error:
                if not skip_broken:
                    raise
                problems.append(str(error))
    else:
        loaded = list(templates)
    wanted = set(levels) if levels else None
    selected = [t for t in loaded if wanted is None or t.level in wanted]
    if checked:
        selected = _checked(selected, problems)
    ids = [t.id for t in selected]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise TemplateError(f"duplicate template ids {duplicates}; fix: give every template a unique 'id'")
    from tqdm import tqdm

    rows: list[dict[str, Any]] = []
    for template in tqdm(selected, desc="generating", unit="template", disable=not progress):
        try:
            rows.extend(instance_rows(template, per_template=per_template, seed=seed, checked=checked))
        except AnswerMismatch as error:  # only with `checked`: skipped, never raised
            problems.append(str(error))
        except TemplateError as error:
            if not skip_broken:
                raise
            problems.append(str(error))
    return rows, problems


def _check_instance(template: Template, values: dict[str, Any]) -> None:
    problem = solution_disagreement(template, values)
    if problem is not None:
        raise AnswerMismatch(f"{template.path}: an instance fails its coverage check ({problem})")


def _checked(templates: list[Template], problems: list[str]) -> list[Template]:
    kept = []
    for template in templates:
        result = check_template(template.path) if template.format == "gsm-symbolic" else None
        if result is None or result.ok:
            kept.append(template)
        else:
            problems.append(f"{template.path}: fails its coverage check ({'; '.join(result.problems)})")
    return kept


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write rows as UTF-8 JSONL with a stable key order; returns the number of rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def generate_file(
    templates: str | Path,
    out: str | Path,
    *,
    per_template: int,
    seed: int,
    levels: Iterable[str] | None = None,
    skip_broken: bool = False,
    checked: bool = False,
    progress: bool = True,
) -> tuple[int, list[str]]:
    """Generate and write a dataset file; returns ``(rows written, problems)``."""
    rows, problems = generate_rows(
        templates,
        per_template=per_template,
        seed=seed,
        levels=levels,
        skip_broken=skip_broken,
        checked=checked,
        progress=progress,
    )
    return write_jsonl(rows, out), problems
