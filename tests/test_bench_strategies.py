"""The sleep strategies inside the benchmark: the sizes' strategy Budgets are the strategies study's, no
table takes a strategy config for today's notes, question 2 pairs each strategy with notes k=1 and with
test-time only, the study's rows seed the benchmark only when they are its configuration (naming the field
otherwise), and the tables are rebuilt from seeded rows with every earlier line kept. No LM call anywhere:
building a program binds its LMs lazily, and every answer is read from a rows file."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from answer_rows import answer_rows  # beside this file

from optimize.bench.estimate import STRATEGY_SAMPLE_TOKENS, estimate_seconds, strategy_samples
from optimize.bench.presets import (
    COMPUTE_UNION_CURVE,
    LARGE_MODEL,
    PRESETS,
    SMALL_MODEL,
    SleepStrategy,
    base_budget,
    preset_budgets,
)
from optimize.bench.rebuild import pareto_ids_on_file, rebuild_tables
from optimize.bench.sections import q2 as q2_section
from optimize.bench.seed import (
    SeedRefused,
    benchmark_config,
    recorded_id,
    resume_check,
    seed_rows,
    seed_strategies,
)
from optimize.bench.selection import pick_today
from optimize.bench.tables import (
    PartResults,
    canonical_id,
    q1_table,
    q2_table,
    q3_table,
    q4_table,
    q5_table,
    q7_table,
)
from optimize.errors import ResumeMismatchError
from optimize.experiments.results_file import config_id, resume
from optimize.reports.analysis import pick

STUDY = Path("docs/benchmarks/strategies/test")
STANDARD = PRESETS["standard"]
ONE = {"slots": 1, "speculative": "none"}
DATA = {"source": "ours", "sha256": "0" * 64}


def strategy_budget(test_model: str, strategy: SleepStrategy, preset=STANDARD):
    base = base_budget(preset, test_model, LARGE_MODEL)
    return base.replace(use_sleep=True, test_verbosity=preset.k_verbosity, **strategy.budget_fields())


# -- the sizes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "test_model", "strategy"), [
    ("sleep-compute-v0", LARGE_MODEL, SleepStrategy("compute")),
    ("sleep-compute-union-v0-k2", LARGE_MODEL, SleepStrategy("compute", "union", 2)),
    ("sleep-compute-union-v0-k4", LARGE_MODEL, SleepStrategy("compute", "union", 4)),
    ("sleep-compute-union-v0-k8", LARGE_MODEL, SleepStrategy("compute", "union", 8)),
    ("sleep-compute-v0-answer-qwen2.5-coder-0.5b", SMALL_MODEL, SleepStrategy("compute")),
])
def test_the_standard_strategies_are_the_budgets_and_prompts_the_study_ran(name, test_model, strategy):
    recorded = json.loads((STUDY / f"{name}.jsonl.config.json").read_text())
    expected = benchmark_config(strategy_budget(test_model, strategy))
    assert expected["budget"] == recorded["budget"]  # sleep_max_tokens 512, test cap 256 at v0, q=8, sv=3
    assert (expected["program"], expected["prompts"]) == (recorded["program"], recorded["prompts"])


def test_the_standard_size_lists_the_union_curve_and_quick_one_program():
    assert STANDARD.sleep_strategies == COMPUTE_UNION_CURVE
    assert [s.label for s in STANDARD.sleep_strategies] == [
        "compute k=1", "compute union k=2", "compute union k=4", "compute union k=8"]
    assert PRESETS["quick"].sleep_strategies == (SleepStrategy("compute"),)
    with pytest.raises(ValueError, match="one sample has nothing to combine"):
        SleepStrategy("compute", "union", 1)
    with pytest.raises(ValueError, match="must be one of anticipate"):
        SleepStrategy("notes")  # today's notes are the scaling group's and the reference


def test_the_estimate_counts_the_programs_the_store_shares_once():
    assert strategy_samples(COMPUTE_UNION_CURVE) == {"compute": 8}  # not 1 + 2 + 4 + 8
    without = replace(STANDARD, sleep_strategies=())
    args = dict(n_questions=238, n_contexts=63, only=("q2",))
    with_them = estimate_seconds(STANDARD, [LARGE_MODEL], LARGE_MODEL, **args)
    sleep_added = with_them["sleep"] - estimate_seconds(without, [LARGE_MODEL], LARGE_MODEL, **args)["sleep"]
    prompt, generated = STRATEGY_SAMPLE_TOKENS["compute"]
    assert sleep_added == pytest.approx(63 * 8 * (prompt / 67.0 + generated / 13.0))
    quick = estimate_seconds(PRESETS["quick"], [SMALL_MODEL], LARGE_MODEL, n_questions=11, n_contexts=3)
    assert quick["total"] < 30 * 60  # the size's documented ~30 min still holds


# -- selection: a compute config is never today's notes -----------------------------------------------------
def frame(correct, *, sleep=True, tokens=10):
    return answer_rows(correct, sleep=sleep, test_completion=tokens, test_prompt=300).assign(test_seconds=1.0)


# A compute k=1 config first, with the same use_sleep, verbosity, k and rounds as today's notes k=1 and a
# higher accuracy: a pick by those fields alone takes it. The notes lines predate the strategy columns.
CONFIGS = {  # id: (use_sleep, verbosity, k, strategy, combine, correct, test tokens)
    "c1": (True, 0, 1, "compute", "agree", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1], 11),
    "c8": (True, 0, 8, "compute", "union", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 12),
    "n1": (True, 0, 1, None, None, [1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0], 10),
    "n2": (True, 0, 2, None, None, [1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0], 10),
    "t0": (False, 0, 1, None, None, [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0], 9),
    "t1": (False, 1, 1, None, None, [1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1], 90),
}


@pytest.fixture
def part() -> PartResults:
    lines, frames = [], {}
    for cid, (use_sleep, verbosity, k, strategy, combine, correct, tokens) in CONFIGS.items():
        frames[cid] = frame(correct, sleep=use_sleep, tokens=tokens)
        lines.append({"config_id": cid, "use_sleep": use_sleep, "test_verbosity": verbosity,
                      "sleep_samples": k, "sleep_rounds": 0, "sleep_strategy": strategy,
                      "sleep_combine": combine, "compiled": None,
                      "accuracy": sum(correct) / len(correct), "mean_test_tokens": float(tokens),
                      "sleep_tokens_per_context": 300.0 if use_sleep else 0.0})
    configs = pd.DataFrame(lines)
    preset = replace(STANDARD, sleep_verbosities=(0,), k_values=(1, 2),
                     sleep_strategies=(SleepStrategy("compute"), SleepStrategy("compute", "union", 8),
                                       SleepStrategy("compute", "union", 4)))
    return PartResults(configs=configs, frames=frames, preset=preset, server=dict.fromkeys(CONFIGS, ONE),
                       pareto_ids=pareto_ids_on_file(configs, preset))


def test_a_compute_config_is_never_picked_as_todays_notes(part):
    fields = {"use_sleep": True, "test_verbosity": 0, "sleep_samples": 1, "sleep_rounds": 0}
    assert pick(part.configs, **fields)["config_id"] == "c1"  # the trap: k, rounds and verbosity are shared
    assert pick_today(part.configs, **fields)["config_id"] == "n1"
    assert part.pareto_ids == {"n1", "t0", "t1"}
    assert set(q1_table(part)["sleep_config_id"]) == {"n1"}  # question 1
    assert set(q3_table(part)["sleep_config_id"]) == {"n1"}  # question 3
    assert set(q4_table(part)["sleep_config_id"]) == {"n1"}  # question 4
    assert q5_table(part)["uncompiled_accuracy"].tolist() == [0.5]  # question 5: n1's 6 of 12, not c1's 11
    q7 = q7_table(part)  # question 7's grid rows
    assert set(q7.loc[q7["mode"] == "sleep", "config_id"]) == {"n1"}
    q2 = q2_table(part)
    reference = q2[q2["versus"] == "sleep k=1, rounds=0"]
    assert set(reference["config_b"]) == {"n1"}  # question 2's reference, for notes and strategies alike
    assert set(q2.loc[q2["versus"] == "test-time only", "config_b"]) == {"t0"}
    notes = q2[q2["sleep_strategy"] == "notes"]
    assert set(notes["config_id"]) == {"n1", "n2"} and notes["sleep_combine"].isna().all()


def test_q2_pairs_each_strategy_with_notes_k1_and_test_only_and_names_those_not_run(part):
    q2 = q2_table(part)
    compute = q2[q2["sleep_strategy"] == "compute"]
    ran = compute[compute["versus"] != "not run"]
    assert sorted(zip(ran["config_id"], ran["versus"], strict=True)) == [
        ("c1", "sleep k=1, rounds=0"), ("c1", "test-time only"), ("c8", "sleep k=1, rounds=0"),
        ("c8", "test-time only")]
    k8 = ran[(ran["config_id"] == "c8") & (ran["versus"] == "sleep k=1, rounds=0")].iloc[0]
    assert (k8["sleep_combine"], k8["sleep_samples"], k8["n"]) == ("union", 8, 12)
    assert k8["difference"] == pytest.approx((12 - 6) / 12) and k8["server"] == "1 slot, speculative none"
    missing = compute[compute["versus"] == "not run"].iloc[0]
    assert (missing["sleep_samples"], missing["n"]) == (4, 0) and math.isnan(missing["difference"])
    text = "\n".join(q2_section(q2))
    assert "**Answer (k=2, rounds=0, verbosity 0, minus k=1):**" in text
    assert "- **compute union k=8, verbosity 0** (100.0%" in text and "minus test-time only v0" in text
    assert "Not run yet (no rows on file; a resumed `benchmark` run answers them): compute union k=4." in text


def test_a_q2_table_written_before_strategies_reads_as_before():
    old = pd.DataFrame({"versus": ["sleep k=1, rounds=0"], "sleep_samples": [2], "sleep_rounds": [0],
                        "test_verbosity": [0], "difference": [0.1], "ci_low": [-0.1], "ci_high": [0.3]})
    text = q2_section(old)
    assert text[0].startswith("- **Answer (k=2, rounds=0, verbosity 0, minus k=1):**")
    assert not any("Not run" in line for line in text)


# -- seeding the benchmark from the study's rows ------------------------------------------------------------
QUESTIONS = [f"q{i}" for i in range(6)]


def study_file(folder: Path, name: str, budget, *, questions=QUESTIONS, server=ONE, **changes) -> Path:
    """A rows file as `optimize evaluate` writes one: its configuration (with the settings evaluate records)
    beside it and every row carrying that configuration's id."""
    recorded = {**benchmark_config(budget), "adapter": "chat", "baseline": None, "baseline_samples": None,
                "sampler_seed": 0, "data": DATA, **changes}
    if server is not None:
        recorded["server"] = server
    rows = frame([1, 0, 1, 1, 0, 1][: len(questions)]).assign(question_id=list(questions))
    rows["config_id"] = recorded_id(recorded)
    path = folder / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_json(path, orient="records", lines=True)
    Path(f"{path}.config.json").write_text(json.dumps(recorded))
    return path


def test_seeded_rows_carry_the_benchmarks_configuration_and_resume_without_a_call(tmp_path):
    budget = strategy_budget(LARGE_MODEL, SleepStrategy("compute", "union", 8))
    source = study_file(tmp_path / "study", "k8", budget)
    target = tmp_path / "bench" / "rows" / f"{canonical_id(budget, budget)}.jsonl"
    # A verbatim copy would be refused by the benchmark's resume: evaluate records more settings.
    target.parent.mkdir(parents=True)
    for suffix in ("", ".config.json"):
        Path(f"{target}{suffix}").write_text(Path(f"{source}{suffix}").read_text())
    with pytest.raises(ResumeMismatchError, match="fields in only one of them: adapter, baseline"):
        resume(target, QUESTIONS, config=benchmark_config(budget), server=ONE, retry_errors=True)
    for suffix in ("", ".config.json"):
        Path(f"{target}{suffix}").unlink()
    assert seed_rows(source, target, budget, question_ids=QUESTIONS, data=DATA) == "seeded 6 rows (6 new)"
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert {row["config_id"] for row in rows} == {config_id(benchmark_config(budget))}
    written = json.loads(Path(f"{target}.config.json").read_text())
    assert written["server"] == ONE and written["seeded_from"]["rows"] == str(source)
    assert resume_check(budget, target, QUESTIONS) == (6, 0)  # every question answered: nothing to call
    assert seed_rows(source, target, budget, question_ids=QUESTIONS, data=DATA) == "already on file: 6 rows"


@pytest.mark.parametrize(("changes", "field"), [
    ({"prompts": "another-prompt-set"}, "prompts: 'another-prompt-set' in the rows"),
    ({"sampler_seed": 3}, "sampler_seed: 3 in the rows, 0 in the benchmark"),
    ({"adapter": "plain"}, "adapter: 'plain' in the rows, 'chat' in the benchmark"),
    ({"data": {"source": "ours", "sha256": "1" * 64}}, "data: "),
    ({"baseline": "majority"}, "baseline: 'majority' in the rows"),
])
def test_a_study_file_of_another_configuration_is_refused_naming_the_field(tmp_path, changes, field):
    budget = strategy_budget(LARGE_MODEL, SleepStrategy("compute"))
    source = study_file(tmp_path, "k1", budget, **changes)
    target = tmp_path / "rows" / "x.jsonl"
    with pytest.raises(SeedRefused, match="not the benchmark's configuration") as refused:
        seed_rows(source, target, budget, question_ids=QUESTIONS, data=DATA)
    assert field in str(refused.value) and not target.exists()


def test_a_budget_field_that_differs_is_named(tmp_path):
    budget = strategy_budget(LARGE_MODEL, SleepStrategy("compute"))
    source = study_file(tmp_path, "k1", budget.replace(test_max_tokens=512))
    with pytest.raises(SeedRefused, match="budget.test_max_tokens: 512 in the rows, 256 in the benchmark"):
        seed_rows(source, tmp_path / "x.jsonl", budget, question_ids=QUESTIONS, data=DATA)


def test_rows_without_settings_of_other_questions_or_over_other_answers_are_refused(tmp_path):
    budget = strategy_budget(LARGE_MODEL, SleepStrategy("compute"))
    kwargs = dict(question_ids=QUESTIONS, data=DATA)
    unrecorded = study_file(tmp_path / "a", "k1", budget, server=None)
    with pytest.raises(SeedRefused, match="server settings"):
        seed_rows(unrecorded, tmp_path / "a.jsonl", budget, **kwargs)
    dev = study_file(tmp_path / "b", "k1", budget, questions=["dev-1", "dev-2"])
    with pytest.raises(SeedRefused, match="questions the benchmark does not ask"):
        seed_rows(dev, tmp_path / "b.jsonl", budget, **kwargs)
    source = study_file(tmp_path / "c", "k1", budget)
    target = tmp_path / "c.jsonl"
    seed_rows(source, target, budget, **kwargs)
    lines = target.read_text().splitlines()
    changed = json.loads(lines[0]) | {"correct": not json.loads(lines[0])["correct"]}
    target.write_text("\n".join([json.dumps(changed), *lines[1:]]) + "\n")
    with pytest.raises(SeedRefused, match="already holds 1 answer"):
        seed_rows(source, target, budget, **kwargs)


def test_a_grown_study_file_adds_its_new_rows(tmp_path):
    budget = strategy_budget(SMALL_MODEL, SleepStrategy("compute"))
    target = tmp_path / "rows.jsonl"
    seed_rows(study_file(tmp_path / "s", "k1", budget, questions=QUESTIONS[:3]), target, budget,
              question_ids=QUESTIONS, data=DATA)
    assert resume_check(budget, target, QUESTIONS) == (3, 3)  # a resumed run answers the other three
    grown = study_file(tmp_path / "s", "k1", budget)
    assert seed_rows(grown, target, budget, question_ids=QUESTIONS, data=DATA) == "seeded 6 rows (3 new)"


TWO = (SleepStrategy("compute"), SleepStrategy("compute", "union", 8))


def test_each_configuration_is_seeded_from_the_one_study_file_that_names_it(tmp_path):
    preset = replace(STANDARD, sleep_strategies=TWO)
    study = tmp_path / "study"
    study_file(study, "sleep-compute-v0", strategy_budget(LARGE_MODEL, SleepStrategy("compute")))
    agreement_k8 = strategy_budget(LARGE_MODEL, SleepStrategy("compute", "agree", 8))
    study_file(study, "sleep-compute-v0-k8", agreement_k8)
    examples = [{"question_id": q} for q in QUESTIONS]
    results = seed_strategies(study, tmp_path / "bench", preset, LARGE_MODEL, [LARGE_MODEL], examples, DATA)
    assert [(r.label, r.status) for r in results] == [
        ("compute k=1", "seeded 6 rows (6 new)"),
        ("compute union k=8", "no rows in the study")]  # agreement k=8 names another configuration
    study_file(study, "copy-of-k1", strategy_budget(LARGE_MODEL, SleepStrategy("compute")))
    again = seed_strategies(study, tmp_path / "bench", preset, LARGE_MODEL, [LARGE_MODEL], examples, DATA)
    assert again[0].refused and "2 files name it" in again[0].status


# -- rebuilding the tables from seeded rows -----------------------------------------------------------------
def test_the_rebuild_adds_the_seeded_configurations_and_keeps_every_earlier_line(tmp_path):
    preset = replace(STANDARD, sleep_strategies=TWO)
    base = base_budget(preset, LARGE_MODEL, LARGE_MODEL)
    groups = preset_budgets(preset, LARGE_MODEL, LARGE_MODEL)
    rows_dir = tmp_path / "ours" / "local-qwen2.5-coder-1.5b" / "rows"
    rows_dir.mkdir(parents=True)
    notes, test_only = groups["scaling"][0], groups["scaling"][-1]
    lines = []
    for budget, correct in ((notes, [1, 0, 1, 0, 1, 0]), (test_only, [0, 0, 1, 0, 0, 0])):
        cid = canonical_id(budget, base)
        rows = frame(correct, sleep=budget.use_sleep)
        rows.to_json(rows_dir / f"{cid}.jsonl", orient="records", lines=True)
        (rows_dir / f"{cid}.jsonl.config.json").write_text(json.dumps({"server": ONE}))
        lines.append({"config_id": cid, "use_sleep": budget.use_sleep, "test_verbosity": 0,
                      "test_max_tokens": None, "sleep_samples": 1, "sleep_rounds": 0, "compiled": None,
                      "n": 6, "origin": "grid",
                      "accuracy": sum(correct) / 6, "mean_test_tokens": 10.0,
                      "sleep_tokens_per_context": 150.0 if budget.use_sleep else 0.0, "dataset": "ours",
                      "test_model": LARGE_MODEL})
    pd.DataFrame(lines).to_csv(tmp_path / "configs.csv", index=False)
    counts = {"n_questions": 6, "n_contexts": 3, "n_templates": 3}
    (tmp_path / "meta.json").write_text(json.dumps({"name": "tiny", "sleep_model": LARGE_MODEL,
                                                    "datasets": {"ours": counts}}))
    before = (tmp_path / "configs.csv").read_text().splitlines()
    compute = groups["strategies"][0]
    target = rows_dir / f"{canonical_id(compute, base)}.jsonl"
    source = study_file(tmp_path / "study", "k1", compute)
    seed_rows(source, target, compute, question_ids=QUESTIONS, data=DATA)
    rebuild_tables(tmp_path, preset, only=("q2",))
    after = pd.read_csv(tmp_path / "configs.csv", dtype=str, keep_default_na=False)
    old = pd.read_csv(tmp_path / "configs.csv", dtype=str, keep_default_na=False).iloc[: len(before) - 1]
    assert old[before[0].split(",")].to_csv(index=False).splitlines() == before  # earlier lines, same text
    added = after.iloc[len(before) - 1:]
    assert added[["config_id", "sleep_strategy", "n", "origin"]].values.tolist() == [
        [canonical_id(compute, base), "compute", "6", "grid"]]
    q2 = pd.read_csv(tmp_path / "q2_sleep_scaling.csv")
    assert set(q2.loc[q2["sleep_strategy"] == "compute", "versus"]) == {
        "sleep k=1, rounds=0", "test-time only", "not run"}
    rebuild_tables(tmp_path, preset, only=("q2",))  # a second rebuild adds nothing
    assert len(pd.read_csv(tmp_path / "configs.csv")) == len(after)


def test_the_committed_standard_run_reads_the_studys_rows_in_q2():
    q2 = pd.read_csv("docs/benchmarks/standard/q2_sleep_scaling.csv")
    mine = q2[(q2["test_model"] == LARGE_MODEL) & (q2["sleep_strategy"] == "compute")]
    k8 = mine[(mine["sleep_samples"] == 8) & (mine["versus"] == "sleep k=1, rounds=0")].iloc[0]
    # BENCHMARKS.md's union k=8 over notes k=1, both at 1 slot: +11.3 [+5.8, +17.1]
    assert (round(100 * k8["difference"], 1), round(100 * k8["ci_low"], 1)) == (11.3, 5.8)
    assert k8["b_rows_from"] == "latency/edfce045fa52-warm.jsonl"
    configs = pd.read_csv("docs/benchmarks/standard/configs.csv")
    q1 = pd.read_csv("docs/benchmarks/standard/q1_pareto.csv")
    compute_ids = set(configs.loc[configs["sleep_strategy"] == "compute", "config_id"])
    # compute k=1 and union k=2, 4, 8 for both answerers
    assert len(compute_ids) == 8 and not compute_ids & set(q1["sleep_config_id"])


def test_the_seed_command_seeds_reports_and_fails_on_a_refusal(tmp_path, capsys):
    from optimize.cli.seed import main
    from optimize.data.loaders import load_examples
    from optimize.experiments.adapter_runs import data_identity

    questions = [str(e.get("question_id")) for e in load_examples("ours", split="test")]
    compute = strategy_budget(LARGE_MODEL, SleepStrategy("compute"))
    study = tmp_path / "study"
    study_file(study, "sleep-compute-v0", compute, questions=questions[:6], data=data_identity("ours"))
    args = ["--study", str(study), "--results", str(tmp_path / "bench"), "--test-models", LARGE_MODEL]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "compute k=1 (5fb0c3fb9488) from " in out and "seeded 6 rows (6 new)" in out
    assert f"{LARGE_MODEL} compute k=1: 6 / {len(questions) - 6}" in out  # the rest a resumed run answers
    assert f"{LARGE_MODEL} compute union k=8: 0 / {len(questions)}" in out
    study_file(study, "sleep-compute-union-v0-k8", strategy_budget(LARGE_MODEL, COMPUTE_UNION_CURVE[-1]),
               questions=questions[:6], data=data_identity("ours"), sampler_seed=7)
    assert main(args) == 2
    assert "refused: " in capsys.readouterr().out
