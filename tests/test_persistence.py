"""Save/load: one call rebuilds the right class with equal state and answers; bad directories fail clearly."""

from __future__ import annotations

import json

import dspy
import pytest

from programs.api import build_program, load
from programs.baselines import MajorityVote
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.persistence import FORMAT_VERSION, PersistenceError

CONTEXT = "Ann has 3 boxes. Each box holds 4 apples."


def reply(messages, request):
    text = messages[-1]["content"]
    if "question" not in text:
        return chat_adapter_reply(learned_context="n = 12")
    # Answers depend on the prompt, so a lost demo or instruction would change the answer.
    return chat_adapter_reply(answer=str(len(str(messages))))


@pytest.fixture
def engine():
    with FakeEngine(reply) as running:
        yield running


def compiled_program(engine, **budget_fields):
    spec = f"openai/fake@{engine.api_base}"
    program = build_program(Budget(sleep_model=spec, test_model=spec, **budget_fields),
                            lm_options={"num_retries": 0})
    program.answerer.predict.demos = [dspy.Example(context="c", learned_context="n = 1", question="q",
                                                   answer="1")]
    program.answerer.predict.signature = program.answerer.predict.signature.with_instructions("Be exact.")
    return program


def test_round_trip_restores_class_budget_state_and_answers(engine, tmp_path):
    program = compiled_program(engine, test_verbosity=0, sleep_rounds=1)
    before = program(context=CONTEXT, question="How many apples?").answer
    program.save(tmp_path, data={"source": "ours"}, seed=7, scores={"dev_accuracy": 0.5})
    assert {p.name for p in tmp_path.iterdir()} >= {"program.json", "budget.json", "manifest.json"}
    loaded = load(tmp_path, lm_options={"num_retries": 0})
    assert type(loaded) is type(program) and loaded.budget == program.budget
    assert loaded.dump_state() == program.dump_state()
    assert loaded(context=CONTEXT, question="How many apples?").answer == before
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["seed"] == 7
    assert manifest["scores"] == {"dev_accuracy": 0.5}
    assert manifest["models"]["test"] == program.budget.test_model


def test_baseline_settings_survive_save_and_load(engine, tmp_path):
    spec = f"openai/fake@{engine.api_base}"
    build_program(Budget(use_sleep=False, test_model=spec), baseline="majority", k=4).save(tmp_path)
    loaded = load(tmp_path)
    assert isinstance(loaded, MajorityVote) and loaded.k == 4


def test_missing_file_names_it(engine, tmp_path):
    compiled_program(engine).save(tmp_path)
    (tmp_path / "budget.json").unlink()
    with pytest.raises(PersistenceError, match="missing budget.json"):
        load(tmp_path)
    with pytest.raises(PersistenceError, match="no saved program"):
        load(tmp_path / "nowhere")


def test_other_format_version_is_refused(engine, tmp_path):
    compiled_program(engine).save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PersistenceError, match="format_version"):
        load(tmp_path)


def test_wrong_shape_leaves_existing_program_untouched(engine, tmp_path):
    spec = f"openai/fake@{engine.api_base}"
    build_program(Budget(use_sleep=False, test_model=spec)).save(tmp_path)
    target = compiled_program(engine)
    before = target.dump_state()
    with pytest.raises(PersistenceError, match="predictors"):
        target.load(tmp_path)
    assert target.dump_state() == before


def test_compiled_budget_loads_matching_parts(engine, tmp_path):
    compiled_program(engine, test_verbosity=0).save(tmp_path)
    spec = f"openai/fake@{engine.api_base}"
    same = build_program(Budget(sleep_model=spec, test_model=spec, compiled=str(tmp_path)))
    assert len(same.answerer.predict.demos) == 1
    with pytest.warns(UserWarning, match="answerer prompts were not loaded"):
        other = build_program(Budget(sleep_model=spec, test_model=spec, test_verbosity=3,
                                     compiled=str(tmp_path)))
    assert other.answerer.predict.demos == []
