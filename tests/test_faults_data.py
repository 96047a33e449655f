"""Fault suite for the data layer: bad rows, and templates that try to hang or exhaust the machine.

Without the evaluator's bounds each case would end in a wrong answer read silently, a bare UnicodeDecodeError,
a hang of minutes or gigabytes of memory, or an uncaught RecursionError that ``--skip-broken`` does not skip.
With them each case is refused in milliseconds with one clear line naming the file or expression.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from optimize.data.checks import check_template
from optimize.data.expressions import evaluate
from optimize.data.generate import generate_rows
from optimize.data.instances import TemplateError
from optimize.data.limits import ExpressionError
from optimize.data.loaders import DataError, load_examples
from optimize.data.parsing import load_template

REPO = Path(__file__).resolve().parents[1]
# ../shared next to the checkout; SLEEPTIME_SHARED points elsewhere (e.g. from a git worktree).
SHARED = Path(os.environ.get("SLEEPTIME_SHARED", REPO.parent / "shared"))
SHARED_TEMPLATES = SHARED / "data" / "gsm-symbolic" / "templates"


# ---------------------------------------------------------------- data rows


def our_row(answer: object) -> dict:
    return {
        "context_id": "c1",
        "template_id": "t1",
        "context": "Maya bakes 12 muffins.",
        "questions": [{"question_id": "c1-q1", "question": "How many?", "answer": answer}],
    }


@pytest.mark.parametrize("answer", ["12 or 13", "between 12 and 13", "1/2", "#### 12 or 13"])
def test_an_answer_that_is_not_exactly_one_number_is_refused_with_file_and_line(tmp_path, answer):
    path = tmp_path / "rows.jsonl"
    lines = [json.dumps(our_row(7)), "", json.dumps(our_row(answer))]  # the bad row is on line 3
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.jsonl:3: .*exactly one number") as error:
        load_examples(path)
    assert "\n" not in str(error.value)


def test_an_apple_answer_with_two_numbers_after_the_marker_is_refused(tmp_path):
    path = tmp_path / "apple.jsonl"
    row = {"id": 1, "question": "Ann has 3 pens. How many pens?", "answer": "She has 3.\n#### 12 or 13"}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"apple\.jsonl:1: .*exactly one number"):
        load_examples(path)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_answers_are_refused_with_file_and_line(tmp_path, literal):
    path = tmp_path / "nan.jsonl"
    path.write_text(json.dumps(our_row(0)).replace("\"answer\": 0", f"\"answer\": {literal}") + "\n")
    with pytest.raises(DataError, match=r"nan\.jsonl:1: .*not a finite number"):
        load_examples(path)


def test_one_number_with_words_and_commas_still_loads(tmp_path):
    path = tmp_path / "ok.jsonl"
    rows = [our_row("$1,250 dollars"), our_row("#### -7.5"), our_row(12.0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert [e.answer for e in load_examples(path)] == [1250, -7.5, 12]


def test_invalid_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    good = json.dumps(our_row(1)).encode()
    bad = json.dumps(our_row(2)).replace("Maya", "Ma\u00efa").encode("latin-1")
    path.write_bytes(good + b"\n" + bad + b"\n")
    with pytest.raises(DataError, match=r"latin1\.jsonl:2: not valid UTF-8") as error:
        load_examples(path)
    assert not isinstance(error.value, UnicodeDecodeError)


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(our_row(5)).encode() + b"\n")
    assert [e.answer for e in load_examples(path)] == [5]


def test_a_template_with_a_bom_loads_and_invalid_utf8_names_the_file(tmp_path):
    spec = {
        "id": "bom",
        "context_annotated": "{n,3} cats sleep.\n\n#init:\n- $n = range(2, 9)\n",
        "questions": [{"id": "q1", "text": "How many cats?", "answer": "n", "predictability": "high"}],
    }
    with_bom = tmp_path / "bom.json"
    with_bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(spec).encode())
    assert load_template(with_bom).default_instance().questions[0]["answer"] == 3
    broken = tmp_path / "broken.json"
    broken.write_bytes(json.dumps(spec).replace("cats", "ch\u00e4ts").encode("latin-1"))
    with pytest.raises(TemplateError, match=r"broken\.json: not valid UTF-8"):
        load_template(broken)


def test_deeply_nested_json_is_a_clear_error_not_a_recursion_error(tmp_path):
    rows = tmp_path / "deep.jsonl"
    rows.write_text(json.dumps(our_row(1)) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"deep\.jsonl:2: JSON nested too deeply"):
        load_examples(rows)
    template = tmp_path / "deep.json"
    template.write_text('{"id": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"deep\.json: JSON nested too deeply"):
        load_template(template)


# ---------------------------------------------------------------- hangs and crashes in the evaluator

HANGS = {
    "power chain": "((((((10**6)**64)**64)**64)**64)**64)",
    "power tower": "2 ** 2 ** 2 ** 2 ** 2 ** 2",
    "nested repetition to text": "len(str([[0]*200000]*200000))",
    "nested repetition summed": "len(sum([[0]*200000]*200000, []))",
    "doubling by concatenation": "len(sum([[0] * 100000] * 4, []))",
    "long text": "len('ab' * 100000 + 'ab' * 100000)",
    "huge product": "(10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000)",
    "rounding to a huge precision": "round(1 / 3, 10 ** 9)",
    "exponent in text": "Fraction('1e1000000000')",
}


@pytest.mark.parametrize("source", list(HANGS.values()), ids=list(HANGS))
def test_expressions_that_hang_or_exhaust_memory_are_refused(source):
    with pytest.raises(ExpressionError, match="too large|too long|too many") as error:
        evaluate(source, {})
    assert "\n" not in str(error.value)


NESTED = {
    "500-term sum": "+".join(["x"] * 500),
    "deep parentheses": "(" * 90 + "x" + ")" * 90 + " + " + "-" * 150 + "x",
    "deep unary minus": "-" * 5000 + "x",
    "deep not": "not " * 3000 + "x",
    "deep lists": "[" * 150 + "x" + "]" * 150,
}


@pytest.mark.parametrize("source", list(NESTED.values()), ids=list(NESTED))
def test_deep_nesting_gives_a_clear_error_not_a_recursion_error(source):
    with pytest.raises(ExpressionError, match="nested too deeply|too long") as error:
        evaluate(source, {"x": 1})
    assert not isinstance(error.value, RecursionError)


def test_the_work_of_one_expression_is_bounded():
    with pytest.raises(ExpressionError, match="too many evaluation steps"):
        # each sum is allowed, but together they exceed the step budget of one evaluation
        evaluate(" + ".join(["sum(range(50000))"] * 10), {})


def gsm_template(directory: Path, name: str, init: str, answer: str = "n") -> Path:
    path = directory / name
    path.write_text(
        json.dumps(
            {
                "question": "",
                "answer": "#### 1",
                "question_annotated": f"Ann has {{n,3}} pens. How many pens?\n\n#init:\n{init}\n\n"
                f"#answer: {answer}",
                "answer_annotated": "#### {n}",
            }
        ),
        encoding="utf-8",
    )
    return path


def test_rejection_sampling_of_expensive_lines_stops_at_the_work_budget(tmp_path):
    path = gsm_template(
        tmp_path, "slow.json", "- $n = range(1, 5)\n- $m = len(list(range(200000)))\n\n#conditions:\n- m < 0"
    )
    template = load_template(path)
    with pytest.raises(TemplateError, match=r"slow\.json.*evaluation steps"):
        template.instantiate(random.Random(0))


def test_skip_broken_skips_every_kind_of_bounded_failure(tmp_path):
    gsm_template(tmp_path, "0000.json", "- $n = range(2, 9)")
    gsm_template(tmp_path, "0001.json", "- $n = range(2, 9)", answer="+".join(["n"] * 500))
    gsm_template(tmp_path, "0002.json", "- $n = range(2, 9)", answer="-" * 5000 + "n")
    gsm_template(tmp_path, "0003.json", "- $n = range(2, 9)", answer="len(str([[n]*200000]*200000))")
    gsm_template(tmp_path, "0004.json", "- $n = range(2, 9)", answer="((((((10**6)**64)**64)**64)**64)**n)")
    gsm_template(
        tmp_path, "0005.json", "- $n = range(1, 5)\n- $m = len(list(range(200000)))\n\n#conditions:\n- m < 0"
    )
    with pytest.raises(TemplateError, match="0001.json"):
        generate_rows(tmp_path, per_template=1, seed=0, progress=False)
    rows, problems = generate_rows(tmp_path, per_template=1, seed=0, skip_broken=True, progress=False)
    assert [row["template_id"] for row in rows] == [f"gsm-{tmp_path.name}-0000"]
    assert sorted(p.split(":")[0].rsplit("/", 1)[-1] for p in problems) == [
        f"000{i}.json" for i in range(1, 6)
    ]
    assert all("\n" not in problem for problem in problems)


# ---------------------------------------------------------------- (text, value) pool items


def test_a_pool_pair_is_the_number_in_arithmetic_and_subscriptable(tmp_path):
    path = gsm_template(
        tmp_path,
        "pair.json",
        "- $n = range(2, 9)\n- $mult = sample(multiple_ice + multi_times)",
        answer="n * mult + n * mult[1] + len(mult[0]) * 0",
    )
    template = load_template(path)
    for seed in range(5):
        instance = template.instantiate(random.Random(seed))
        mult = instance.values["mult"]
        assert mult[0] == instance.texts["mult"] and mult[1] == mult
        assert instance.questions[0]["answer"] == 2 * instance.values["n"] * mult


NO_SHARED = "../shared GSM-Symbolic templates are not available"


@pytest.mark.skipif(not SHARED_TEMPLATES.is_dir(), reason=NO_SHARED)
def test_the_third_party_template_that_subscripts_a_pool_pair_checks_out():
    result = check_template(SHARED_TEMPLATES / "p1" / "0095.json", samples=5)
    assert result.ok, result.problems
