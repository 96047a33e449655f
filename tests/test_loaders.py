"""load_examples for our rows, Letta's published rows and Apple's rows (tiny inline fixtures)."""

import json

import pytest

from optimize.data import loaders
from optimize.data.loaders import DataError, load_examples, read_jsonl

PROBLEM = (
    "Dr. Patel buys 12 pencils at $0.7 each for her class. She also buys 3 notebooks at $2.5 each. "
    "How much money does Dr. Patel spend?"
)
CONTEXT = "Dr. Patel buys 12 pencils at $0.7 each for her class. She also buys 3 notebooks at $2.5 each."
QUESTION = "How much money does Dr. Patel spend?"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_our_format_is_flattened_per_question(tmp_path):
    row = {
        "context_id": "mq-1-s0-000",
        "template_id": "mq-1",
        "level": "p1",
        "seed": 0,
        "instance": 0,
        "context": "Maya bakes 12 muffins.",
        "source": "ours",
        "questions": [
            {
                "question_id": "mq-1-s0-000-q1",
                "question": "How many?",
                "answer": 12,
                "predictability": "high",
            },
            {"question_id": "mq-1-s0-000-q2", "question": "Half?", "answer": 6.5, "predictability": "low"},
        ],
    }
    examples = load_examples(write_jsonl(tmp_path / "ours.jsonl", [row]))
    assert len(examples) == 2
    first = examples[0]
    assert (first.context, first.question, first.answer) == ("Maya bakes 12 muffins.", "How many?", 12)
    assert (first.context_id, first.question_id, first.template_id) == (
        "mq-1-s0-000",
        "mq-1-s0-000-q1",
        "mq-1",
    )
    assert (first.level, first.predictability, first.source) == ("p1", "high", "ours")
    assert set(first.inputs().keys()) == {"context", "question"}
    assert examples[1].answer == 6.5


def test_letta_rows_are_resplit_so_decimals_and_abbreviations_survive(tmp_path):
    row = {
        "id": 7,
        "instance": 3,
        "question": PROBLEM,
        "answer": "12 * 0.7 + 3 * 2.5 = 15.9\n#### 15.9",
        "original_id": 101,
        "original_question": "...",
        "original_answer": "#### 12",
        "canary": "canary GUID x",
        # The published split cuts at every '.', breaking the decimal and the title.
        "stateful_gsm_symbolic_context": "Dr. Patel buys 12 pencils at $0. 7 each for her class.",
        "stateful_gsm_symbolic_question": "How much money does Dr. Patel spend?",
    }
    integral = dict(row, instance=4, answer="#### 16.0")
    examples = load_examples(write_jsonl(tmp_path / "stateful_gsm_symbolic_p2.jsonl", [row, integral]))
    first = examples[0]
    assert first.context == CONTEXT and "$0.7" in first.context
    assert first.question == QUESTION
    assert first.answer == 15.9
    assert examples[1].answer == 16 and isinstance(examples[1].answer, int)
    assert (first.source, first.level, first.template_id) == ("letta", "p2", "letta-7")
    assert first.context_id != examples[1].context_id


def test_apple_rows_split_context_and_last_question(tmp_path):
    row = {
        "id": 5,
        "instance": 0,
        "question": PROBLEM,
        "answer": "She spends 15.9 dollars.\n#### 15.9",
        "original_id": 11,
        "original_question": "...",
        "original_answer": "...",
        "canary": "c",
    }
    examples = load_examples(write_jsonl(tmp_path / "GSM_symbolic_p1.jsonl", [row]))
    assert len(examples) == 1
    example = examples[0]
    assert (example.context, example.question, example.answer) == (CONTEXT, QUESTION, 15.9)
    assert (example.source, example.level) == ("gsm-symbolic", "p1")


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "a?", "answer": "#### 1"}\n\n{"question": oops}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:3: malformed JSON"):
        read_jsonl(path)
    with pytest.raises(DataError, match=r"bad\.jsonl:3"):
        load_examples(path)


def test_unrecognised_rows_and_missing_answers_are_named(tmp_path):
    with pytest.raises(DataError, match=r"odd\.jsonl:1: unrecognised row"):
        load_examples(write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1}]))
    with pytest.raises(DataError, match=r"noanswer\.jsonl:1: no numeric answer"):
        load_examples(write_jsonl(tmp_path / "noanswer.jsonl", [{"question": "A? B?", "answer": "none"}]))


def test_named_datasets_and_unknown_names(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    row = {"question": PROBLEM, "answer": "#### 15.9", "id": 1, "instance": 0}
    write_jsonl(data_dir / "stateful_gsm.jsonl", [dict(row, id=1)])
    write_jsonl(data_dir / "extra.jsonl", [dict(row, id=2)])
    monkeypatch.setattr(loaders, "DATA_DIR", data_dir)
    monkeypatch.setattr(
        loaders,
        "available_datasets",
        lambda data_dir=data_dir: {
            **{"ours": data_dir / "stateful_gsm.jsonl"},
            **{p.stem: p for p in sorted(data_dir.glob("*.jsonl"))},
        },
    )
    assert load_examples("ours")[0].template_id == "gsm-symbolic-1"
    assert load_examples("extra")[0].template_id == "gsm-symbolic-2"
    with pytest.raises(DataError, match=r"unknown dataset 'nope'.*available: extra, ours, stateful_gsm"):
        load_examples("nope")


def test_available_datasets_discovers_jsonl(tmp_path):
    (tmp_path / "stateful_gsm.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "other.jsonl").write_text("", encoding="utf-8")
    found = loaders.available_datasets(tmp_path)
    assert found["ours"] == tmp_path / "stateful_gsm.jsonl" and found["other"] == tmp_path / "other.jsonl"


def test_hub_name_offline_fails_with_a_local_file_hint(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="pass its local path"):
        load_examples("no-such-owner/no-such-dataset-xyz")


def test_split_argument_gives_template_disjoint_parts(tmp_path):
    rows = [
        {
            "context_id": f"c{i}",
            "template_id": f"t{i % 5}",
            "level": "base",
            "context": "C.",
            "questions": [
                {"question_id": f"c{i}-q1", "question": "Q?", "answer": i, "predictability": "high"}
            ],
        }
        for i in range(20)
    ]
    path = write_jsonl(tmp_path / "ours.jsonl", rows)
    sizes = {"train": 3, "test": 2}
    train = load_examples(path, split="train", split_sizes=sizes, seed=0)
    test = load_examples(path, split="test", split_sizes=sizes, seed=0)
    assert len(train) == 12 and len(test) == 8
    assert not {e.template_id for e in train} & {e.template_id for e in test}
    assert len(load_examples(path, limit=5)) == 5
