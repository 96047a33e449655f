"""Our multi-query templates (data/templates) are valid, exact and reproduce the committed dataset.

Every test here reads only files inside the repository (no ../shared), so it runs on a user's machine.
"""

from __future__ import annotations

import json
import random
import re
import shlex
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from optimize.data.checks import validate_template
from optimize.data.functions import sampling_functions
from optimize.data.instances import render
from optimize.data.parsing import load_template
from optimize.data.pools import pool_namespace
from optimize.data.sentences import split_sentences
from optimize.data.values import to_answer

REPO = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = REPO / "data" / "templates"
DATASET = REPO / "data" / "stateful_gsm.jsonl"
DATA_CARD = REPO / "data" / "README.md"
TEMPLATE_PATHS = sorted(TEMPLATES_DIR.glob("mq-*.json"))
LEVELS = {"base", "p1", "p2"}
PREDICTABILITY = {"high", "medium", "low"}

# Answers worked out by hand from each template's placeholder defaults (independent of the expressions),
# in question order. A wrong answer expression or a changed default makes the defaults test fail.
DEFAULT_ANSWERS: dict[str, list[int | float]] = {
    "mq-0001": [2, 72, 22, 34],
    "mq-0002": [34, 12, 8],
    "mq-0003": [300, 180, 15, 120],
    "mq-0004": [14, 84, 16],
    "mq-0005": [96, 120, 2400, 2160],
    "mq-0006": [39, 7, 6, 45],
    "mq-0007": [150, 120, 6],
    "mq-0008": [450, 30, 84, 1680],
    "mq-0009": [495, 18, 45],
    "mq-0010": [166, 36, 173],
    "mq-0011": [910, 750, 170, 2],
    "mq-0012": [600, 3, 4],
    "mq-0013": [420, 24, 12, 15],
    "mq-0014": [36, 300, 18, 54],
    "mq-0015": [14, 18, 24],
    "mq-0016": [95, 100, 10, 105],
    "mq-0017": [36, 60, 9, 40],
    "mq-0018": [1588, 3, 28, 736],
    "mq-0019": [210, 15, 35, 120],
    "mq-0020": [30, 4, 6],
    "mq-0021": [4, 70, 7],
    "mq-0022": [832, 6, 162, 360],
    "mq-0023": [528, 100, 20, 600],
    "mq-0024": [24, 3, 60, 20],
    "mq-0025": [360, 72, 9, 504],
    "mq-0026": [34, 12, 42, 8],
    "mq-0027": [7, 24, 16],
    "mq-0028": [135, 4800, 125, 35],
    "mq-0029": [83, 320, 95, 15],
    "mq-0030": [1080, 180, 240, 60],
    "mq-0031": [35, 12, 13, 18],
    "mq-0032": [820, 425, 5740, 75],
    "mq-0033": [293, 440, 96, 490],
    "mq-0034": [140, 30, 192, 10],
    "mq-0035": [730, 28, 7, 1400],
    "mq-0036": [288, 1500, 3, 400],
    "mq-0037": [98, 14, 3, 270],
    "mq-0038": [660, 600, 44, 8],
    "mq-0039": [210, 57, 19, 60],
    "mq-0040": [7, 250, 720, 20],
    "mq-0041": [11, 108, 144, 36],
    "mq-0042": [109, 30, 12, 64],
    "mq-0043": [150, 40, 54, 7.5],
    "mq-0044": [26, 15, 20, 9],
    "mq-0045": [8000, 1000, 200, 2000],
}


def _ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


def _is_exact_answer(answer: Any) -> bool:
    """An int, or a float that is a short exact decimal (at most 2 decimal places)."""
    if isinstance(answer, bool):
        return False
    if isinstance(answer, int):
        return True
    return isinstance(answer, float) and (Fraction(repr(answer)) * 100).denominator == 1


def test_there_are_enough_templates_across_levels() -> None:
    assert len(TEMPLATE_PATHS) >= 42, f"expected at least 42 templates in {TEMPLATES_DIR}"
    assert set(DEFAULT_ANSWERS) == set(_ids(TEMPLATE_PATHS)), "DEFAULT_ANSWERS must list every template"
    levels = [json.loads(path.read_text(encoding="utf-8"))["level"] for path in TEMPLATE_PATHS]
    for level in LEVELS:
        assert levels.count(level) >= len(levels) // 4, f"too few {level!r} templates: {levels.count(level)}"


@pytest.mark.parametrize("path", TEMPLATE_PATHS, ids=_ids(TEMPLATE_PATHS))
def test_template_loads_with_labelled_questions(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    template = load_template(path)
    assert raw["id"] == path.stem == template.id
    assert template.source == "ours" and template.format == "multi-query"
    assert raw["level"] in LEVELS and raw["topic"]
    assert len(raw["questions"]) >= 3
    labels = [question["predictability"] for question in raw["questions"]]
    assert set(labels) <= PREDICTABILITY
    assert "high" in labels and "low" in labels, f"{path.name}: needs at least one high and one low question"
    assert len({question["id"] for question in raw["questions"]}) == len(raw["questions"])
    context = render(template.text, None)
    assert "?" not in context, f"{path.name}: the context must hold facts only"
    assert 3 <= len(split_sentences(context)) <= 8, f"{path.name}: context should have 3-8 sentences"
    for spec in template.questions:
        question = render(spec.text, None)
        assert question.endswith("?") and len(split_sentences(question)) == 1, f"{path.name}: {question!r}"


@pytest.mark.parametrize("path", TEMPLATE_PATHS, ids=_ids(TEMPLATE_PATHS))
def test_defaults_form_a_valid_instance_with_the_hand_computed_answers(path: Path) -> None:
    template = load_template(path)
    values, _ = template.default_values()
    assert set(values) == template.variables, f"{path.name}: every variable needs a placeholder default"
    assert template.check_conditions(values) == [], f"{path.name}: defaults break a #condition"
    # Each default must be a value the #init line can actually draw.
    draw_all = dict(sampling_functions(random.Random(0)))
    draw_all["sample"] = lambda pool, k=None: list(pool)
    pools = pool_namespace()
    for line in template.init:
        candidates = line.expression.evaluate({**pools, **values}, draw_all)
        candidates = list(candidates) if isinstance(candidates, (list, range, tuple)) else [candidates]
        plain = [item[1] if isinstance(item, tuple) else item for item in candidates]
        for target in line.targets:
            assert values[target] in plain, f"{path.name}: default of {target!r} is outside its #init pool"
    answers = [to_answer(value) for value in template.answers(values)]
    assert answers == DEFAULT_ANSWERS[template.id]
    assert [question["answer"] for question in template.default_instance().questions] == answers


@pytest.mark.parametrize("path", TEMPLATE_PATHS, ids=_ids(TEMPLATE_PATHS))
def test_sampled_instances_have_exact_non_negative_answers(path: Path) -> None:
    template = load_template(path)
    assert validate_template(template, samples=20, seed=3) == []
    rng = random.Random(f"our-templates|{template.id}")
    contexts = set()
    for _ in range(20):
        instance = template.instantiate(rng)
        assert "{" not in instance.context and "}" not in instance.context
        contexts.add(instance.context)
        for question in instance.questions:
            assert "{" not in question["question"], f"{path.name}: unrendered placeholder"
            assert _is_exact_answer(question["answer"]), f"{path.name}: inexact answer {question['answer']!r}"
            assert question["answer"] >= 0, f"{path.name}: negative answer in {instance.context!r}"
    assert len(contexts) >= 10, f"{path.name}: too little variety ({len(contexts)} distinct contexts in 20)"


def _card_command() -> list[str]:
    """The generation command written in the data card (a line starting with `sleeptime data generate`)."""
    card = DATA_CARD.read_text(encoding="utf-8")
    match = re.search(r"^\s*(sleeptime data generate [^\n`]+)", card, re.MULTILINE)
    assert match, f"{DATA_CARD}: no 'sleeptime data generate ...' command found"
    return shlex.split(match.group(1))


def test_committed_dataset_is_reproduced_byte_for_byte_by_the_card_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimize.cli.app import main

    argv = _card_command()[1:]
    assert "--out" in argv, "the card's command must name its --out file"
    out_index = argv.index("--out") + 1
    assert Path(argv[out_index]) == DATASET.relative_to(REPO)
    argv[out_index] = str(tmp_path / "regenerated.jsonl")
    monkeypatch.chdir(REPO)
    assert main(argv) == 0
    assert (tmp_path / "regenerated.jsonl").read_bytes() == DATASET.read_bytes(), (
        "data/stateful_gsm.jsonl differs from what the data card's command generates; rerun the command"
    )


def test_committed_dataset_rows_follow_the_row_format() -> None:
    rows = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 250
    template_ids = set(_ids(TEMPLATE_PATHS))
    assert {row["template_id"] for row in rows} == template_ids
    assert len({row["context_id"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) == {"context_id", "template_id", "level", "seed", "instance", "context", "source",
                            "questions"}
        assert row["source"] == "ours" and row["level"] in LEVELS
        assert row["context_id"].startswith(f"{row['template_id']}-s{row['seed']}-")
        assert len(row["questions"]) >= 3
        for question in row["questions"]:
            assert question["question_id"].startswith(row["context_id"] + "-q")
            assert question["predictability"] in PREDICTABILITY
            assert _is_exact_answer(question["answer"]) and question["answer"] >= 0
