"""Dataset generation: row format, byte-for-byte determinism, CLI wiring."""

import argparse
import json
import os
from pathlib import Path

import pytest

from optimize.cli.data import register
from optimize.data.generate import generate_file, generate_rows
from optimize.data.instances import TemplateError

# ../shared next to the checkout; SLEEPTIME_SHARED points elsewhere (e.g. from a git worktree).
SHARED = (
    Path(os.environ.get("SLEEPTIME_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "data"
    / "gsm-symbolic"
    / "templates"
)


def make_templates(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for number, level in ((1, "base"), (2, "p1")):
        spec = {
            "id": f"mq-t{number}",
            "level": level,
            "topic": "shop",
            "context_annotated": (
                "{name,Ana} buys {n,4} {item,pencils} at {cur,$}{p,0.25} each.\n\n#init:\n"
                "- name = sample(names)\n"
                "- item = sample(items)\n- cur = sample(currencies_sym)\n- $n = range(2, 40)\n"
                "- $p = sample([0.25, 0.50, 0.75])\n"
            ),
            "questions": [
                {
                    "id": "q1",
                    "text": "How much does {name,Ana} spend?",
                    "answer": "n * p",
                    "predictability": "high",
                },
                {
                    "id": "q2",
                    "text": "How many {item,pencils} does she buy?",
                    "answer": "n",
                    "predictability": "medium",
                },
                {
                    "id": "q3",
                    "text": "What if each cost twice as much?",
                    "answer": "2 * n * p",
                    "predictability": "low",
                },
            ],
        }
        (directory / f"mq-t{number}.json").write_text(json.dumps(spec), encoding="utf-8")
    return directory


def test_rows_follow_the_documented_format(tmp_path):
    rows, problems = generate_rows(make_templates(tmp_path / "t"), per_template=3, seed=7, progress=False)
    assert problems == [] and len(rows) == 6
    row = rows[0]
    assert list(row) == [
        "context_id",
        "template_id",
        "level",
        "seed",
        "instance",
        "context",
        "source",
        "questions",
    ]
    assert row["context_id"] == "mq-t1-s7-000" and row["source"] == "ours" and row["seed"] == 7
    assert [q["question_id"] for q in row["questions"]] == [f"mq-t1-s7-000-q{i}" for i in (1, 2, 3)]
    assert all(q["question"].endswith("?") for q in row["questions"])
    assert len({r["context"] for r in rows if r["template_id"] == "mq-t1"}) == 3  # distinct instances
    answer = row["questions"][0]["answer"]
    assert isinstance(answer, (int, float)) and not (isinstance(answer, float) and answer.is_integer())


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    templates = make_templates(tmp_path / "t")
    generate_file(templates, tmp_path / "a.jsonl", per_template=4, seed=3, progress=False)
    generate_file(templates, tmp_path / "b.jsonl", per_template=4, seed=3, progress=False)
    generate_file(templates, tmp_path / "c.jsonl", per_template=4, seed=4, progress=False)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


def test_level_filter(tmp_path):
    rows, _ = generate_rows(
        make_templates(tmp_path / "t"), per_template=2, seed=0, levels=["p1"], progress=False
    )
    assert {r["level"] for r in rows} == {"p1"}


def test_broken_template_raises_or_is_skipped(tmp_path):
    templates = make_templates(tmp_path / "t")
    (templates / "zz-broken.json").write_text(
        json.dumps({"id": "x", "context_annotated": "{n,1}\n#init:\n- n = ??", "questions": []}),
        encoding="utf-8",
    )
    with pytest.raises(TemplateError, match="zz-broken.json"):
        generate_rows(templates, per_template=1, seed=0, progress=False)
    rows, problems = generate_rows(templates, per_template=1, seed=0, skip_broken=True, progress=False)
    assert len(rows) == 2 and len(problems) == 1 and "zz-broken.json" in problems[0]


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sleeptime")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_generate_and_stats(tmp_path, capsys):
    templates = make_templates(tmp_path / "t")
    out = tmp_path / "out.jsonl"
    assert (
        run_cli(
            "data",
            "generate",
            "--templates",
            str(templates),
            "--per-template",
            "2",
            "--seed",
            "1",
            "--out",
            str(out),
        )
        == 0
    )
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4
    assert run_cli("data", "stats", str(out)) == 0
    printed = capsys.readouterr().out
    assert "12 questions, 4 contexts, 2 templates" in printed
    assert "predictability: high=4, low=4, medium=4" in printed


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared GSM-Symbolic templates are not available")
def test_shared_templates_yield_one_question_per_context(tmp_path, capsys):
    selected = tmp_path / "templates" / "symbolic"
    selected.mkdir(parents=True)
    for name in ("0000.json", "0001.json", "0003.json"):
        (selected / name).write_bytes((SHARED / "symbolic" / name).read_bytes())  # temporary, not in the repo
    rows, problems = generate_rows(tmp_path / "templates", per_template=2, seed=0, progress=False)
    assert problems == [] and len(rows) == 6
    assert all(len(r["questions"]) == 1 and r["questions"][0]["question"].endswith("?") for r in rows)
    assert all(r["level"] == "base" and r["source"] == "gsm-symbolic" for r in rows)
    assert run_cli("data", "coverage", "--templates", str(tmp_path / "templates"), "--samples", "2") == 0
    assert "all checks pass: 3/3" in capsys.readouterr().out


def gsm_template(directory: Path, name: str, problem: str, answer: str, solution: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    spec = {
        "question": "",
        "answer": "",
        "question_annotated": f"{problem}\n\n#init:\n- $n = range(2, 9)\n\n#answer: {answer}",
        "answer_annotated": f"So it is {{{solution}}}.\n#### {{{solution}}}",
    }
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_checked_skips_a_gsm_template_whose_answer_disagrees_with_its_solution(tmp_path):
    folder = tmp_path / "templates" / "symbolic"
    gsm_template(folder, "0000.json", "Ann has {n,3} pens. She buys 2 more. How many now?", "n + 2", "n+2")
    gsm_template(folder, "0001.json", "Bo has {n,3} cups. He buys 2 more. How many now?", "n", "n+2")
    rows, problems = generate_rows(tmp_path / "templates", per_template=1, seed=0, progress=False)
    assert len(rows) == 2 and problems == []
    rows, problems = generate_rows(tmp_path / "templates", per_template=1, seed=0, checked=True)
    assert [r["template_id"] for r in rows] == ["gsm-symbolic-0000"]
    assert len(problems) == 1 and "0001.json" in problems[0] and "coverage check" in problems[0]


def test_checked_instances_must_agree_with_the_solution(tmp_path):
    from optimize.data.checks import AnswerMismatch
    from optimize.data.generate import instance_rows
    from optimize.data.parsing import load_template

    folder = tmp_path / "templates" / "symbolic"
    path = gsm_template(folder, "0002.json", "Cy has {n,3} mugs. He buys 2 more. How many now?", "n", "n+2")
    template = load_template(path)
    assert len(instance_rows(template, per_template=2, seed=0)) == 2
    with pytest.raises(AnswerMismatch, match=r"0002\.json: an instance fails its coverage check"):
        instance_rows(template, per_template=2, seed=0, checked=True)


def test_a_one_sentence_gsm_template_has_no_context_and_is_refused_or_skipped(tmp_path):
    folder = tmp_path / "templates" / "symbolic"
    gsm_template(folder, "0000.json", "Ann has {n,3} pens. How many pens does she have?", "n", "n")
    gsm_template(folder, "0001.json", "If Bo eats {n,3} pies a day, how many in 2 days?", "2 * n", "2*n")
    with pytest.raises(TemplateError, match=r"0001\.json.*one sentence"):
        generate_rows(tmp_path / "templates", per_template=1, seed=0, progress=False)
    rows, problems = generate_rows(tmp_path / "templates", per_template=1, seed=0, skip_broken=True)
    assert [r["template_id"] for r in rows] == ["gsm-symbolic-0000"] and len(problems) == 1
    assert rows[0]["context"] == "Ann has 3 pens." or rows[0]["context"].startswith("Ann has")
    assert rows[0]["questions"][0]["question"] == "How many pens does she have?"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared GSM-Symbolic templates are not available")
def test_held_out_set_from_shared_templates_loads_with_a_sentence_split(tmp_path):
    """The documented held-out command (data/README.md) on a few files: deterministic, loadable, split."""
    from optimize.data.loaders import load_examples
    from optimize.data.sentences import split_context_question

    templates = tmp_path / "templates"
    for relative in ("symbolic/0000.json", "p1/0048.json", "p1/0074.json", "p1/0095.json", "p1/0099.json"):
        (templates / relative).parent.mkdir(parents=True, exist_ok=True)
        (templates / relative).write_bytes((SHARED / relative).read_bytes())  # temporary, not in the repo
    outputs = []
    for name in ("a.jsonl", "b.jsonl"):
        out = tmp_path / name
        argv = ["data", "generate", "--templates", str(templates), "--per-template", "2", "--seed", "2026"]
        assert run_cli(*argv, "--skip-broken", "--checked", "--out", str(out)) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    examples = load_examples(tmp_path / "a.jsonl")
    # 0074 answers a different question than it asks, 0099 is one sentence: both skipped
    assert sorted({e.template_id for e in examples}) == ["gsm-p1-0048", "gsm-p1-0095", "gsm-symbolic-0000"]
    assert len(examples) == 6 and len({e.context_id for e in examples}) == 6
    for example in examples:
        assert example.context and example.question
        assert split_context_question(f"{example.context} {example.question}") == (
            example.context,
            example.question,
        )
