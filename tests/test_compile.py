"""compile_program with BootstrapFewShot on a tiny fake-engine train set: demos, dev scores, save and load."""

from __future__ import annotations

import dspy
import pytest

from optimize.experiments.compile import compile_program
from optimize.experiments.optimizers import correctness_metric
from programs.api import load
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.lm.ledger import TokenLedger


def reply(messages, request):
    text = messages[-1]["content"]
    if "question" not in text:
        return chat_adapter_reply(learned_context="apples = boxes * 4")
    boxes = int(text.split("has ")[-1].split()[0])
    return chat_adapter_reply(reasoning=f"{boxes} * 4", answer=str(boxes * 4))


def examples(start: int, count: int) -> list[dspy.Example]:
    return [dspy.Example(context=f"Ann has {n} boxes of 4 apples.", question="How many apples?",
                         answer=str(4 * n), context_id=f"c{n}", question_id=f"q{n}", template_id="t",
                         level="base", predictability=1.0).with_inputs("context", "question")
            for n in range(start, start + count)]


def test_bootstrap_compile_adds_demos_to_both_phases_and_round_trips(tmp_path):
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program, scores = compile_program(
            Budget(sleep_model=spec, test_model=spec, test_verbosity=2), examples(1, 3),
            devset=examples(10, 2),
            max_demos=2, ledger=TokenLedger(), out_dir=tmp_path, track=False, progress=False,
            lm_options={"num_retries": 0}, data={"source": "fake"})
        assert len(program.answerer.predict.demos) == 2
        assert len(program.rewriter.learn.demos) == 2
        assert scores["dev_accuracy"] == 1.0 and scores["dev_n"] == 2
        loaded = load(tmp_path, lm_options={"num_retries": 0})
        assert loaded.dump_state() == program.dump_state()
        assert loaded.manifest["scores"]["dev_accuracy"] == 1.0
        how = dict(loaded.manifest["compiled_with"])
        cost = how.pop("cost")
        assert how == {
            "optimizer": "bootstrap", "phase": "both", "max_demos": 2, "token_penalty": 0.0,
            "teacher_model": None, "reflection_model": None, "candidates": None, "max_metric_calls": None,
            "adapter": "chat", "train_size": 3, "train_contexts": 3, "train_order": "data"}
        assert cost["program_calls"] == 4 and cost["helper_calls"] == 0  # 2 traces: sleep + answer each
        assert cost["program_tokens"] > 0 and cost["seconds"] >= 0
        assert scores["compile_calls"] == 4
        assert loaded(context="Ann has 7 boxes of 4 apples.", question="How many apples?").answer == "28"
        demo_prompt = engine.requests[-1]["messages"]
        assert len(demo_prompt) == 1 + 2 * 2 + 1  # system, two demo turns, the question


def wrong(messages, request):
    if "question" not in messages[-1]["content"]:
        return chat_adapter_reply(learned_context="apples = ?")
    return chat_adapter_reply(reasoning="no idea", answer="0")


def test_a_teacher_model_bootstraps_the_demos_a_weak_student_cannot(tmp_path):
    with FakeEngine(wrong) as student, FakeEngine(reply) as teacher:
        spec = f"openai/student@{student.api_base}"
        options = dict(devset=examples(10, 1), max_demos=2, ledger=TokenLedger(), track=False,
                       progress=False, lm_options={"num_retries": 0})
        alone, _ = compile_program(Budget(sleep_model=spec, test_model=spec), examples(1, 3), **options)
        taught, _ = compile_program(Budget(sleep_model=spec, test_model=spec), examples(1, 3),
                                    teacher_model=f"openai/teacher@{teacher.api_base}", **options)
        assert alone.answerer.predict.demos == []  # the student never answers right: nothing to keep
        assert [d["answer"] for d in taught.answerer.predict.demos] == ["4", "8"]
        assert taught.budget.test_model == spec  # the student still answers at run time
        assert teacher.requests and all("teacher" not in r.get("model", "") for r in student.requests)


def test_token_penalty_lowers_the_score_but_not_bootstrapping():
    metric = correctness_metric(token_penalty=1.0, test_max_tokens=50)
    pred = dspy.Prediction(answer="8", test_usage={"completion_tokens": 25})
    assert metric(dspy.Example(answer="8"), pred) == pytest.approx(0.5)
    assert metric(dspy.Example(answer="8"), pred, trace=[]) is True
    assert metric(dspy.Example(answer="9"), pred) == pytest.approx(-0.5)


def test_compile_logs_to_the_project_store_so_its_runs_appear_in_the_ui(tmp_path, monkeypatch):
    import warnings

    import cloudpickle
    import mlflow
    from mlflow.tracking import MlflowClient

    from optimize.tracking.runs import default_tracking_uri

    monkeypatch.chdir(tmp_path)  # a relative sqlite:///mlruns/... would land here, not in the store
    monkeypatch.setenv("SLEEPTIME_MLRUNS_DIR", str(tmp_path / "store"))
    with FakeEngine(reply) as engine, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # autolog's and cloudpickle's notices
        spec = f"openai/fake@{engine.api_base}"
        program, _ = compile_program(Budget(sleep_model=spec, test_model=spec), examples(1, 2),
                                     devset=examples(10, 1), max_demos=1, ledger=TokenLedger(),
                                     out_dir=tmp_path / "out", track=True, progress=False,
                                     lm_options={"num_retries": 0})
    assert not (tmp_path / "mlruns").exists()
    client = MlflowClient(tracking_uri=default_tracking_uri())
    experiment = client.get_experiment_by_name("sleeptime-compile")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run = runs[0]
    assert run.data.params["optimizer"] == "bootstrap" and run.data.metrics["dev_accuracy"] == 1.0
    assert run.data.tags["sleeptime.kind"] == "compile"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "program")}
    assert "program/budget.json" in artifacts
    assert str(tmp_path / "store") in experiment.artifact_location

    # The compiled program is an MLflow model that mlflow.dspy.load_model loads (not a PENDING one).
    cloudpickle.dumps(program)
    assert run.data.tags["sleeptime.model_logged"] == "true"
    models = client.search_logged_models([experiment.experiment_id])
    assert [(m.name, m.status.name) for m in models] == [("compiled_program", "READY")]
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    loaded = mlflow.dspy.load_model(models[0].artifact_location)
    assert type(loaded) is type(program)
    assert loaded.dump_state()["answerer.predict"] == program.dump_state()["answerer.predict"]


def test_phase_test_compiles_the_answerer_alone_and_reuses_stored_notes(tmp_path):
    from programs.store import InMemoryStore

    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program, scores = compile_program(
            Budget(sleep_model=spec, test_model=spec), examples(1, 3), phase="test", store=InMemoryStore(),
            max_demos=2, ledger=TokenLedger(), out_dir=tmp_path, track=False, progress=False,
            lm_options={"num_retries": 0})
        assert len(program.answerer.predict.demos) == 2
        assert program.rewriter.learn.demos == []  # the sleep phase keeps its hand-written prompt
        assert program.rewriter._compiled is False  # unfrozen again: its state is saved
        loaded = load(tmp_path, lm_options={"num_retries": 0})
        assert loaded.dump_state() == program.dump_state()
        assert loaded.manifest["compiled_with"]["phase"] == "test"


def test_phase_sleep_compiles_the_rewriter_alone():
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program, _ = compile_program(Budget(sleep_model=spec, test_model=spec), examples(1, 3), phase="sleep",
                                     max_demos=2, ledger=TokenLedger(), track=False, progress=False,
                                     lm_options={"num_retries": 0})
        assert len(program.rewriter.learn.demos) == 2 and program.answerer.predict.demos == []


def test_phase_sleep_takes_its_demos_from_different_contexts(tmp_path):
    """Two questions per context in data order: the first two successes would be one context, whose notes
    are made once, so the rewriter would get a single demo."""
    twice = [e.copy(question_id=f"{e.question_id}-{i}") for e in examples(1, 2) for i in range(2)]
    assert [e.context_id for e in twice] == ["c1", "c1", "c2", "c2"]
    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program, _ = compile_program(Budget(sleep_model=spec, test_model=spec), twice, phase="sleep",
                                     max_demos=2, ledger=TokenLedger(), out_dir=tmp_path, track=False,
                                     progress=False, lm_options={"num_retries": 0})
    contexts = [demo["context"] for demo in program.rewriter.learn.demos]
    assert sorted(contexts) == ["Ann has 1 boxes of 4 apples.", "Ann has 2 boxes of 4 apples."]
    assert load(tmp_path).manifest["compiled_with"]["train_order"] == "one question per context per round"


def test_shuffle_train_draws_other_demos_and_says_so_in_the_manifest(tmp_path):
    """BootstrapFewShot keeps the first successful traces: in data order always the same two; a seeded
    shuffle visits the train set in another order, so another draw of demos (the same one for a seed)."""
    def demo_contexts(shuffle: bool, seed: int, out_dir=None) -> list[str]:
        with FakeEngine(reply) as engine:
            spec = f"openai/fake@{engine.api_base}"
            program, _ = compile_program(Budget(sleep_model=spec, test_model=spec), examples(1, 8),
                                         max_demos=2, ledger=TokenLedger(), track=False, progress=False,
                                         out_dir=out_dir, seed=seed, shuffle_train=shuffle,
                                         lm_options={"num_retries": 0})
        return [demo["context"] for demo in program.answerer.predict.demos]

    in_order = demo_contexts(False, 0)
    assert in_order == ["Ann has 1 boxes of 4 apples.", "Ann has 2 boxes of 4 apples."]
    drawn = demo_contexts(True, 3, out_dir=tmp_path)
    assert drawn != in_order and drawn == demo_contexts(True, 3)
    assert load(tmp_path).manifest["compiled_with"]["train_order"] == "shuffled (seed 3)"


def any_fields(messages, request):
    """Answers whatever output fields the prompt asks for: the program's and the optimizers' own."""
    import re

    text = messages[-1]["content"]
    wanted = re.findall(r"\[\[ ## (\w+) ## \]\]", text.split("Respond with")[-1]) or ["answer"]
    values = {}
    for name in wanted:
        if name == "answer":
            boxes = re.findall(r"has (\d+) boxes", text)
            values[name] = str(int(boxes[-1]) * 4) if boxes else "0"
        elif name == "learned_context":
            values[name] = "apples = boxes * 4"
        elif name == "completed":
            continue
        else:
            values[name] = "Multiply the boxes by 4 to count the apples."
    return chat_adapter_reply(**values)


@pytest.mark.parametrize("optimizer", ["random-search", "simba", "mipro", "gepa"])
def test_every_optimizer_compiles_on_the_fake_engine_and_records_its_cost(tmp_path, optimizer):
    with FakeEngine(any_fields) as engine:
        spec = f"openai/fake@{engine.api_base}"
        program, scores = compile_program(
            Budget(sleep_model=spec, test_model=spec), examples(1, 4), devset=examples(10, 2),
            optimizer=optimizer, phase="test", reflection_model=spec, candidates=2, max_metric_calls=12,
            max_demos=1, ledger=TokenLedger(), out_dir=tmp_path, track=False, progress=False,
            lm_options={"num_retries": 0})
        assert scores["dev_accuracy"] == 1.0
        assert scores["compile_program_calls"] > 0
        manifest = load(tmp_path, lm_options={"num_retries": 0}).manifest
        assert manifest["compiled_with"]["optimizer"] == optimizer


def test_gepa_without_a_reflection_model_is_refused():
    from optimize.experiments.optimizers import make_optimizer

    with pytest.raises(ValueError, match="--reflection-model"):
        make_optimizer("gepa", metric=correctness_metric())


def test_the_feedback_metric_says_whether_the_notes_held_the_answer():
    from optimize.experiments.optimizers import feedback_metric

    metric = feedback_metric()
    right = metric(dspy.Example(answer="12"), dspy.Prediction(answer="12", learned_context="x = 5"))
    wrong = metric(dspy.Example(answer="12"), dspy.Prediction(answer="7", learned_context="total: 12"),
                   None, "answerer.predict", None)
    assert right.score == 1.0 and "Correct" in right.feedback and "do not state 12" in right.feedback
    assert wrong.score == 0.0 and "correct answer is 12" in wrong.feedback
    assert "read it from them" in wrong.feedback


def test_the_doctests_of_the_optimizers_module_run():
    import doctest

    import optimize.experiments.optimizers

    assert doctest.testmod(optimize.experiments.optimizers).failed == 0
