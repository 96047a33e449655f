"""The selection protocol of ``compile --draws N`` on the fake engine: draws scored on dev beside the
hand-written program, a fixed rule picks, the record goes into the manifest and MLflow, test is refused."""

from __future__ import annotations

import dspy
import pandas as pd
import pytest

from optimize.cli.app import main
from programs.api import load
from programs.budget import Budget
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply


def examples(name: str, start: int, count: int) -> list[dspy.Example]:
    return [dspy.Example(context=f"{name} has {n} boxes of 4 apples.", question="How many apples?",
                         answer=str(4 * n), context_id=f"{name}{n // 2}", question_id=f"{name}-q{n}",
                         template_id=name, level="base", predictability=1.0
                         ).with_inputs("context", "question")
            for n in range(start, start + count)]


def always_right(messages, request):
    text = messages[-1]["content"]
    if "question" not in text:
        return chat_adapter_reply(learned_context="apples = boxes * 4")
    boxes = int(text.split("has ")[-1].split()[0])
    return chat_adapter_reply(reasoning=f"{boxes} * 4", answer=str(boxes * 4))


def right_with_demos(messages, request):
    """Train questions (Ann) are answered right; dev questions (Bob) only by a program that carries demos."""
    text = messages[-1]["content"]
    if "question" not in text:
        return chat_adapter_reply(learned_context="apples = boxes * 4")
    boxes = int(text.split("has ")[-1].split()[0])
    demos = len(messages) > 2
    return chat_adapter_reply(reasoning="...", answer=str(boxes * 4 if "Ann" in text or demos else 0))


def draws_of(reply, tmp_path, draws=3, engine=None, **options):
    """compile_draws on the fake engine (``engine``: one already running, so a rerun has the same models)."""
    from optimize.experiments.draws import compile_draws

    if engine is None:
        with FakeEngine(reply) as engine:
            return draws_of(reply, tmp_path, draws, engine, **options)
    spec = f"openai/fake@{engine.api_base}"
    before = len(engine.requests)
    program, record = compile_draws(
        Budget(sleep_model=spec, test_model=spec, test_verbosity=0), examples("Ann", 1, 6),
        examples("Bob", 20, 6), draws=draws, out_dir=tmp_path / "out", max_demos=2, progress=False,
        lm_options={"num_retries": 0}, data={"source": "fake"}, **options)
    return program, record, engine.requests[before:]


def test_draws_that_do_not_beat_hand_written_on_dev_leave_the_hand_written_program_chosen(tmp_path):
    program, record, _ = draws_of(always_right, tmp_path, track=False)
    assert record["chosen"] == {"name": "hand-written", "draw": None, "accuracy": 1.0,
                                "mean_test_tokens": record["handwritten"]["mean_test_tokens"]}
    assert program.answerer.predict.demos == []  # the shipped program is the hand-written one
    manifest = load(tmp_path / "out", lm_options={"num_retries": 0}).manifest
    selection = manifest["selection"]
    assert selection["under_protocol"] is True and selection["selected_with_test_results_in_view"] is False
    assert "hand-written program is the choice" in selection["rule"]
    assert selection["set"] == {"split": "dev", "questions": 6, "contexts": 3, "templates": 1,
                                "question_ids_sha256": selection["set"]["question_ids_sha256"]}
    assert [d["seed"] for d in selection["draws"]] == [0, 1, 2]
    orders = [d["train_order"] for d in selection["draws"]]
    assert orders == ["data", "shuffled (seed 1)", "shuffled (seed 2)"]
    assert all(len(d["ci_context"]) == 2 and d["n"] == 6 for d in selection["draws"])
    assert selection["spread_over_draws"]["accuracy"] == {"mean": 1.0, "min": 1.0, "max": 1.0}
    assert 0 < selection["power"]["detectable_difference"] < 2
    for name in ("handwritten", "draw-0", "draw-1", "draw-2"):  # every number recomputable from rows
        rows = pd.read_json(tmp_path / "out" / "selection" / f"{name}.jsonl", lines=True)
        assert sorted(rows["question_id"]) == sorted(e.question_id for e in examples("Bob", 20, 6))
    assert (tmp_path / "out" / "draws" / "draw-2" / "program.json").is_file()


def test_a_draw_better_on_dev_is_chosen_and_ships_with_its_demos(tmp_path):
    program, record, _ = draws_of(right_with_demos, tmp_path, draws=2, track=False)
    assert record["handwritten"]["accuracy"] == 0.0
    assert [d["accuracy"] for d in record["draws"]] == [1.0, 1.0]
    assert record["chosen"]["name"] == "draw 0"  # equal accuracy and tokens: the lower draw index
    assert record["draws"][0]["minus_handwritten"]["points"] == 100.0
    loaded = load(tmp_path / "out", lm_options={"num_retries": 0})
    assert loaded.dump_state() == program.dump_state() and len(program.answerer.predict.demos) == 2
    assert loaded.manifest["selection"]["chosen"]["draw"] == 0
    assert loaded.manifest["compiled_with"]["train_order"] == "data"


def test_a_stopped_selection_resumes_from_its_saved_draws_without_compiling_again(tmp_path):
    """Scoring four candidates on the whole dev split takes hours: a rerun must reuse the draws and rows a
    stopped run saved (a new compile could give other demos, which the rows on file would not match)."""
    with FakeEngine(right_with_demos) as engine:
        first, record, _ = draws_of(right_with_demos, tmp_path, draws=2, engine=engine, track=False)
        (tmp_path / "out" / "manifest.json").unlink()  # as if stopped before the choice was saved
        again, resumed, requests = draws_of(right_with_demos, tmp_path, draws=2, engine=engine, track=False)
    assert requests == []  # every draw loaded, every selection row resumed: no model call
    assert again.dump_state() == first.dump_state()
    assert resumed["chosen"] == record["chosen"] and resumed["draws"] == record["draws"]


def test_a_saved_draw_of_other_settings_is_refused_naming_them(tmp_path):
    from optimize.experiments.selection import SelectionError

    with FakeEngine(right_with_demos) as engine:
        draws_of(right_with_demos, tmp_path, draws=1, engine=engine, track=False)
        (tmp_path / "out" / "selection" / "handwritten.jsonl").unlink()  # its rows name no seed
        with pytest.raises(SelectionError, match=r"draw-0 holds a draw made with other settings \(seed: 0 "
                                                 r"saved, 5 asked"):
            draws_of(right_with_demos, tmp_path, draws=1, engine=engine, track=False, seed=5)


def test_the_selection_is_logged_to_mlflow(tmp_path, monkeypatch):
    import warnings

    from mlflow.tracking import MlflowClient

    from optimize.tracking.runs import default_tracking_uri

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLEEPTIME_MLRUNS_DIR", str(tmp_path / "store"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        draws_of(right_with_demos, tmp_path, draws=2, track=True)
    client = MlflowClient(tracking_uri=default_tracking_uri())
    run = client.search_runs([client.get_experiment_by_name("sleeptime-compile").experiment_id])[0]
    assert run.data.params["draws"] == "2" and run.data.params["select_on"] == "dev"
    assert run.data.metrics["selection_chosen_draw"] == 0 and run.data.metrics["selection_questions"] == 6
    assert [m.step for m in client.get_metric_history(run.info.run_id, "selection_accuracy")] == [0, 1]
    assert run.data.tags["sleeptime.selection_chosen"] == "draw 0"
    assert "selection.json" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_selecting_on_the_test_split_is_refused(capsys):
    from optimize.experiments.draws import compile_draws
    from optimize.experiments.selection import SelectionError

    assert main(["compile", "--select-on", "test", "--draws", "3", "--no-mlflow"]) != 0
    assert "--select-on test is refused" in capsys.readouterr().err
    with pytest.raises(SelectionError, match="refused"):
        compile_draws(Budget(), [], [], draws=2, out_dir="unused", select_on="test")


def test_the_rule_ranks_accuracy_then_tokens_then_hand_written_then_draw_index():
    from optimize.experiments.selection import choose

    hand = {"name": "hand-written", "accuracy": 0.6, "mean_test_tokens": 15.0, "draw": None}
    worse = {"name": "draw 0", "accuracy": 0.55, "mean_test_tokens": 10.0, "draw": 0}
    equal_but_longer = {"name": "draw 1", "accuracy": 0.6, "mean_test_tokens": 16.0, "draw": 1}
    assert choose(hand, [worse, equal_but_longer])["name"] == "hand-written"
    shorter = {"name": "draw 2", "accuracy": 0.6, "mean_test_tokens": 14.0, "draw": 2}
    same = {"name": "draw 3", "accuracy": 0.6, "mean_test_tokens": 14.0, "draw": 3}
    assert choose(hand, [same, shorter])["name"] == "draw 2"


def test_the_detectable_difference_inverts_questions_needed():
    from optimize.experiments.selection import detectable_difference
    from optimize.reports.metrics import questions_needed

    for questions, per_context in ((30, 3.75), (238, 3.78)):
        d = detectable_difference(questions, questions_per_context=per_context)
        needed = questions_needed(d, questions_per_context=per_context)["questions"]
        assert needed in (questions, questions + 1)
    assert detectable_difference(30, questions_per_context=3.75) > 0.25  # 30 dev questions rank nothing


def test_every_shipped_program_was_chosen_under_the_protocol():
    from programs.persistence import read_bundle, shipped_programs

    assert shipped_programs(), "the package ships no compiled program: the README and BENCHMARKS say it does"
    for name in shipped_programs():
        selection = read_bundle(name)[0].get("selection")
        assert selection is not None, f"{name}: its manifest does not say how it was chosen"
        assert selection["under_protocol"] is True, f"{name} was not chosen by the selection protocol"
        assert selection["selected_with_test_results_in_view"] is False
        assert selection["rule"] and selection["set"]["split"] == "dev"
        assert selection["set"]["questions"] >= 200, f"{name}: too few selection questions to rank draws"
