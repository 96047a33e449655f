"""Budget search: objectives, search-space and storage errors, Pareto front, resume after a crash.

Trials use a deterministic evaluator (tokens and correctness computed from the Budget), injected through
``run_search(evaluator=...)``; the real evaluator is the default and is covered by the evaluation tests.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pandas as pd
import pytest

from optimize.experiments.search import SearchSpace, run_search  # noqa: E402
from optimize.experiments.study import SearchError, StorageError, open_storage  # noqa: E402
from optimize.reports.pareto import pareto_front  # noqa: E402
from optimize.reports.tables import OBJECTIVES  # noqa: E402
from programs.budget import Budget  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# -- a deterministic evaluator, shared with the PostgreSQL and tracking tests ------------------------------
def make_examples(n_contexts: int = 4, per_context: int = 3) -> list[dict]:
    return [
        {
            "context_id": f"c{c}",
            "question_id": f"c{c}-q{q}",
            "template_id": f"t{c % 2}",
            "level": 1,
            "predictability": (c * per_context + q) / (n_contexts * per_context),
            "question": f"q{q}?",
            "answer": str(c + q),
        }
        for c in range(n_contexts)
        for q in range(per_context)
    ]


def fake_evaluator(budget, examples, *, results_path=None, store=None, ledger=None) -> pd.DataFrame:
    """More verbosity and more sleep samples -> more accurate; tokens grow with both."""
    rows = []
    k = budget.sleep_samples if budget.use_sleep else 0
    p_correct = 0.2 + 0.12 * budget.test_verbosity + (0.08 * math.log2(1 + k) if budget.use_sleep else 0.0)
    cap = min(budget.resolved_test_max_tokens, 512)
    test_tokens = 20 + 45 * budget.test_verbosity + cap // 64 - (12 if k else 0)
    sleep_per_context = 150 * k * (1 + budget.sleep_rounds) if budget.use_sleep else 0
    for ex in examples:
        draw = int(hashlib.sha1(f"{ex['question_id']}".encode()).hexdigest()[:8], 16) / 16**8
        correct = draw < p_correct + 0.2 * ex["predictability"] * (1 if budget.use_sleep else 0)
        rows.append(
            {
                "context_id": ex["context_id"],
                "question_id": ex["question_id"],
                "template_id": ex["template_id"],
                "level": ex["level"],
                "predictability": ex["predictability"],
                "question": ex["question"],
                "gold": ex["answer"],
                "prediction": ex["answer"] if correct else "0",
                "extracted": float(ex["answer"]) if correct else 0.0,
                "correct": bool(correct),
                "error": None,
                "test_prompt_tokens": test_tokens // 2,
                "test_completion_tokens": test_tokens - test_tokens // 2,
                "test_tokens": test_tokens,
                "sleep_prompt_tokens": sleep_per_context // 2,
                "sleep_completion_tokens": sleep_per_context - sleep_per_context // 2,
                "sleep_tokens": sleep_per_context,
                "sleep_tokens_spent": 0,
                "store_hit": True,
                "test_seconds": 0.01 * test_tokens,
                "sleep_seconds": 0.0,
                "seconds": 0.01 * test_tokens,
            }
        )
    return pd.DataFrame(rows)


def search(tmp_path, **overrides):
    options = dict(
        n_trials=6,
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        study_name="s",
        seed=0,
        tracker=False,
        evaluator=fake_evaluator,
        results_dir=tmp_path / "results",
        progress=False,
    )
    options.update(overrides)
    examples = options.pop("examples", None) or make_examples()
    return run_search(examples, **options)


# -- objectives ---------------------------------------------------------------------------------------------
def test_objectives_are_accuracy_test_tokens_and_amortized_cost(tmp_path):
    rows = pd.DataFrame(
        {
            "context_id": ["a", "a", "b", "b"],
            "question_id": ["a1", "a2", "b1", "b2"],
            "correct": [True, False, True, True],
            "error": [None] * 4,
            "test_completion_tokens": [10, 20, 30, 40],
            "sleep_completion_tokens": [100, 100, 300, 300],
            "test_seconds": [0.1] * 4,
        }
    )

    def fixed(budget, examples, **_):
        frame = fake_evaluator(budget, examples[:4])
        for column in rows:
            frame[column] = rows[column]
        return frame

    space = SearchSpace(
        use_sleep=(True,),
        test_verbosity=(1,),
        test_max_tokens=(256,),
        sleep_samples=(2,),
        sleep_rounds=(0,),
        sleep_max_tokens=(512,),
    )
    study = search(
        tmp_path, n_trials=1, evaluator=fixed, space=space, questions_per_context=2, price_ratio=10
    )
    accuracy, test_tokens, cost = study.trials[0].values
    assert accuracy == pytest.approx(0.75)
    assert test_tokens == pytest.approx(25.0)
    # 10 * 25 test tokens + (100 + 300) / 2 sleep tokens per context spread over N = 2 questions
    assert cost == pytest.approx(10 * 25 + 200 / 2)
    assert [d.name.lower() for d in study.directions] == [d for _, d in OBJECTIVES]


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "space, words",
    [
        (SearchSpace(test_verbosity=()), "empty"),
        (SearchSpace(test_verbosity=(0, 7)), "test_verbosity=7"),
        (SearchSpace(sleep_samples=(1, 1)), "repeats"),
        (SearchSpace(use_sleep=(False,)), "contradictory"),
        (SearchSpace(compiled=(None, "/nonexistent/program")), "does not exist"),
    ],
)
def test_bad_search_space_is_refused_before_any_study_is_written(tmp_path, space, words):
    with pytest.raises(SearchError, match=words):
        search(tmp_path, space=space)
    assert not (tmp_path / "optuna.db").exists()


def test_unknown_storage_scheme_is_a_clear_error():
    with pytest.raises(StorageError, match="unknown storage URL.*redis"):
        open_storage("redis://localhost/0")


def test_unreachable_database_names_the_url_without_password():
    with pytest.raises(StorageError) as info:
        open_storage("postgresql://alice:hunter2@127.0.0.1:1/studies")
    message = str(info.value)
    assert "127.0.0.1:1/studies" in message and "hunter2" not in message


def test_study_with_different_objectives_is_refused(tmp_path):
    search(tmp_path, n_trials=1, questions_per_context=1)
    with pytest.raises(SearchError, match="questions-per-context"):
        search(tmp_path, n_trials=1, questions_per_context=5)
    optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="two", directions=["maximize", "minimize"]
    )
    with pytest.raises(SearchError, match="another --study"):
        search(tmp_path, n_trials=1, study_name="two")



def test_study_resumed_on_other_questions_is_refused(tmp_path):
    """Trials scored on other questions would share a front with these; the same questions in another
    order resume."""
    search(tmp_path, n_trials=1, examples=make_examples(n_contexts=4))
    search(tmp_path, n_trials=2, examples=list(reversed(make_examples(n_contexts=4))))
    with pytest.raises(SearchError, match=r"answered 12 questions .* this run selects 6 .*--contexts"):
        search(tmp_path, n_trials=3, examples=make_examples(n_contexts=2))

# -- the front ----------------------------------------------------------------------------------------------
def test_best_trials_are_the_pareto_front_of_finished_trials(tmp_path):
    study = search(tmp_path, n_trials=14, sampler="nsga2")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 14
    front = pareto_front([t.values for t in done], [d for _, d in OBJECTIVES])
    assert {done[i].number for i in front} == {t.number for t in study.best_trials}
    configs = pd.read_csv(tmp_path / "results" / "configs.csv")
    assert set(configs.loc[configs["on_front"], "trial"]) == {t.number for t in study.best_trials}


def test_same_seed_same_suggestions(tmp_path):
    a = search(tmp_path / "a", n_trials=5, seed=3)
    b = search(tmp_path / "b", n_trials=5, seed=3)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]


# -- resume -------------------------------------------------------------------------------------------------
WORKER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import test_search as t
    calls = {{"n": 0}}
    def crashing(budget, examples, **kw):
        calls["n"] += 1
        if calls["n"] == {crash_at}:
            os.kill(os.getpid(), signal.{signal})
        return t.fake_evaluator(budget, examples, **kw)
    from optimize.experiments.search import run_search
    from pathlib import Path
    run_search(t.make_examples(), n_trials={n_trials}, storage={storage!r}, study_name="s", seed=0,
               tracker=False, evaluator=crashing,
               results_dir=Path({results!r}), progress=False)
""")


def run_worker(tmp_path, *, crash_at, sig, n_trials=5):
    code = WORKER.format(
        tests=str(REPO / "tests"),
        crash_at=crash_at,
        signal=sig,
        n_trials=n_trials,
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        results=str(tmp_path / "results"),
    )
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT"])
def test_resume_after_a_crash_loses_no_finished_trial_and_reruns_the_interrupted_one(tmp_path, sig):
    result = run_worker(tmp_path, crash_at=3, sig=sig)
    assert result.returncode != 0, result.stdout + result.stderr
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    before = optuna.load_study(study_name="s", storage=storage)
    finished = {t.number: t.values for t in before.trials if t.state.name == "COMPLETE"}
    interrupted = [t for t in before.trials if t.state.name in ("RUNNING", "FAIL")]
    assert len(finished) == 2 and len(interrupted) == 1
    # A trial left RUNNING by a worker that never recorded itself (e.g. killed before its first line).
    # (created in storage directly: ``study.ask()`` would take the re-queued trial instead.)
    stray_id = before._storage.create_new_trial(before._study_id)
    stray = before._storage.get_trial(stray_id)

    study = search(tmp_path, n_trials=4, grace_period=0.0001)
    after = {t.number: t for t in study.trials}
    for number, values in finished.items():
        assert after[number].state.name == "COMPLETE" and after[number].values == values
    assert after[interrupted[0].number].state.name == "FAIL"
    assert after[stray.number].state.name == "FAIL"
    retried = [t for t in study.trials if t.user_attrs.get("retry_of") == interrupted[0].number]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE"
    assert retried[0].params == interrupted[0].params
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == len(finished) + 4
    assert not [t for t in study.trials if t.state.name in ("RUNNING", "WAITING")]


def test_journal_storage_runs_a_study(tmp_path):
    study = search(tmp_path, n_trials=3, storage=f"journal:{tmp_path / 'journal.log'}")
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 3


def test_default_evaluator_runs_real_programs_against_the_fake_engine(tmp_path, fake_engine):
    import dspy

    from programs.store import InMemoryStore

    spec = f"openai/fake@{fake_engine.api_base}"
    examples = [
        dspy.Example(
            context=f"Ann has {i} apples.",
            question="How many apples?",
            answer="42",
            **{k: v for k, v in e.items() if k not in ("question", "answer")},
        ).with_inputs("context", "question")
        for i, e in enumerate(make_examples(2, 2))
    ]
    # The fixture's engine answers "42" without reasoning or a rewrite: a direct, test-time-only budget.
    space = SearchSpace(
        use_sleep=(False,),
        sleep_model=(spec,),
        test_model=(spec,),
        test_verbosity=(0,),
        sleep_samples=(1,),
        sleep_rounds=(0,),
        sleep_max_tokens=(256,),
        test_max_tokens=(128, 256),
    )
    study = search(
        tmp_path, n_trials=2, evaluator=None, space=space, store=InMemoryStore(), examples=examples
    )
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 2
    for trial in study.trials:
        accuracy, test_tokens, cost = trial.values
        assert accuracy == 1.0 and test_tokens > 0
        assert cost == pytest.approx(10 * test_tokens)  # no sleep time: cost is test tokens at price 10
        assert trial.user_attrs["summary"]["n"] == 4
    assert len(fake_engine.requests) == 8


def test_cli_reports_bad_storage_clearly(capsys):
    from optimize.cli.app import main

    code = main(
        ["search", "--storage", "redis://localhost/0", "--limit", "2", "--no-mlflow", "--store", ":memory:"]
    )
    assert code == 2
    assert "unknown storage URL" in capsys.readouterr().err


# -- named objectives, no budget evaluated twice, a test-token ceiling -------------------------------------
def test_objectives_are_named_for_optunas_own_tools(tmp_path):
    study = search(tmp_path, n_trials=1)
    assert study.metric_names == ["accuracy", "mean_test_tokens", "cost_per_query"]


def test_a_budget_already_evaluated_is_not_evaluated_again_nor_counted(tmp_path):
    calls = []

    def counting(budget, examples, **kw):
        calls.append(budget)
        return fake_evaluator(budget, examples, **kw)

    space = SearchSpace(use_sleep=(False,), test_verbosity=(0, 1, 2), test_max_tokens=(128,),
                        sleep_samples=(1,), sleep_rounds=(0,), sleep_max_tokens=(256,))
    study = search(tmp_path, n_trials=3, sampler="random", evaluator=counting, space=space)
    evaluated = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(calls) == 3 == len(evaluated) == len({t.user_attrs["config_id"] for t in evaluated})
    duplicates = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert all(t.state.name == "PRUNED" for t in duplicates)
    again = search(tmp_path, n_trials=2, sampler="random", evaluator=counting, space=space)
    assert len(calls) == 3, "the space holds nothing new: nothing is evaluated twice"
    assert sum(t.state.name == "COMPLETE" for t in again.trials) == 3


def test_a_test_token_ceiling_keeps_costlier_budgets_off_the_front(tmp_path):
    from optimize.experiments.search import distinct_front

    study = search(tmp_path, n_trials=8, sampler="nsga2", max_test_tokens=60)
    front = distinct_front(study, max_test_tokens=60)
    assert front and all(t.values[1] <= 60 for t in front)
    assert any(t.values[1] > 60 for t in study.trials if t.state.name == "COMPLETE")
    configs = pd.read_csv(tmp_path / "results" / "configs.csv")
    assert (configs["mean_test_tokens"] <= 60).all()
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert all(t.system_attrs.get("constraints") is not None for t in complete)


def test_a_strategy_is_only_asked_for_the_knobs_it_reads():
    """With notes and compute in one space, rethink rounds are a notes dimension and the combine rule a
    compute one: no trial pays for compute at rounds 2, the same program as compute at rounds 0."""
    space = SearchSpace(use_sleep=(True,), test_verbosity=(0,), test_max_tokens=(256,), sleep_samples=(2,),
                        sleep_max_tokens=(512,), sleep_strategy=("notes", "compute"), sleep_rounds=(0, 1, 2),
                        sleep_combine=("agree", "union")).validate()
    assert len(space.budget_ids()) == 3 + 2  # notes x rounds, compute x combine rules
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        trial = study.ask()
        params = space.suggest(trial)
        asked = set(trial.params)
        if params["sleep_strategy"] == "compute":
            assert "sleep_rounds" not in asked and "sleep_rounds" not in params
        else:
            assert "sleep_combine" not in asked and "sleep_combine" not in params
        Budget.from_dict(params)  # every suggestion is a valid Budget
        study.tell(trial, 0.0)


def test_search_space_flags_one_spelling_old_ones_hidden():
    from optimize.cli.app import build_parser
    from optimize.cli.search import _space

    parser = build_parser()
    args = parser.parse_args(["search", "--test-verbosity", "0,2", "--use-sleep", "false",
                              "--test-model", "a,b", "--sampler-seed", "4", "--n", "3"])
    space = _space(args)
    assert space.test_verbosity == (0, 2) and space.use_sleep == (False,) and space.test_model == ("a", "b")
    assert space.sleep_samples == (1,) and args.sampler_seed == 4 and args.n == 3
    aliased = parser.parse_args(
        ["search", "--verbosity", "1", "--sleep", "off", "--test-models", "a,b", "--k", "2"]
    )
    aliased_space = _space(aliased)
    assert aliased_space.test_verbosity == (1,) and aliased_space.use_sleep == (False,)
    assert aliased_space.test_model == ("a", "b") and aliased_space.sleep_samples == (2,)
    search_help = next(a for a in parser._subparsers._actions if a.dest == "command").choices["search"]
    text = search_help.format_help()
    for hidden in ("--k ", "--test-models", "--sleep {"):
        assert hidden not in text
    assert "--sampler-seed" in text and "(default: 0.5)" in text


def test_sweep_command_runs_the_k_grid_with_derived_budget_flags(tmp_path, capsys):
    from optimize.cli.app import main
    from programs.lm.fake_engine import FakeEngine, chat_adapter_reply

    def reply(messages, request):
        return chat_adapter_reply(learned_context="- total = 12", answer="12")

    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        code = main(["sweep", "--grid", "k", "--model", spec, "--test-max-tokens", "64", "--n", "2",
                     "--no-mlflow", "--store", ":memory:", "--results-dir", str(tmp_path / "sweep")])
    assert code == 0
    configs = pd.read_csv(tmp_path / "sweep" / "configs.csv")
    assert sorted(configs.loc[configs["use_sleep"], "sleep_samples"]) == [1, 2, 5, 10]
    assert set(configs["test_max_tokens"]) == {64} and set(configs["test_model"]) == {spec}
    assert "test-only v0 (fake)" in capsys.readouterr().out
