"""Bundles and DSPy saves: one call rebuilds the right class with equal state and answers; shipped bundles
load by name; save() keeps DSPy's meaning; bad directories fail clearly."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import dspy
import pytest

import programs
from programs import persistence, save_bundle
from programs.api import build_program, load
from programs.baselines import MajorityVote
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.persistence import FORMAT_VERSION, PersistenceError
from programs.program import SleepTimeProgram

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
    program.save_bundle(tmp_path, data={"source": "ours"}, seed=7, scores={"dev_accuracy": 0.5})
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
    program = build_program(Budget(use_sleep=False, test_model=spec), baseline="majority", baseline_samples=4)
    save_bundle(program, tmp_path)
    loaded = load(tmp_path)
    assert isinstance(loaded, MajorityVote) and loaded.baseline_samples == 4


def test_a_bundle_saved_with_the_old_k_setting_still_loads(engine, tmp_path):
    spec = f"openai/fake@{engine.api_base}"
    save_bundle(build_program(Budget(use_sleep=False, test_model=spec), baseline="majority"), tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    config = manifest["program_config"]
    config["k"] = config.pop("baseline_samples") - 2
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(DeprecationWarning, match="baseline_samples"):
        loaded = load(tmp_path)
    assert loaded.baseline_samples == 3

def test_missing_file_names_it(engine, tmp_path):
    compiled_program(engine).save_bundle(tmp_path)
    (tmp_path / "budget.json").unlink()
    with pytest.raises(PersistenceError, match="missing budget.json"):
        load(tmp_path)
    with pytest.raises(PersistenceError, match="no saved program"):
        load(tmp_path / "nowhere")


def test_other_format_version_is_refused(engine, tmp_path):
    compiled_program(engine).save_bundle(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PersistenceError, match="format_version"):
        load(tmp_path)


def test_wrong_shape_leaves_existing_program_untouched(engine, tmp_path):
    spec = f"openai/fake@{engine.api_base}"
    build_program(Budget(use_sleep=False, test_model=spec)).save_bundle(tmp_path)
    target = compiled_program(engine)
    before = target.dump_state()
    with pytest.raises(PersistenceError, match="none fit"):
        persistence.load_prompts(target, tmp_path)
    assert target.dump_state() == before


def test_the_other_spellings_of_save_and_load_are_deprecated_and_name_the_one_way(engine, tmp_path):
    import programs.api

    program = compiled_program(engine)
    assert (program.save_bundle(tmp_path / "a"), save_bundle(program, tmp_path / "b")) == (tmp_path / "a",
                                                                                         tmp_path / "b")
    assert (tmp_path / "a" / "program.json").read_text() == (tmp_path / "b" / "program.json").read_text()
    with pytest.warns(DeprecationWarning, match=r"programs\.save_bundle\(program, dir\)"):
        assert programs.api.save_bundle is persistence.save_bundle
    fresh = build_program(program.budget)
    with pytest.warns(DeprecationWarning, match=r"programs\.load\(dir\)"):
        assert fresh.load_bundle(tmp_path / "a") is fresh
    assert fresh.dump_state() == program.dump_state()


def test_compiled_budget_loads_matching_parts(engine, tmp_path):
    compiled_program(engine, test_verbosity=0).save_bundle(tmp_path)
    spec = f"openai/fake@{engine.api_base}"
    same = build_program(Budget(sleep_model=spec, test_model=spec, compiled=str(tmp_path)))
    assert len(same.answerer.predict.demos) == 1
    with pytest.warns(UserWarning, match=r"\['answerer.predict'\] do not fit"):
        other = build_program(Budget(sleep_model=spec, test_model=spec, test_verbosity=3,
                                     compiled=str(tmp_path)))
    assert other.answerer.predict.demos == []


def test_save_keeps_dspy_semantics_a_state_file_that_load_reads_back(engine, tmp_path):
    program = compiled_program(engine)
    path = tmp_path / "best_model.json"
    program.save(str(path))
    assert path.is_file()  # a file, as dspy.Module.save writes (mlflow's DSPy autolog relies on it)
    saved = json.loads(path.read_text())
    assert saved["answerer.predict"]["lm"] is None and "fake" not in json.dumps(saved)
    fresh = build_program(program.budget)
    fresh.load(str(path))
    assert fresh.dump_state() == program.dump_state()
    with pytest.raises(ValueError, match=".json"):
        program.save(str(tmp_path / "folder"))
    with pytest.raises(PersistenceError, match=r"programs\.load\(dir\)"):
        fresh.load(tmp_path)


def test_save_program_pickles_a_directory_dspy_load_rebuilds(engine, tmp_path):
    program = compiled_program(engine)
    before = program(context=CONTEXT, question="How many apples?").answer
    program.save(str(tmp_path / "whole"), save_program=True)
    loaded = dspy.load(str(tmp_path / "whole"), allow_pickle=True)
    assert type(loaded) is SleepTimeProgram and loaded.budget == program.budget
    assert loaded.dump_state() == program.dump_state()
    assert loaded(context=CONTEXT, question="How many apples?").answer == before
    assert pickle.loads(pickle.dumps(program)).dump_state() == program.dump_state()


def test_save_with_manifest_arguments_still_writes_a_bundle_with_a_deprecation(engine, tmp_path):
    with pytest.warns(DeprecationWarning, match="save_bundle"):
        compiled_program(engine).save(tmp_path, data={"source": "ours"}, seed=1)
    assert (tmp_path / "manifest.json").is_file()


def test_load_rebinds_models_to_other_endpoints(engine, tmp_path):
    compiled_program(engine).save_bundle(tmp_path)
    with FakeEngine(reply) as other:
        spec = f"openai/other@{other.api_base}"
        loaded = load(tmp_path, sleep_model=spec, test_model=spec, lm_options={"num_retries": 0})
        assert loaded.budget.test_model == spec and len(loaded.answerer.predict.demos) == 1
        loaded(context=CONTEXT, question="How many apples?")
        assert other.requests and all("other" in r["model"] for r in other.requests)


def test_shipped_bundles_load_by_name_and_a_missing_name_lists_them(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(persistence, "COMPILED_ROOT", tmp_path / "compiled")
    with pytest.raises(PersistenceError, match=r"shipped: none yet"):
        programs.load("qwen2.5-coder-1.5b/sleep-v0")
    compiled_program(engine).save_bundle(tmp_path / "compiled" / "qwen2.5-coder-1.5b" / "sleep-v0")
    assert programs.shipped_programs() == ["qwen2.5-coder-1.5b/sleep-v0"]
    loaded = programs.load("qwen2.5-coder-1.5b/sleep-v0", lm_options={"num_retries": 0})
    assert len(loaded.answerer.predict.demos) == 1
    spec = f"openai/fake@{engine.api_base}"
    by_name = build_program(Budget(sleep_model=spec, test_model=spec, compiled="qwen2.5-coder-1.5b/sleep-v0"))
    assert len(by_name.answerer.predict.demos) == 1
    with pytest.raises(PersistenceError, match=r"shipped: qwen2.5-coder-1.5b/sleep-v0"):
        programs.load("qwen2.5-coder-1.5b/sleep-v9")


def test_a_withdrawn_shipped_name_says_why_and_what_to_load_instead():
    with pytest.raises(PersistenceError) as error:
        programs.load("qwen2.5-coder-1.5b/sleep-v0-bootstrap")
    message = str(error.value)
    assert "no longer shipped" in message and "'qwen2.5-coder-1.5b/sleep-v0-bootstrap-seed2'" in message
    kept_at = persistence.WITHDRAWN_PROGRAMS["qwen2.5-coder-1.5b/sleep-v0-bootstrap"][2]
    assert kept_at in message
    repository = Path(persistence.__file__).resolve().parents[1]
    if (repository / "docs").is_dir():  # a source checkout: the old bundle still loads from its kept path
        assert persistence.read_bundle(repository / kept_at)[0]["data"]["train"] == 714


def test_passwords_in_model_specs_never_reach_the_bundle(tmp_path):
    spec = "openai/m@http://bob:hunter2@127.0.0.1:9/v1"
    build_program(Budget(sleep_model=spec, test_model=spec)).save_bundle(tmp_path)
    written = "".join(path.read_text() for path in tmp_path.iterdir())
    assert "hunter2" not in written and "bob:***@" in written


def test_mlflow_dspy_flavor_logs_and_loads_a_program(engine, tmp_path):
    import mlflow
    import mlflow.dspy  # noqa: F401 - the flavor under test

    program = compiled_program(engine)
    before = program(context=CONTEXT, question="How many apples?").answer
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("bundle-test", artifact_location=(tmp_path / "artifacts").as_uri())
    try:
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.dspy.log_model(program, name="program")
        loaded = mlflow.dspy.load_model(info.model_uri)
    finally:
        # load_model makes the model "active", and MLflow then ties every later metric in this process to
        # its id, which another test's store does not hold (a foreign-key failure there).
        mlflow.clear_active_model()
        mlflow.set_tracking_uri(None)
    assert type(loaded) is SleepTimeProgram and loaded.dump_state() == program.dump_state()
    assert loaded(context=CONTEXT, question="How many apples?").answer == before
