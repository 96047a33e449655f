"""The benchmark harness: its arithmetic against hand-computed numbers, the quick preset's configurations,
resume, the summary's sections, and latency/cache numbers from ledger calls.

End-to-end tests run the real programs against the deterministic fake engine (honest token counts)."""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import asdict, replace
from types import SimpleNamespace

import dspy
import pandas as pd
import pytest

from optimize.bench.errors import BenchmarkError
from optimize.bench.estimate import estimate_seconds
from optimize.bench.latency import latency_from_calls, latency_table, measure_latency, paired_seconds
from optimize.bench.orchestration import BenchmarkRun, run_benchmark
from optimize.bench.presets import PRESETS, preset_budgets
from optimize.experiments.runner import budget_id
from optimize.reports.analysis import amortization_table as amortization
from optimize.reports.analysis import token_ratio_table as ratio_at_equal_accuracy
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply
from programs.lm.ledger import LMCall
from programs.store import InMemoryStore

LABELS = ("high", "medium", "low")


# -- hand-computed arithmetic -------------------------------------------------------------------------------
def grid_configs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "config_id": ["s0", "s2", "t0", "t2", "t4"],
            "use_sleep": [True, True, False, False, False],
            "test_verbosity": [0, 2, 0, 2, 4],
            "sleep_samples": [1, 1, 1, 1, 1],
            "sleep_rounds": [0, 0, 0, 0, 0],
            "accuracy": [0.6, 0.8, 0.4, 0.6, 0.7],
            "accuracy_ci_low": [0.3, 0.5, 0.2, 0.3, 0.4],
            "accuracy_ci_high": [0.8, 0.9, 0.6, 0.8, 0.9],
            "mean_test_tokens": [20.0, 60.0, 18.0, 100.0, 200.0],
            "sleep_tokens_per_context": [400.0, 400.0, 0.0, 0.0, 0.0],
        }
    )


def test_token_ratio_matches_the_cheapest_test_only_config_at_least_as_accurate():
    table = ratio_at_equal_accuracy(grid_configs()).set_index("sleep_config_id")
    # sleep v0 (0.6, 20 tokens): test-only v2 is the cheapest reaching 0.6 -> 100 / 20 = 5x
    assert table.loc["s0", "test_config_id"] == "t2"
    assert table.loc["s0", "token_ratio"] == pytest.approx(5.0)
    assert table.loc["s0", "test_accuracy"] == pytest.approx(0.6)
    # sleep v2 (0.8) is better than every test-only config: no ratio is invented
    assert not table.loc["s2", "matched"]
    assert math.isnan(table.loc["s2", "token_ratio"])
    assert "no test-time-only config reached accuracy 0.80" in table.loc["s2", "note"]


def test_amortized_cost_per_query_against_the_matched_baseline():
    table = amortization(grid_configs(), price_ratio=10.0, questions=(1, 10))
    s0 = table[table["sleep_config_id"] == "s0"].set_index("questions_per_context")
    # N=1: 10*20 + 400/1 = 600 vs 10*100 = 1000; N=10: 10*20 + 400/10 = 240 vs 1000
    assert s0.loc[1, "cost_sleep"] == pytest.approx(600.0)
    assert s0.loc[10, "cost_sleep"] == pytest.approx(240.0)
    assert s0.loc[10, "cost_test_only"] == pytest.approx(1000.0)
    assert s0.loc[10, "cost_ratio"] == pytest.approx(1000 / 240)
    assert bool(s0.loc[10, "matched"])
    s2 = table[table["sleep_config_id"] == "s2"].set_index("questions_per_context")
    # unmatched: compared with the most accurate test-only config (v4, 200 tokens) and flagged
    assert s2.loc[10, "test_config_id"] == "t4"
    assert not bool(s2.loc[10, "matched"])
    assert s2.loc[10, "cost_ratio"] == pytest.approx(2000 / (600 + 40))


def test_latency_and_cache_numbers_come_from_the_ledger_calls():
    def call(seconds, prompt, cached, phase="test"):
        return asdict(LMCall("m", phase, prompt, 10, seconds, cached_prompt_tokens=cached))

    warm = [
        {"question_id": "a", "calls": [call(2.0, 300, 0), call(9.0, 500, 0, phase="sleep")]},
        {"question_id": "b", "calls": [call(1.0, 300, 250)]},
        {"question_id": "c", "calls": [call(0.5, 200, 150), call(0.5, 100, 100)]},
    ]
    cold = [{"question_id": q, "calls": [call(s, 300, 0)]} for q, s in (("a", 2.0), ("b", 2.5), ("c", 3.0))]
    stats = latency_from_calls(warm)
    assert stats["n"] == 3
    assert stats["mean_seconds"] == pytest.approx((2.0 + 1.0 + 1.0) / 3)  # sleep-phase call excluded
    assert stats["mean_prompt_tokens"] == pytest.approx(900 / 3)
    assert stats["mean_cached_prompt_tokens"] == pytest.approx(500 / 3)
    assert stats["cached_fraction"] == pytest.approx(500 / 900)
    saving = paired_seconds({"a": 2.0, "b": 2.5, "c": 3.0}, {"a": 2.0, "b": 1.0, "c": 1.0})
    assert saving["difference"] == pytest.approx((0 + 1.5 + 2.0) / 3)
    table = latency_table(
        pd.DataFrame(columns=["config_id", "use_sleep", "test_verbosity", "compiled"]),
        {},
        PRESETS["quick"],
        {"warm": ("x", warm), "cold": ("x", cold)},
    )
    row = table[table["mode"] == "cold minus warm"].iloc[0]
    assert row["mean_seconds"] == pytest.approx(3.5 / 3)
    assert table[table["mode"] == "cold"].iloc[0]["cached_fraction"] == 0
    assert "sleep minus test_only" not in set(table["mode"])  # no timed test-only run: no controlled pair

    test_only = [{"question_id": q, "calls": [call(s, 200, 100)]}
                 for q, s in (("a", 3.0), ("b", 4.0), ("c", 2.0))]
    timed = {"warm": ("x", warm), "cold": ("x", cold), "test_only": ("y", test_only)}
    table = latency_table(pd.DataFrame(columns=["config_id", "use_sleep", "test_verbosity", "compiled"]), {},
                          PRESETS["quick"], timed)
    pair = table[table["mode"] == "sleep minus test_only"].iloc[0]
    assert pair["measurement"] == "timed" and pair["mean_seconds"] == pytest.approx((-1.0 - 3.0 - 1.0) / 3)
    from optimize.bench.sections import q7

    assert "sleep minus test-only **-1.67 s**" in "\n".join(q7(table))


# -- presets and estimate -----------------------------------------------------------------------------------
def test_quick_preset_runs_the_documented_configurations():
    groups = preset_budgets(PRESETS["quick"], "local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b")
    pareto = {(b.use_sleep, b.test_verbosity, b.sleep_samples) for b in groups["pareto"]}
    assert pareto == {(s, v, 1) for s in (True, False) for v in (0, 2, 4)}
    scaling = {(b.use_sleep, b.test_verbosity, b.sleep_samples, b.sleep_rounds) for b in groups["scaling"]}
    assert scaling == {(True, 0, 1, 0), (True, 0, 2, 0), (False, 0, 1, 0)}
    assert [(b.use_sleep, b.test_verbosity) for b in groups["compiled"]] == [(True, 0)]
    assert [(b.use_sleep, b.test_verbosity) for b in groups["latency"]] == [(True, 0), (False, 0)]
    strategies = [(b.sleep_strategy, b.sleep_samples, b.test_verbosity) for b in groups["strategies"]]
    assert strategies == [("compute", 1, 0)]  # one program per context: the quick size stays quick
    every = [b for group in groups.values() for b in group]
    assert {b.sleep_model for b in every} == {"local:qwen2.5-coder-1.5b"}
    assert {b.test_model for b in every} == {"local:qwen2.5-coder-0.5b"}
    assert len({budget_id(b) for b in every}) == 8  # k=1 and the compile/latency baselines are shared
    quick = PRESETS["quick"]
    assert (quick.contexts, quick.search_trials, quick.compile_max_demos) == (3, 3, 2)


def test_estimate_counts_each_model_and_part_it_runs():
    parts = estimate_seconds(
        PRESETS["quick"],
        ["local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b"],
        "local:qwen2.5-coder-1.5b",
        n_questions=11,
        n_contexts=3,
    )
    small = estimate_seconds(
        PRESETS["quick"],
        ["local:qwen2.5-coder-0.5b"],
        "local:qwen2.5-coder-1.5b",
        n_questions=11,
        n_contexts=3,
    )
    assert small["sleep"] == parts["sleep"]  # sleep work is shared through the store across test models
    assert small["grid"] < parts["grid"]
    assert 10 * 60 < parts["total"] < 60 * 60
    full = estimate_seconds(
        PRESETS["full"],
        ["local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b"],
        "local:qwen2.5-coder-1.5b",
        n_questions=38,
        n_contexts=10,
    )
    assert full["total"] > parts["total"] * 3
    only_q1 = estimate_seconds(
        PRESETS["quick"],
        ["local:qwen2.5-coder-0.5b"],
        "local:qwen2.5-coder-1.5b",
        n_questions=11,
        n_contexts=3,
        only=("q1",),
    )
    assert only_q1["search"] == 0 and only_q1["compile"] == 0 and only_q1["grid"] > 0


# -- end to end on the fake engine --------------------------------------------------------------------------
def examples(contexts: int = 2, per_context: int = 3, prefix: str = "c") -> list[dspy.Example]:
    rows = []
    for c in range(contexts):
        for q in range(per_context):
            gold = 10 * c + q + 1
            rows.append(
                dspy.Example(
                    context=f"Shop {prefix}{c} has {gold} boxes.",
                    question=f"How many boxes in Q{prefix}{c}-{q}?",
                    answer=gold,
                    context_id=f"{prefix}{c}",
                    question_id=f"{prefix}{c}-q{q}",
                    template_id=f"t{c}",
                    level="base",
                    predictability=LABELS[q % 3],
                ).with_inputs("context", "question")
            )
    return rows


def reply(messages, request):
    text = messages[-1]["content"]
    boxes = int(re.search(r"has (\d+) boxes", text).group(1))
    if "[[ ## code ## ]]" in messages[0]["content"]:  # a compute program (the quick size runs compute k=1)
        return chat_adapter_reply(code=f"boxes = {boxes}")
    if "[[ ## question ## ]]" not in text:
        return chat_adapter_reply(learned_context="- boxes = noted")
    gold = boxes
    lucky = int(hashlib.sha1(text.split("How many")[-1].encode()).hexdigest()[:4], 16) % 2 == 0
    right = "[[ ## learned_context ## ]]" in text or lucky
    steps = " step" * (20 if "double-check" in messages[0]["content"] else 3)
    return chat_adapter_reply(reasoning=f"count{steps}", answer=str(gold if right else gold + 1))


def fake_run(engine, tmp_path, **changes) -> BenchmarkRun:
    spec = f"openai/fake@{engine.api_base}"
    preset = replace(PRESETS["quick"], contexts=2, compile_train_questions=3)
    fields = dict(
        test_examples=examples(),
        train_examples=examples(1, 3, prefix="train"),
        preset=preset,
        test_models=[spec],
        sleep_model=spec,
        results_dir=tmp_path / "bench",
        name="t",
        store=InMemoryStore(),
        tracker=False,
        progress=False,
        lm_options={"num_retries": 0},
        meta={"command": "sleeptime benchmark --size quick", "size": "quick"},
    )
    fields.update(changes)
    return BenchmarkRun(**fields)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bench")
    with FakeEngine(reply) as engine:
        run = fake_run(engine, tmp_path)
        summary = run_benchmark(run)
        first = len(engine.requests)
        again = run_benchmark(run)
        second = len(engine.requests) - first
    return {
        "summary": summary,
        "again": again,
        "first_requests": first,
        "second_requests": second,
        "dir": run.results_dir,
        "run": run,
    }


def test_a_second_run_reuses_every_finished_row(finished):
    assert finished["first_requests"] > 0
    assert finished["second_requests"] == 0
    rows = list((finished["dir"]).glob("*/*/rows/*.jsonl"))
    assert rows, "rows persist per configuration"


def test_the_quick_run_answers_its_sleep_strategy_beside_todays_notes(finished):
    from optimize.bench.orchestration import answers_on_file

    q2 = pd.read_csv(finished["dir"] / "q2_sleep_scaling.csv")
    notes_k1 = q2[(q2["sleep_strategy"] == "notes") & (q2["sleep_samples"] == 1)]["config_id"].iloc[0]
    compute = q2[q2["sleep_strategy"] == "compute"].set_index("versus")
    reference = compute.loc["sleep k=1, rounds=0"]
    assert reference["config_b"] == notes_k1 != reference["config_a"]
    assert reference["n"] == 6  # answered, and paired on every question
    assert list((finished["dir"] / "ours").glob("*/strategies/configs.csv"))
    present, needed = answers_on_file(finished["run"])
    assert present == needed == 6 * 8  # 6 questions x (6 of the pareto group, notes k=2, compute k=1)


def test_every_question_has_a_table_and_a_summary_section(finished):
    from optimize.bench.questions import QUESTIONS

    text = finished["summary"].read_text()
    for q in range(1, 8):
        assert f"## Q{q}." in text
    for name in (q.table for q in QUESTIONS):
        assert (finished["dir"] / name).exists(), name
    assert "Not measured in this run" not in text
    assert "**Answer" in text
    assert "2 cores" in text or "cores" in text
    assert "sleeptime benchmark --size quick" in text


def test_summary_lists_every_configuration_that_ran(finished):
    configs = pd.read_csv(finished["dir"] / "configs.csv")
    text = finished["summary"].read_text()
    # 6 verbosity configs, k=2, the compiled twin, plus whatever the search added
    assert len(configs) >= 8
    for config_id in configs["config_id"]:
        assert config_id in text
    assert configs["compiled"].notna().sum() == 1


def test_report_figures_are_written_per_test_model(finished):
    assert list(finished["dir"].glob("*/*/report/pareto_shift.png"))


def test_cold_cache_mode_sends_cache_prompt_false_and_keeps_per_question_calls(tmp_path):
    from programs.budget import Budget

    with FakeEngine(reply) as engine:
        spec = f"openai/fake@{engine.api_base}"
        budget = Budget(sleep_model=spec, test_model=spec)
        store = InMemoryStore()
        measure_latency(
            budget,
            examples(1, 2),
            mode="warm",
            out_dir=tmp_path,
            store=store,
            progress=False,
            lm_options={"num_retries": 0},
        )
        warm_requests = list(engine.requests)
        _, calls = measure_latency(
            budget,
            examples(1, 2),
            mode="cold",
            out_dir=tmp_path,
            store=store,
            progress=False,
            lm_options={"num_retries": 0},
        )
        cold_requests = engine.requests[len(warm_requests) :]
    assert all("cache_prompt" not in r for r in warm_requests)
    assert cold_requests and all(r.get("cache_prompt") is False for r in cold_requests)
    assert [c["question_id"] for c in calls] == ["c0-q0", "c0-q1"]
    assert all(call["phase"] == "test" for row in calls for call in row["calls"])  # context from the store
    assert all(call["prompt_tokens"] > 0 for row in calls for call in row["calls"])


def test_unknown_question_is_a_clear_error(tmp_path):
    with pytest.raises(BenchmarkError, match="--only"):
        run_benchmark(
            BenchmarkRun(
                test_examples=examples(),
                train_examples=[],
                preset=PRESETS["quick"],
                test_models=["x"],
                sleep_model="x",
                results_dir=tmp_path,
                only=("q9",),
            )
        )


# -- the standard size: whole split, second held-out set, resumable from committed rows, Q1 first ----------
def test_standard_preset_runs_the_issue_configurations():
    from optimize.bench.presets import LARGE_MODEL, SMALL_MODEL

    standard = PRESETS["standard"]
    assert standard.contexts is None and standard.committed
    assert standard.test_models == (LARGE_MODEL, SMALL_MODEL)  # the paper's same-model setting first
    assert standard.questions[0] == "q1" and set(standard.questions) == {"q1", "q2", "q3", "q4", "q7"}
    groups = preset_budgets(standard, LARGE_MODEL, LARGE_MODEL)
    pareto = {(b.use_sleep, b.test_verbosity) for b in groups["pareto"]}
    assert pareto == {(True, 0), (True, 1)} | {(False, v) for v in range(4)}
    assert {b.sleep_samples for b in groups["scaling"] if b.use_sleep} == {1, 2, 4}
    assert {b.test_verbosity for b in groups["scaling"]} == {0}
    assert [(b.sleep_strategy, b.sleep_combine, b.sleep_samples) for b in groups["strategies"]] == [
        ("compute", "agree", 1), ("compute", "union", 2), ("compute", "union", 4), ("compute", "union", 8)]


def test_search_trials_and_contexts_override_the_size():
    from optimize.cli.app import build_parser
    from optimize.cli.benchmark import preset_from_args

    args = build_parser().parse_args(["benchmark", "--size", "standard", "--search-trials", "16"])
    preset = preset_from_args(args)
    assert (preset.search_trials, preset.contexts, preset.committed) == (16, None, True)
    quick = preset_from_args(build_parser().parse_args(["benchmark", "--contexts", "2"]))
    assert (quick.search_trials, quick.contexts) == (PRESETS["quick"].search_trials, 2)


def test_standard_search_can_land_on_every_grid_configuration_and_reuse_its_rows():
    """With per-verbosity caps in the grid, a search space of fixed caps would never meet a grid budget."""
    from optimize.bench.presets import LARGE_MODEL, SMALL_MODEL, base_budget, search_space
    from optimize.bench.tables import canonical_id
    from programs.budget import Budget

    standard = PRESETS["standard"]
    space = search_space(standard, SMALL_MODEL, LARGE_MODEL).validate()
    base = base_budget(standard, SMALL_MODEL, LARGE_MODEL)
    searchable = {canonical_id(Budget(**dict(zip(space.dimensions(), values, strict=True))), base)
                  for values in itertools.product(*space.dimensions().values())}
    groups = preset_budgets(standard, SMALL_MODEL, LARGE_MODEL)
    grid = {canonical_id(b, base) for g in ("pareto", "scaling") for b in groups[g]}
    assert len(grid) == 8 and grid <= searchable
    assert 128 in space.test_max_tokens  # and a cap the grid does not try


def test_power_estimate_is_printed_from_a_prior_or_a_pilot():
    from optimize.bench.estimate import power_line

    line = power_line(0.1, 238, 63)
    assert "needs ~" in line and "this run has 238" in line and "prior" in line
    assert "from 40 paired pilot" in power_line(0.1, 238, 63, {"sd": 0.5, "icc": 0.0, "n": 40})


@pytest.fixture(scope="module")
def standard_like(tmp_path_factory):
    """q1 then q2 on the test split and a second held-out set; then the rows alone, copied to a new
    directory (another machine), resume the run without a single LM request."""
    import shutil

    from optimize.bench.orchestration import COMMITTED_PATTERNS
    from optimize.experiments.runner import evaluate_budget

    tmp_path = tmp_path_factory.mktemp("standard")
    seen = []
    with FakeEngine(reply) as engine:
        def evaluator(budget, examples, **kw):
            seen.append((budget.sleep_samples, (tmp_path / "a" / "q1_pareto.csv").exists()))
            return evaluate_budget(budget, examples, progress=False, **kw)

        run = fake_run(engine, tmp_path, results_dir=tmp_path / "a", only=("q1", "q2"),
                       heldout=examples(2, 2, prefix="h"), heldout_name="gsm-symbolic", evaluator=evaluator,
                       preset=replace(PRESETS["quick"], contexts=2, committed=True, sleep_verbosities=(0,)))
        summary = run_benchmark(run)
        first = len(engine.requests)
        copy = tmp_path / "b"
        for pattern in COMMITTED_PATTERNS:
            for path in run.results_dir.glob(pattern):
                if path.is_file() and "/rows/" in str(path):
                    target = copy / path.relative_to(run.results_dir)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(path, target)
        again = run_benchmark(replace(run, results_dir=copy, store=InMemoryStore()))
        second = len(engine.requests) - first
    return {"run": run, "summary": summary, "again": again, "first": first, "second": second, "seen": seen}


def test_q1_is_answered_before_the_scaling_group_starts(standard_like):
    seen = standard_like["seen"]
    assert any(k > 1 for k, _ in seen)
    assert all(written for k, written in seen if k > 1)  # q1's table existed before any k=2 evaluation


def test_a_copy_of_the_committed_rows_resumes_on_another_machine(standard_like):
    assert standard_like["first"] > 0 and standard_like["second"] == 0
    results = standard_like["run"].results_dir
    rows = sorted(p.relative_to(results).parts[:3] for p in results.glob("*/*/rows/*.jsonl"))
    assert {r[0] for r in rows} == {"ours", "gsm-symbolic"}
    gitignore = (results / ".gitignore").read_text()
    assert "!*/*/rows/*.jsonl" in gitignore and "!/summary.md" in gitignore


def test_tables_carry_clustered_intervals_failure_rates_and_both_datasets(standard_like):
    results = standard_like["run"].results_dir
    q1 = pd.read_csv(results / "q1_pareto.csv")
    assert set(q1["dataset"]) == {"ours", "gsm-symbolic"}
    assert {"paired_ci_low", "paired_ci_high_template", "paired_significant", "paired_n_templates",
            "sleep_truncation_rate", "test_parse_failures"} <= set(q1.columns)
    q2 = pd.read_csv(results / "q2_sleep_scaling.csv")
    assert {"ci_low_template", "significant", "n_contexts", "truncation_rate"} <= set(q2.columns)
    configs = pd.read_csv(results / "configs.csv")
    assert {"accuracy_ci_low_context", "accuracy_ci_low_template", "n_templates", "truncation_rate",
            "parse_failures"} <= set(configs.columns)
    text = standard_like["summary"].read_text()
    assert "by context" in text and "templates)" in text
    assert "dataset `gsm-symbolic`" in text
    assert "`gsm-symbolic`: 4 questions in 2 contexts from 2 templates" in text


def test_an_invocation_of_fewer_parts_keeps_the_tables_and_header_of_the_others(tmp_path):
    """A later invocation without --heldout (or with one of the test models) rewrote the tables of the
    questions it answered with its own parts only, and meta.json with its own models and datasets: the
    summary lost every other part's section, though their rows were on file."""
    import json

    with FakeEngine(reply) as engine:
        run = fake_run(engine, tmp_path, only=("q1",), heldout=examples(2, 2, prefix="h"),
                       heldout_name="gsm-symbolic",
                       preset=replace(PRESETS["quick"], contexts=2, committed=True, sleep_verbosities=(0,)))
        run_benchmark(run)
        q1_before = pd.read_csv(run.results_dir / "q1_pareto.csv")
        run_benchmark(replace(run, heldout=None))  # replace() makes a new invocation

    q1 = pd.read_csv(run.results_dir / "q1_pareto.csv")
    assert set(q1["dataset"]) == {"ours", "gsm-symbolic"}
    assert list(q1["dataset"]) == list(q1_before["dataset"])  # the sections stay where they were
    meta = json.loads((run.results_dir / "meta.json").read_text())
    assert set(meta["datasets"]) == {"ours", "gsm-symbolic"} and len(meta["invocations"]) == 2
    text = (run.results_dir / "summary.md").read_text()
    assert "dataset `gsm-symbolic`" in text and "`gsm-symbolic`: 4 questions" in text
    assert "/gsm-symbolic/*/rows/" in (run.results_dir / ".gitignore").read_text()


def test_figures_of_a_resumed_run_show_configurations_whose_frames_are_on_another_machine(tmp_path):
    """Frames stay on the machine that ran a group; a later invocation elsewhere (only the committed rows)
    drew its figures from the groups it ran itself, so the Pareto view lost every q1 configuration."""
    import shutil

    with FakeEngine(reply) as engine:
        run = fake_run(engine, tmp_path, only=("q1",),
                       preset=replace(PRESETS["quick"], contexts=2, committed=True, sleep_verbosities=(0,)))
        run_benchmark(run)
        (view,) = run.results_dir.glob("*/*/report/pareto_shift.csv")
        before = pd.read_csv(view)
        for frames in run.results_dir.glob("*/*/*/frames"):
            shutil.rmtree(frames)
        run_benchmark(replace(run, only=("q2",)))

    after = pd.read_csv(view)
    assert len(before) > 1 and set(before["label"]) <= set(after["label"])  # q2 adds its own


def test_benchmark_help_names_the_sizes_and_the_heldout_set(capsys):
    from optimize.cli.app import main

    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    out = capsys.readouterr().out
    assert "standard" in out and "--heldout" in out and "--only" in out and "--threads" in out


def test_rows_of_third_party_held_out_sets_are_never_committed(tmp_path):
    import subprocess

    from optimize.bench.orchestration import _gitignore

    _gitignore(tmp_path, third_party=["gsm-symbolic"])
    _gitignore(tmp_path)  # a later run without --heldout: the rows from the first are still on disk
    for path in ("ours/m/rows/a.jsonl", "gsm-symbolic/m/rows/a.jsonl", "gsm-symbolic/m/latency/a.jsonl",
                 "q1_pareto.csv", "ours/m/frames/a.csv"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=tmp_path, check=True,
                            capture_output=True, text=True).stdout.split()
    assert "ours/m/rows/a.jsonl" in staged and "q1_pareto.csv" in staged
    assert not [p for p in staged if p.startswith("gsm-symbolic/") or "/frames/" in p]


def test_heldout_contexts_take_one_context_per_template_first_and_need_a_heldout_set(tmp_path, capsys):
    import json

    from optimize.cli.app import main
    from optimize.cli.benchmark import load_heldout

    path = tmp_path / "heldout.jsonl"
    rows = [{"context_id": f"{t}-{i}", "template_id": t, "context": "Ann has 3 apples.",
             "questions": [{"question_id": f"{t}-{i}-q", "question": "How many apples?", "answer": "3"}]}
            for t in ("a", "b", "c") for i in range(2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    assert len(load_heldout(str(path))) == 6
    taken = load_heldout(str(path), 3)
    assert sorted(e.context_id for e in taken) == ["a-0", "b-0", "c-0"]
    assert main(["benchmark", "--heldout-contexts", "3", "--no-mlflow", "--out", str(tmp_path / "o")]) == 2
    assert "--heldout-contexts needs --heldout PATH" in capsys.readouterr().err


def test_a_later_run_of_some_questions_keeps_the_tables_of_the_others(tmp_path):
    import json

    from optimize.bench.orchestration import answers_on_file

    with FakeEngine(reply) as engine:
        run = fake_run(engine, tmp_path, only=("q1", "q2"))
        results = run.results_dir
        present, needed = answers_on_file(run)
        assert present == 0 and needed > 0
        run_benchmark(run)
        assert answers_on_file(run) == (needed, needed)  # what a resumed run prints before it starts
        q1_before = (results / "q1_pareto.csv").read_text()
        configs_before = pd.read_csv(results / "configs.csv")
        run_benchmark(replace(run, only=("q7",)))

    assert (results / "q1_pareto.csv").read_text() == q1_before  # not rebuilt, not emptied
    assert len(pd.read_csv(results / "q2_sleep_scaling.csv")) and len(pd.read_csv(results / "q7_latency.csv"))
    meta = json.loads((results / "meta.json").read_text())
    assert meta["answered"] == ["q1", "q2", "q7"]
    assert [r["questions"] for r in meta["invocations"]] == [["q1", "q2"], ["q7"]]
    assert set(configs_before["config_id"]) <= set(pd.read_csv(results / "configs.csv")["config_id"])
    text = (results / "summary.md").read_text()
    assert "the tables come from 2 invocations" in text  # not only the last command, which asked for q7
    assert "(q1,q2; started" in text and "(q7; started" in text
    assert "**Answer" in text.split("## Q2.")[1].split("## Q3.")[0]
    assert "**Answer (latency" in text.split("## Q7.")[1]
    k_scaling = list(results.glob("*/*/report/k_scaling.csv"))
    assert k_scaling and all(len(pd.read_csv(path)) for path in k_scaling)  # the figure keeps q2's configs


def test_a_meta_from_before_the_invocation_list_is_kept_as_the_earliest_known_command():
    from optimize.bench.earlier import invocations
    from optimize.bench.summary import _provenance

    older = {"command": "sleeptime benchmark --only q7", "started_at": "t0", "finished_at": "t1",
             "only": ["q7"]}
    run = SimpleNamespace(meta={"command": "sleeptime benchmark --only q1", "started_at": "t2"}, only=("q1",),
                          invocation="abc")
    history = invocations(run, older)
    assert [r["command"] for r in history] == [older["command"], run.meta["command"]]
    assert invocations(run, {"invocations": history}) == history  # the same invocation writing again
    header = "\n".join(_provenance({"invocations": history, "answered": ["q7", "q1"]}))
    assert "at least 2 invocations" in header and "are not recorded" in header
    stopped = [{"command": "a", "started_at": "t0", "finished_at": None}, {"command": "b", "started_at": "t"}]
    header = "\n".join(_provenance({"invocations": stopped}))
    assert "stopped before the end" in header and header.endswith("not finished yet)")


def _config(config_id, *, cap, accuracy, tokens, truncation, verbosity=0, use_sleep=True):
    return {"config_id": config_id, "use_sleep": use_sleep, "test_verbosity": verbosity,
            "test_max_tokens": cap, "sleep_samples": 1, "accuracy": accuracy, "mean_test_tokens": tokens,
            "cost_per_query": tokens * 10 + 30, "truncation_rate": truncation}


def test_a_search_cap_no_answer_reached_is_the_grid_configuration_not_a_find():
    """A search-vs-grid run: sleep v0 at a 128-token cap (answers ~10 tokens) was reported as found
    by the search alone, though it is the grid's sleep v0 (its slightly cheaper re-made notes put it on the
    front); a cap that did cut answers off is a different configuration."""
    from optimize.bench.tables import search_table
    from programs.budget import Budget

    grid = pd.DataFrame([
        _config("grid-v0", cap=None, accuracy=0.29, tokens=10.4, truncation=0.0),
        _config("grid-v2", cap=None, accuracy=0.26, tokens=80.0, truncation=0.0, verbosity=2),
    ])
    search = pd.DataFrame([
        _config("s-v0-128", cap=128, accuracy=0.286, tokens=10.3, truncation=0.0),
        _config("s-v2-16", cap=16, accuracy=0.35, tokens=15.0, truncation=0.6, verbosity=2),
    ])
    table = search_table(grid, search, Budget()).set_index("config_id")
    assert bool(table.loc["s-v0-128", "in_grid"]) and not table.loc["s-v0-128", "found_by_search_only"]
    assert not table.loc["s-v2-16", "in_grid"] and table.loc["s-v2-16", "found_by_search_only"]
