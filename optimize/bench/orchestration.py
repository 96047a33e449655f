"""Running a benchmark: evaluate the groups each asked question needs, question by question, for every
(dataset, test model) part; rebuild the question tables and ``summary.md`` after each question, so the
first question's answer exists before the later ones start.

Layout of a results directory (``docs/benchmarks/<name>/`` for committed sizes, else
``mlruns/results/<name>/``)::

    <dataset>/<test-model>/rows/<config id>.jsonl      raw per-question rows, one file per configuration,
                                                       appended as questions finish (what a resume reads)
    <dataset>/<test-model>/latency/<id>-{warm,cold}.jsonl (+ -calls.jsonl)   question 7's timed rows
    <dataset>/<test-model>/<group>/                    the group's configs/frames (rebuilt from the rows)
    <dataset>/<test-model>/report/                     the report's figures
    q1_pareto.csv .. q7_latency.csv, configs.csv, meta.json, summary.md

The config id is a hash of the Budget that ran (:func:`optimize.bench.tables.canonical_id`), so the same
configuration maps to the same file on every machine and a copy of ``rows/`` resumes the run.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from optimize.bench.earlier import (
    concat_frames,
    configs_on_file,
    earlier_configs,
    earlier_meta,
    in_part_order,
    invocations,
    other_parts,
    table_on_file,
    with_earlier_parts,
)
from optimize.bench.errors import BenchmarkError
from optimize.bench.presets import Preset, base_budget, preset_budgets, search_space
from optimize.bench.questions import BY_ID, QUESTION_IDS, QUESTIONS
from optimize.bench.selection import today_configs
from optimize.bench.tables import PartResults, canonical_budget, canonical_id
from optimize.reports.analysis import (
    PRICE_RATIO,
    with_cluster_intervals,
    with_failure_columns,
    with_total_tokens,
)

# A rows file's configuration and server settings (``<rows>.jsonl.config.json``) travel with it: a new
# machine checks them, and paired comparisons read the settings.
COMMITTED_PATTERNS = ("*/*/rows/*.jsonl", "*/*/rows/*.config.json", "*/*/latency/*.jsonl",
                      "*/*/latency/*.config.json", "*/*/reruns/*.jsonl", "*/*/reruns/*.config.json",
                      "*/*/compiled/**", "*/*/report/*.png", "q*.csv", "configs.csv", "meta.json",
                      "summary.md", "run_to_run.*")


@dataclass
class BenchmarkRun:
    """Everything one benchmark invocation needs; :func:`run_benchmark` fills the results directory.

    ``heldout`` is a second held-out set (e.g. generated from GSM-Symbolic templates) answered like the
    test split, under the dataset name ``heldout_name``.

    Example:
        >>> from dataclasses import replace
        >>> from optimize.bench.presets import PRESETS
        >>> run = BenchmarkRun(test_examples=[], train_examples=[], preset=PRESETS["quick"],
        ...     test_models=["local:qwen2.5-coder-0.5b"], sleep_model="local:qwen2.5-coder-1.5b",
        ...     results_dir=Path("mlruns/results/bench"))
        >>> run.only, run.invocation != replace(run).invocation  # every copy is an invocation of its own
        (('q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7'), True)

    A real run (it loads the models and answers every question)::

        run = BenchmarkRun(test_examples=spread_contexts(load_examples("ours", split="test"), 3),
                           train_examples=load_examples("ours", split="train")[:4], preset=PRESETS["quick"],
                           test_models=["local:qwen2.5-coder-0.5b"], sleep_model="local:qwen2.5-coder-1.5b",
                           results_dir=Path("mlruns/results/bench"))
        run_benchmark(run)
    """

    test_examples: list
    train_examples: list
    preset: Preset
    test_models: list[str]
    sleep_model: str
    results_dir: Path
    name: str = "benchmark"
    only: tuple[str, ...] = QUESTION_IDS
    api_base: str | None = None
    store: Any = None
    tracker: Any = False
    storage: str | None = None
    evaluator: Callable | None = None
    lm_options: dict | None = None
    compile_tracking: bool = False
    progress: bool = True
    meta: dict = None  # type: ignore[assignment]
    heldout: list | None = None
    heldout_name: str = "gsm-symbolic"
    threads: int = 1
    dataset_name: str = "ours"
    # Tells this invocation's rewrites of meta.json apart from earlier invocations' (a new one per run,
    # also for dataclasses.replace copies).
    invocation: str = field(default_factory=lambda: uuid.uuid4().hex[:12], init=False)


@dataclass
class Part:
    """One dataset x test model: where its files go and what it has run.

    Example:
        >>> examples = [{"context_id": "c1"}, {"context_id": "c1"}, {"context_id": "c2"}]
        >>> part = Part(dataset="ours", examples=examples, test_model="local:qwen2.5-coder-0.5b",
        ...             model_dir=Path("results/ours/qwen"), base=None, budgets={}, evaluator=print)
        >>> part.label, part.n_contexts
        ('ours-local-qwen2.5-coder-0.5b', 2)
    """

    dataset: str
    examples: list
    test_model: str
    model_dir: Path
    base: Any
    budgets: dict[str, list]
    evaluator: Callable
    ran: dict[str, pd.DataFrame] = field(default_factory=dict)
    measured: dict[str, tuple] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.dataset}-{model_label(self.test_model)}"

    @property
    def n_contexts(self) -> int:
        return len({e.get("context_id") for e in self.examples})


def model_label(spec: str) -> str:
    """A folder-safe name of a model spec (never including an @URL)."""
    name = spec.split("@", 1)[0]
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-")


def shared_rows_evaluator(evaluator: Callable, rows_dir: Path, base) -> Callable:
    """Send every group's rows for a configuration to one file (named by :func:`canonical_id`), so a
    configuration is answered once however many groups or search trials ask for it."""

    def evaluate_shared(budget, examples, *, results_path=None, store=None, ledger=None):
        budget = canonical_budget(budget, base)  # the rows file records the Budget that wrote it
        target = rows_dir / f"{canonical_id(budget, base)}.jsonl" if results_path is not None else None
        return evaluator(budget, examples, results_path=target, store=store, ledger=ledger)

    return evaluate_shared


def machine_facts() -> dict[str, Any]:
    cpu, ram = platform.processor() or "unknown", None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "ram": ram, "platform": platform.platform(),
            "python": platform.python_version()}


def _frames(model_dir: Path) -> dict[str, pd.DataFrame]:
    """Per-example rows of every configuration of one part, by config id: the groups' frames, then the
    rows files of configurations with none (the frames stay on the machine that ran the group; a resumed
    run elsewhere, or one of other questions, has only the committed rows)."""
    from optimize.reports.rows import read_results

    frames: dict[str, pd.DataFrame] = {}
    for path in sorted(model_dir.glob("*/frames/*.csv")):
        frames.setdefault(path.stem, pd.read_csv(path))
    for path in sorted((model_dir / "rows").glob("*.jsonl")):
        if path.stem not in frames:
            frames[path.stem] = pd.DataFrame(read_results(path))
    return frames


# -- the groups ----------------------------------------------------------------------------------------------
SWEEPS = ("pareto", "scaling", "strategies")
"""Groups evaluated as a sweep of fixed Budgets, whose rows files a resumed run counts as answered."""


def _sweep(run: BenchmarkRun, part: Part, group: str, budgets: list) -> pd.DataFrame:
    from optimize.experiments.sweep import run_sweep

    return run_sweep(
        part.examples,
        budgets=budgets,
        name=f"{run.name}-{part.label}-{group}",
        grid=group,
        questions_per_context=len(part.examples) / max(part.n_contexts, 1),
        price_ratio=PRICE_RATIO,
        store=run.store,
        tracker=run.tracker,
        split="test",
        evaluator=part.evaluator,
        results_dir=part.model_dir / group,
        progress=run.progress,
    )


def _compile(run: BenchmarkRun, budget, out_dir: Path) -> str:
    from optimize.experiments.compile import compile_program

    if not (out_dir / "program.json").exists():
        compile_program(
            budget,
            list(run.train_examples),
            optimizer="bootstrap",
            max_demos=run.preset.compile_max_demos,
            api_base=run.api_base,
            out_dir=out_dir,
            track=run.compile_tracking,
            progress=run.progress,
            data={"source": "ours", "split": "train", "n": len(run.train_examples)},
            lm_options=run.lm_options,
        )
    return str(out_dir.resolve())


def _search(run: BenchmarkRun, part: Part) -> pd.DataFrame:
    from optuna.trial import TrialState

    from optimize.experiments.search import run_search
    from optimize.experiments.study import open_study

    n_per_context = len(part.examples) / max(part.n_contexts, 1)
    study_name = f"{run.name}-{part.label}-search"
    storage = run.storage or f"sqlite:///{(Path(run.results_dir) / 'optuna.db').resolve()}"
    study = open_study(storage, study_name, questions_per_context=n_per_context, price_ratio=PRICE_RATIO)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if run.preset.search_trials - done > 0:
        run_search(
            part.examples,
            n_trials=run.preset.search_trials - done,
            storage=storage,
            study_name=study_name,
            questions_per_context=n_per_context,
            price_ratio=PRICE_RATIO,
            space=search_space(run.preset, part.test_model, run.sleep_model),
            store=run.store,
            tracker=run.tracker,
            split="test",
            evaluator=part.evaluator,
            results_dir=part.model_dir / "search",
            progress=run.progress,
        )
    return table_on_file(part.model_dir / "search" / "configs.csv")


def _latency(run: BenchmarkRun, part: Part) -> None:
    from optimize.bench.latency import TEST_ONLY_MODE, cold_cache_supported, measure_latency
    from optimize.experiments.runner import budget_id

    sleep, *test_only = part.budgets["latency"]
    # Timed one request at a time, apart from the grid (whose rows may have run several at a time): the
    # sleep-time program with the prompt cache warm and cold, and test-time only (warm) on the same questions.
    timed = [("warm", sleep, "warm")]
    timed += [("cold", sleep, "cold")] if cold_cache_supported(part.test_model) else []
    timed += [(TEST_ONLY_MODE, budget, "warm") for budget in test_only]
    for key, budget, mode in timed:
        _, calls = measure_latency(budget, part.examples, mode=mode, out_dir=part.model_dir / "latency",
                                   store=run.store, api_base=run.api_base, lm_options=run.lm_options,
                                   progress=run.progress)
        part.measured[key] = (budget_id(budget), calls)


def run_group(run: BenchmarkRun, part: Part, group: str) -> None:
    """Evaluate one group for one part (once per process; finished rows are reused from ``rows/``)."""
    if group in part.ran:
        return
    print(f"== {part.dataset} / {part.test_model}: {group} ({len(part.examples)} questions, "
          f"{part.n_contexts} contexts)", flush=True)
    if group in SWEEPS:
        budgets = part.budgets[group]
        # A size that lists no sleep strategies has an empty group: nothing to sweep.
        part.ran[group] = _sweep(run, part, group, budgets) if budgets else pd.DataFrame()
    elif group == "compiled":
        compiled = []
        for budget in part.budgets["compiled"]:
            path = _compile(run, budget, part.model_dir / "compiled" / f"v{budget.test_verbosity}")
            compiled += [budget, budget.replace(compiled=path)]
        part.ran[group] = _sweep(run, part, group, compiled)
    elif group == "search":
        part.ran[group] = _search(run, part)
    elif group == "latency":
        _latency(run, part)
        part.ran[group] = pd.DataFrame()
    else:
        raise BenchmarkError(f"unknown evaluation group {group!r}")


# -- tables --------------------------------------------------------------------------------------------------
def part_results(run: BenchmarkRun, part: Part) -> PartResults:
    """What a part has measured, with clustered intervals and failure rates on every configuration."""
    from optimize.experiments.runner import budget_id

    grid = concat_frames([part.ran.get(g, pd.DataFrame()) for g in (*SWEEPS, "compiled")])
    if len(grid):
        grid = grid.drop_duplicates(subset=["config_id"]).reset_index(drop=True)
    search = part.ran.get("search", pd.DataFrame())
    everything = concat_frames([grid.assign(origin="grid") if len(grid) else grid,
                          search.assign(origin="search") if len(search) else search])
    frames = _frames(part.model_dir)
    if len(everything):
        everything = everything.drop_duplicates(subset=["config_id"]).reset_index(drop=True)
        if "compiled" not in everything:
            everything["compiled"] = None
        everything = with_failure_columns(with_cluster_intervals(everything, frames), frames)
        everything = with_total_tokens(everything, frames)
    else:
        everything = pd.DataFrame(columns=["config_id", "compiled"])
    from optimize.bench.repeats import runs_on_file

    server, reruns = runs_on_file(part.model_dir)  # paired tables take runs made under equal settings
    return PartResults(configs=everything, frames=frames, preset=run.preset,
                       pareto_ids={budget_id(b) for b in part.budgets["pareto"]}, grid=grid, search=search,
                       base=part.base, measured=part.measured, server=server, reruns=reruns,
                       model_dir=part.model_dir, dataset=part.dataset)


def write_tables(run: BenchmarkRun, parts: Sequence[Part], answered: Sequence[str]) -> Path:
    """Write every question's table (answered ones from the parts, others empty), ``configs.csv``,
    ``meta.json`` and ``summary.md``."""
    from optimize.bench.summary import write_summary

    results = Path(run.results_dir)
    # Tables this invocation has not answered (yet, or at all: --only) keep what an earlier run wrote.
    fresh = set(answered)
    earlier = earlier_meta(results)
    answered = list(dict.fromkeys([*earlier.get("answered", []), *answered]))
    tables: dict[str, list] = {q.id: [] for q in QUESTIONS}
    configs = []
    for part in parts:
        measured = part_results(run, part)
        tag = {"dataset": part.dataset, "test_model": part.test_model}
        if len(measured.configs):
            configs.append(measured.configs.assign(**tag))
        for qid in fresh:
            table = BY_ID[qid].build(measured)
            if len(table):
                tables[qid].append(with_failure_columns(table, measured.frames).assign(**tag))
    here = {(part.dataset, part.test_model) for part in parts}
    for q in QUESTIONS:
        if q.id in fresh or not (results / q.table).exists():
            # An invocation of fewer parts (--test-models, no --heldout) rewrites only its own lines.
            on_file = table_on_file(results / q.table)
            table = in_part_order(concat_frames([other_parts(on_file, here), *tables[q.id]]), on_file)
            table.to_csv(results / q.table, index=False)
    concat_frames([*configs, earlier_configs(results, configs)]).to_csv(results / "configs.csv", index=False)
    meta = with_earlier_parts(_meta(run, parts, answered), earlier)
    meta["invocations"] = invocations(run, earlier)
    (results / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    return write_summary(results)


def _meta(run: BenchmarkRun, parts: Sequence[Part], answered: Sequence[str]) -> dict[str, Any]:
    meta = {
        **(run.meta or {}),
        "name": run.name,
        "preset": asdict(run.preset),
        "test_models": run.test_models,
        "sleep_model": run.sleep_model,
        "only": list(run.only),
        "answered": list(answered),
        "datasets": {},
        "n_train": len(run.train_examples),
        "price_ratio": PRICE_RATIO,
        "threads": run.threads,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for part in parts:
        meta["datasets"][part.dataset] = {
            "n_questions": len(part.examples),
            "n_contexts": part.n_contexts,
            "n_templates": len({str(e.get("template_id")) for e in part.examples}),
        }
    first = parts[0] if parts else None
    if first is not None:  # the main dataset's counts, where a one-dataset summary reads them
        meta.update({"n_questions": len(first.examples), "n_contexts": first.n_contexts,
                     "context_ids": sorted({str(e.get("context_id")) for e in first.examples})})
    meta.setdefault("machine", machine_facts())
    return meta


def _gitignore(results: Path, third_party: Sequence[str] = ()) -> None:
    """A committed size keeps only the rows, tables and summary in git (not frames, stores, databases).

    Rows of ``third_party`` datasets (generated from templates we may read but not publish, such as
    GSM-Symbolic) hold their questions and answers: they stay out of git; their tables and summary do not.
    The datasets an earlier run excluded stay excluded: a later run without ``--heldout`` leaves their rows
    on disk, and dropping the exclusion would make them committable.
    """
    path = results / ".gitignore"
    excluded = re.findall(r"^# (\S+): instances of third-party templates", path.read_text(), re.MULTILINE) \
        if path.exists() else []
    lines = ["# written by sleeptime benchmark: commit the raw rows, tables and summary only", "*", "!*/",
             "!.gitignore", *[f"!{p if '/' in p else '/' + p}" for p in COMMITTED_PATTERNS]]
    for name in dict.fromkeys([*excluded, *third_party]):
        lines += [f"# {name}: instances of third-party templates are never committed",
                  f"/{name}/*/rows/", f"/{name}/*/latency/", f"/{name}/*/reruns/"]
    path.write_text("\n".join(lines) + "\n")


# -- the run -------------------------------------------------------------------------------------------------
def make_parts(run: BenchmarkRun) -> list[Part]:
    """Every (dataset, test model) part of a run, in the order they are answered."""
    from optimize.experiments.runner import evaluate_budget

    base_eval = run.evaluator or (
        lambda b, ex, **kw: evaluate_budget(b, ex, api_base=run.api_base, progress=run.progress,
                                            num_threads=run.threads, **kw)
    )
    datasets = [(run.dataset_name, list(run.test_examples))]
    if run.heldout:
        datasets.append((run.heldout_name, list(run.heldout)))
    parts = []
    for dataset, examples in datasets:
        for test_model in run.test_models:
            model_dir = Path(run.results_dir) / dataset / model_label(test_model)
            base = base_budget(run.preset, test_model, run.sleep_model)
            parts.append(Part(dataset=dataset, examples=examples, test_model=test_model, model_dir=model_dir,
                              base=base, budgets=preset_budgets(run.preset, test_model, run.sleep_model),
                              evaluator=shared_rows_evaluator(base_eval, model_dir / "rows", base)))
    return parts


def answers_on_file(run: BenchmarkRun) -> tuple[int, int]:
    """(answers already in the rows files, answers the run's grids need): how much of the estimate a resumed
    run skips. Only the sweep groups (:data:`SWEEPS`) are counted; rows whose LM call failed count as
    missing (they are retried), unparsed replies as answered."""
    from optimize.reports.metrics import failed_rows
    from optimize.reports.rows import read_results

    groups = {g for qid in run.only for g in BY_ID[qid].groups} & set(SWEEPS)
    present = needed = 0
    for part in make_parts(run):
        wanted = {str(e.get("question_id")) for e in part.examples}
        ids = {canonical_id(b, part.base) for g in sorted(groups) for b in part.budgets[g]}
        for config_id in ids:
            rows = pd.DataFrame(read_results(part.model_dir / "rows" / f"{config_id}.jsonl"))
            if len(rows):
                present += len(set(rows.loc[~failed_rows(rows), "question_id"].astype(str)) & wanted)
            needed += len(wanted)
    return present, needed


def run_benchmark(run: BenchmarkRun) -> Path:
    """Answer every asked question for every part, in the order of ``run.only``; returns ``summary.md``."""
    unknown = sorted(set(run.only) - set(QUESTION_IDS))
    if unknown:
        raise BenchmarkError(f"unknown question(s) {unknown} in --only; use a comma list of {QUESTION_IDS}")
    if not run.test_examples:
        raise BenchmarkError("no held-out examples; check --contexts (at least 1)")
    results = Path(run.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    if run.preset.committed:
        _gitignore(results, third_party=[run.heldout_name] if run.heldout else [])
    parts = make_parts(run)
    answered: list[str] = []
    for qid in run.only:
        for part in parts:
            for group in BY_ID[qid].groups:
                run_group(run, part, group)
        answered.append(qid)
        summary = write_tables(run, parts, answered)
        print(f"answered {qid}: {summary}", flush=True)
    # The figures show every configuration on file (configs.csv, just merged with what earlier runs of the
    # folder measured), read back as `report --results` reads it, so all rows have one type.
    on_file = configs_on_file(results)
    if not {"dataset", "test_model", "config_id"} <= set(on_file.columns):
        on_file = pd.DataFrame(columns=["dataset", "test_model", "config_id"])
    for part in parts:
        measured = part_results(run, part)
        mine = (on_file["dataset"] == part.dataset) & (on_file["test_model"] == part.test_model)
        # test_model stays: it is a budget field as well as the part's tag.
        configs = on_file[mine & on_file["config_id"].isin(measured.frames)].drop(columns=["dataset"])
        configs = configs.reset_index(drop=True)
        if not len(configs):
            configs = measured.configs
        # The four views set notes against test-time only; the other strategies are in question 2's table
        # (drawn here, compute k=1 would sit on the k=1 notes' points).
        configs = today_configs(configs) if len(configs) else configs
        if len(configs) and "accuracy" in configs:
            from optimize.reports.figures import write_report

            examples = concat_frames(list(measured.frames.values()))
            try:
                write_report(configs, examples, part.model_dir / "report")
                if "q6" in answered and len(measured.search):
                    from optimize.reports.figures import plot_search_vs_grid

                    plot_search_vs_grid(BY_ID["q6"].build(measured),
                                        part.model_dir / "report" / "search_vs_grid.png")
            except Exception as exc:  # the figures are a view; the question tables are the answer
                print(f"report figures for {part.label} failed: {exc}", file=sys.stderr)
    run.meta = {**(run.meta or {}), "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
    summary = write_tables(run, parts, answered)
    if run.tracker:
        _log(run, summary)
    return summary


def _log(run: BenchmarkRun, summary: Path) -> None:
    results = Path(run.results_dir)
    parent = run.tracker.start_parent(
        f"benchmark-{run.name}",
        kind="benchmark",
        tags={"sleeptime.benchmark": run.name},
        params={"size": (run.meta or {}).get("size"), "test_models": run.test_models,
                "sleep_model": run.sleep_model},
        resume_key=f"benchmark:{run.name}",
    )
    tables = [results / q.table for q in QUESTIONS]
    for path in [summary, results / "configs.csv", results / "meta.json", *tables]:
        run.tracker.log_file(parent, path, "benchmark")
    run.tracker.finish(parent, "FINISHED")


def pilot_from_rows(run: BenchmarkRun) -> dict | None:
    """Paired sleep-minus-test-only differences at verbosity 0 from rows this run already has (a resumed or
    copied ``rows/``), as a pilot for the power estimate; None when there are none."""
    from optimize.reports.metrics import as_bool, pilot_variance
    from optimize.reports.rows import read_results

    part = make_parts(run)[0]
    sleep = next((b for b in part.budgets["pareto"] if b.use_sleep), None)
    test = next((b for b in part.budgets["pareto"] if not b.use_sleep and b.test_verbosity == 0), None)
    if sleep is None or test is None:
        return None
    paths = [part.model_dir / "rows" / f"{canonical_id(b, part.base)}.jsonl" for b in (sleep, test)]
    if not all(p.exists() for p in paths):
        return None
    a, b = ({str(r["question_id"]): r for r in read_results(p) if not r.get("error")} for p in paths)
    shared = sorted(set(a) & set(b))
    if len(shared) < 10:
        return None
    diffs = [float(as_bool(a[q]["correct"])) - float(as_bool(b[q]["correct"])) for q in shared]
    return pilot_variance(diffs, [str(a[q].get("context_id")) for q in shared])
