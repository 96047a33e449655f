"""`sleeptime samples export / import`: the programs a computed strategy kept move to another store whole."""

from __future__ import annotations

import json

import pytest

from optimize.cli.app import main
from optimize.errors import UserError
from optimize.experiments.kept_samples import export_samples, import_samples, sample_keys
from programs import build_program
from programs.budget import Budget
from programs.store import InMemoryStore, LearnedContextStore

CONTEXTS = ["3 boxes of 4 apples.", "2 cows and 5 hens."]


def program_with_samples(store, k=2, made=None):
    program = build_program(Budget(sleep_strategy="compute", sleep_samples=k), store=store)
    for context, index, key in sample_keys(program, CONTEXTS):
        if made is None or index < made:
            store.put(key, json.dumps({"code": f"x = {index}", "context": context}), prompt_tokens=400,
                      completion_tokens=250 + index, seconds=9.5, model="local:qwen2.5-coder-1.5b")
    return program


def test_exported_samples_are_found_by_the_same_program_in_another_store(tmp_path):
    program = program_with_samples(InMemoryStore())
    out = tmp_path / "samples.jsonl"
    assert export_samples(program, CONTEXTS + ["an unrelated third-party context"][:0], out) == (4, 0)

    fresh = LearnedContextStore(tmp_path / "store.sqlite")
    assert import_samples(out, fresh) == 4 and import_samples(out, fresh) == 0
    again = build_program(program.budget, store=fresh)
    for _, index, key in sample_keys(again, CONTEXTS):
        assert fresh.get(key).learned_context == program.store.get(key).learned_context
        assert fresh.get(key).completion_tokens == 250 + index  # the cost a reuse is charged


def test_only_the_given_contexts_leave_the_store_and_an_export_keeps_what_the_file_had(tmp_path):
    store = InMemoryStore()
    program = program_with_samples(store, k=4, made=2)
    other = build_program(program.budget, store=store)
    for _, _, key in sample_keys(other, ["a third-party context"]):
        store.put(key, "{}", prompt_tokens=1, completion_tokens=1, seconds=1.0, model="m")
    out = tmp_path / "samples.jsonl"
    assert export_samples(program, CONTEXTS, out) == (4, 4)  # samples 2 and 3 not made yet
    assert "third-party" not in out.read_text() and len(out.read_text().splitlines()) == 4
    smaller = build_program(Budget(sleep_strategy="compute", sleep_samples=1), store=InMemoryStore())
    assert export_samples(smaller, CONTEXTS, out) == (0, 2)
    assert len(out.read_text().splitlines()) == 4


def test_a_strategy_that_keeps_no_samples_and_a_malformed_file_are_named(tmp_path):
    with pytest.raises(UserError, match="sleep-strategy compute"):
        sample_keys(build_program(Budget()), CONTEXTS)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "k", "learned_context": "{}"}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl:1: a sample needs prompt_tokens"):
        import_samples(bad, InMemoryStore())


def test_the_commands_export_and_import(tmp_path, capsys):
    source = LearnedContextStore(tmp_path / "source.sqlite")
    program = build_program(Budget(sleep_strategy="compute", sleep_samples=2), store=source)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"context_id": f"c{i}", "template_id": f"t{i}", "context": c,
                                        "questions": [{"question_id": f"c{i}-q1", "question": "How many?",
                                                       "answer": 1}]}) + "\n"
                            for i, c in enumerate(CONTEXTS)))
    for _, _, key in sample_keys(program, CONTEXTS):
        source.put(key, "{}", prompt_tokens=1, completion_tokens=2, seconds=0.5, model="m")
    out, target = tmp_path / "samples.jsonl", tmp_path / "target.sqlite"
    assert main(["samples", "export", "--data", str(data), "--split", "all", "--sleep-strategy", "compute",
                 "--sleep-samples", "2", "--store", str(source.path), "--out", str(out)]) == 0
    assert main(["samples", "import", str(out), "--store", str(target)]) == 0
    printed = capsys.readouterr().out
    assert "4 samples of 2 contexts" in printed and "4 samples added" in printed
    assert main(["samples", "import", str(tmp_path / "none.jsonl"), "--store", str(target)]) != 0
