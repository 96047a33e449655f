"""Template parsing and sampling for both formats, including real GSM-Symbolic files when present."""

import json
import os
import random
from fractions import Fraction
from pathlib import Path

import pytest

from optimize.data.checks import check_template
from optimize.data.instances import TemplateError
from optimize.data.parsing import load_template
from optimize.data.sentences import split_context_question, split_sentences

# ../shared next to the checkout; SLEEPTIME_SHARED points elsewhere (e.g. from a git worktree).
SHARED = (
    Path(os.environ.get("SLEEPTIME_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "data"
    / "gsm-symbolic"
    / "templates"
)

MULTI = {
    "id": "mq-test",
    "level": "base",
    "topic": "bakery",
    "context_annotated": (
        "{name,Maya} bakes {n,12} trays of {item,muffins} with {per,6} on each tray. "
        "She gives away {frac,half} of them.\n\n#init:\n- name = sample(names)\n"
        "- item = sample(baked_goods)\n"
        "- $n = range(5, 20)\n- $per = range(2, 10)\n- $frac = sample(fractions)\n\n"
        "#conditions:\n- is_int(n * per * frac)\n"
    ),
    "questions": [
        {
            "id": "q1",
            "text": "How many {item,muffins} does {name,Maya} bake?",
            "answer": "n * per",
            "predictability": "high",
        },
        {
            "id": "q2",
            "text": "How many does she give away?",
            "answer": "n * per * frac",
            "predictability": "medium",
        },
        {
            "id": "q3",
            "text": "How many trays hold the rest?",
            "answer": "(n * per - n * per * frac) / per",
            "predictability": "low",
        },
    ],
}


def write(tmp_path: Path, spec: dict, name: str = "t.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_multi_query_defaults_and_samples(tmp_path):
    template = load_template(write(tmp_path, MULTI))
    default = template.default_instance()
    assert (
        default.context == "Maya bakes 12 trays of muffins with 6 on each tray. She gives away half of them."
    )
    assert [q["answer"] for q in default.questions] == [72, 36, 6]
    assert default.questions[0]["question"] == "How many muffins does Maya bake?"
    rng = random.Random(5)
    for _ in range(20):
        instance = template.instantiate(rng)
        values = instance.values
        assert instance.questions[0]["answer"] == values["n"] * values["per"]
        assert (values["n"] * values["per"] * values["frac"]).denominator == 1
        assert instance.texts["frac"] in {"half", "a third", "a quarter", "a fifth"}  # text shown, value used
        assert "{" not in instance.context


def test_same_seed_same_instance(tmp_path):
    template = load_template(write(tmp_path, MULTI))
    first = template.instantiate(random.Random("seed-1"))
    second = template.instantiate(random.Random("seed-1"))
    assert (first.context, first.questions) == (second.context, second.questions)


def test_multi_value_sample_is_distinct(tmp_path):
    spec = dict(MULTI)
    spec["context_annotated"] = (
        "{a,Ann} and {b,Bob} and {c,Cy} each have {n,3} pens.\n\n#init:\n- a, b, c = sample(names, 3)\n"
        "- $n = range(2, 5)\n"
    )
    spec["questions"] = [
        {"id": "q1", "text": "How many pens in all?", "answer": "3 * n", "predictability": "high"}
    ]
    template = load_template(write(tmp_path, spec))
    rng = random.Random(0)
    for _ in range(30):
        values = template.instantiate(rng).values
        assert len({values["a"], values["b"], values["c"]}) == 3


def test_undefined_pool_names_the_template(tmp_path):
    spec = dict(MULTI)
    spec["context_annotated"] = "{name,Maya} runs.\n\n#init:\n- name = sample(no_such_pool)\n"
    path = write(tmp_path, spec, "broken-pool.json")
    with pytest.raises(TemplateError, match=r"broken-pool\.json.*no_such_pool"):
        load_template(path)


def test_bad_init_line_names_file_and_line(tmp_path):
    spec = dict(MULTI)
    spec["context_annotated"] = "{n,3} cats.\n\n#init:\n- $n = range(1, 5)\n- this is not an assignment\n"
    path = write(tmp_path, spec, "bad-init.json")
    with pytest.raises(TemplateError, match=r"bad-init\.json: bad #init line 2"):
        load_template(path)


def test_unsatisfiable_conditions_name_the_template(tmp_path):
    spec = dict(MULTI)
    spec["context_annotated"] = "{n,3} cats.\n\n#init:\n- $n = range(1, 5)\n\n#conditions:\n- n > 100\n"
    spec["questions"] = [{"id": "q1", "text": "How many cats?", "answer": "n", "predictability": "high"}]
    template = load_template(write(tmp_path, spec, "impossible.json"))
    with pytest.raises(TemplateError, match=r"impossible\.json.*mq-test.*no valid sample in 50 tries"):
        template.instantiate(random.Random(0), max_tries=50)


def test_gsm_symbolic_format_tuples_and_split(tmp_path):
    spec = {
        "question": "Jerry rolls a six-sided die. How likely is a 6?",
        "answer": "She can roll 3 / 0.5 = 6 times.\n#### 6",
        "question_annotated": (
            "{name,Jerry} pays {cur,$}{p,0.5} per roll of a {sides,six-sided} die. "
            "How many rolls can {name,Jerry} make with {cur,$}{m,3}?\n\n#init:\n- name = sample(names_male)\n"
            "- cur = sample(currencies_sym)\n"
            '- $sides = sample([("six-sided", 6), ("d8", 8)])\n'
            "- $p = sample([0.25, 0.50])\n- $m = range(2, 10)\n\n#conditions:\n- is_int(m / p)\n\n"
            "#answer: m / p"
        ),
        "answer_annotated": "{m} / {p} = {m/p}\n#### {m/p}",
    }
    directory = tmp_path / "symbolic"
    directory.mkdir()
    template = load_template(write(directory, spec, "0001.json"))
    assert template.format == "gsm-symbolic" and template.level == "base"
    default = template.default_instance()
    assert default.context == "Jerry pays $0.5 per roll of a six-sided die."
    assert default.questions[0]["question"] == "How many rolls can Jerry make with $3?"
    assert default.questions[0]["answer"] == 6
    assert default.values["sides"] == 6
    rng = random.Random(2)
    shown = {template.instantiate(rng).context.split(" per ")[0].split()[-1][1:] for _ in range(40)}
    assert shown <= {"0.25", "0.50"} and "0.50" in shown  # decimals displayed as written in the source
    assert check_template(directory / "0001.json").ok


def test_sentence_split_keeps_decimals_and_abbreviations():
    text = (
        "Dr. Lee pays $0.7 for each pen. Mrs. Kim buys 2.5 kg of rice. How much does Dr. Lee pay for 3 pens?"
    )
    assert split_sentences(text) == [
        "Dr. Lee pays $0.7 for each pen.",
        "Mrs. Kim buys 2.5 kg of rice.",
        "How much does Dr. Lee pay for 3 pens?",
    ]
    context, question = split_context_question(text)
    assert context == "Dr. Lee pays $0.7 for each pen. Mrs. Kim buys 2.5 kg of rice."
    assert question == "How much does Dr. Lee pay for 3 pens?"
    assert split_context_question("She has 3 pens. Calculate the total cost.") == (
        "She has 3 pens.",
        "Calculate the total cost.",
    )


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared GSM-Symbolic templates are not available")
@pytest.mark.parametrize(
    "relative",
    ["symbolic/0000.json", "symbolic/0002.json", "symbolic/0011.json", "p1/0004.json", "p1/0030.json"],
)
def test_shared_templates_generate_and_check_out(relative):
    result = check_template(SHARED / relative, samples=3)
    assert result.parses and result.generates, result.problems
    assert result.answers_check is True, result.problems
    assert result.defaults_match is not False, result.problems


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared GSM-Symbolic templates are not available")
def test_shared_symbolic_defaults_reproduce_original_answer():
    template = load_template(SHARED / "symbolic" / "0000.json")
    values, _ = template.default_values()
    assert template.answers(values) == [10]
    assert template.default_instance().questions[0]["answer"] == 10
    assert Fraction(values["x"]) == 10
