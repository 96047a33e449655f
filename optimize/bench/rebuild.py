"""Rewrite a committed benchmark's question tables and ``summary.md`` from its rows files, with no LM call.

A benchmark folder keeps, per (dataset, test model) part, the raw rows of every configuration
(``rows/<id>.jsonl``) and its reruns (``reruns/``, ``latency/``) with the server settings each was made
under, plus ``configs.csv``. :func:`rebuild_tables` builds each part again from those files only
(:func:`committed_part`) and rewrites the tables of the questions it is asked for. A part whose rows are not
committed (a third-party dataset such as GSM-Symbolic) keeps the lines the run wrote, unchanged. A sweep
configuration of the size whose rows are on file but not yet in ``configs.csv`` (rows seeded from a run of
the same configuration, :mod:`optimize.bench.seed`) gets the line the benchmark's sweep would write
(:func:`sweep_lines_on_file`), added to ``configs.csv``; the lines already there are kept as they are.

Run it from the repository root::

    python3 -m optimize.cli.rebuild                      # docs/benchmarks/standard, q1-q4
    python3 -m optimize.cli.rebuild --only q1,q4 --results docs/benchmarks/standard
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from optimize.bench.earlier import table_on_file

REBUILDABLE = ("q1", "q2", "q3", "q4")
"""Questions whose tables follow from rows alone (q5 needs the compiled programs' folders, q6 the search
study, q7 the timed calls)."""


def _rows(path: Path) -> pd.DataFrame:
    from optimize.reports.rows import read_results

    return pd.DataFrame(read_results(path))


def pareto_ids_on_file(configs: pd.DataFrame, preset) -> set[str]:
    """The configurations of the pareto group among ``configs``: plain (not compiled) test-time-only runs
    at the preset's verbosities and sleep-time runs of today's notes with k=1 and no rethink at its sleep
    verbosities (a ``compute`` k=1 run has the same k and rounds: it is not one of them).

    Example:
        >>> from optimize.bench.presets import PRESETS
        >>> configs = pd.DataFrame({"config_id": ["t0", "s0", "k2", "c1"],
        ...     "use_sleep": [False, True, True, True], "test_verbosity": [0, 0, 0, 0],
        ...     "sleep_samples": [None, 1, 2, 1], "sleep_rounds": [None, 0, 0, 0],
        ...     "sleep_strategy": [None, None, None, "compute"], "compiled": [None, None, None, None]})
        >>> sorted(pareto_ids_on_file(configs, PRESETS["standard"]))
        ['s0', 't0']
    """
    from optimize.bench.selection import today_configs
    from optimize.reports.metrics import as_bool

    ids = set()
    for row in today_configs(configs).to_dict("records"):
        if "compiled" in row and isinstance(row["compiled"], str) and row["compiled"]:
            continue
        verbosity = int(row["test_verbosity"])
        if not as_bool(row["use_sleep"]):
            if verbosity in preset.verbosities:
                ids.add(str(row["config_id"]))
        elif (verbosity in preset.sleep_grid and int(row.get("sleep_samples") or 1) == 1
              and int(row.get("sleep_rounds") or 0) == 0):
            ids.add(str(row["config_id"]))
    return ids


def sweep_lines_on_file(results: str | Path, dataset: str, test_model: str, preset, sleep_model: str,
                        listed: set[str], questions_per_context: float | None = None) -> pd.DataFrame:
    """``configs.csv`` lines, as the benchmark's sweep writes them (:func:`optimize.experiments.sweep.
    run_sweep` on the rows file: same summary, rounding and front), for the sweep configurations of
    ``preset`` (:data:`optimize.bench.orchestration.SWEEPS`) whose rows are on file but whose id is not in
    ``listed``; empty when there are none. No LM call: every answer is read from its rows file.
    ``questions_per_context`` defaults to the rows' own (questions over contexts)."""
    import tempfile

    from optimize.bench.orchestration import SWEEPS, model_label
    from optimize.bench.presets import base_budget, preset_budgets
    from optimize.bench.tables import canonical_budget, canonical_id
    from optimize.experiments.sweep import run_sweep
    from optimize.reports.analysis import PRICE_RATIO, with_cluster_intervals, with_failure_columns

    rows_dir = Path(results) / dataset / model_label(test_model) / "rows"
    base = base_budget(preset, test_model, sleep_model)
    groups = preset_budgets(preset, test_model, sleep_model)
    frames: dict[str, pd.DataFrame] = {}
    budgets = {}
    for budget in (b for group in SWEEPS for b in groups[group]):
        config_id = canonical_id(budget, base)
        if config_id in listed or config_id in budgets:
            continue
        frame = _rows(rows_dir / f"{config_id}.jsonl")
        if len(frame):
            budgets[config_id], frames[config_id] = canonical_budget(budget, base), frame
    if not budgets:
        return pd.DataFrame()
    first = next(iter(frames.values()))
    per_context = questions_per_context or len(first) / max(first["context_id"].nunique(), 1)

    def replay(budget, examples, **_: Any) -> pd.DataFrame:  # the rows on file are the answers
        return frames[canonical_id(budget, base)]

    with tempfile.TemporaryDirectory() as scratch:  # the sweep's own frames and tables: not kept
        configs = run_sweep(first.to_dict("records"), budgets=list(budgets.values()), name="rebuild",
                            grid="rows on file", questions_per_context=per_context, price_ratio=PRICE_RATIO,
                            tracker=False, evaluator=replay, results_dir=Path(scratch), progress=False)
    # Enriched as a run's part results are (orchestration.part_results): clustered intervals, failures.
    configs = with_failure_columns(with_cluster_intervals(configs, frames), frames)
    return configs.assign(origin="grid", dataset=dataset, test_model=test_model)


def add_sweep_lines(results: str | Path, preset) -> pd.DataFrame:
    """Add to ``results/configs.csv`` the :func:`sweep_lines_on_file` of every part its ``meta.json``
    names (the run's sleep model and test models; the questions per context of each dataset); returns the
    lines added. Every line already there keeps its text: the file is read and written as text, and a
    column the new lines bring (a Budget field added since, such as ``sleep_strategy``) is left empty on
    the old lines, which ran at its default."""
    import io
    import json

    from programs.budget import Budget

    results = Path(results)
    meta = json.loads((results / "meta.json").read_text())
    if not meta.get("sleep_model"):  # without it no configuration's id can be named
        return pd.DataFrame()
    listed = pd.read_csv(results / "configs.csv")
    parts = list(dict.fromkeys(zip(listed["dataset"], listed["test_model"], strict=True)))
    added = []
    for dataset, test_model in parts:
        counts = (meta.get("datasets") or {}).get(dataset) or {}
        per_context = counts["n_questions"] / counts["n_contexts"] if counts.get("n_contexts") else None
        mine = listed[(listed["dataset"] == dataset) & (listed["test_model"] == test_model)]
        lines = sweep_lines_on_file(results, dataset, test_model, preset, meta["sleep_model"],
                                    set(mine["config_id"].astype(str)), per_context)
        if len(lines):
            added.append(lines)
    if not added:
        return pd.DataFrame()
    new = pd.concat(added, ignore_index=True)
    keep = [*listed.columns, *[f for f in Budget().to_dict() if f not in listed.columns and f in new]]
    as_text = {"dtype": str, "keep_default_na": False}
    old = pd.read_csv(results / "configs.csv", **as_text)
    new_text = pd.read_csv(io.StringIO(new.reindex(columns=keep).to_csv(index=False)), **as_text)
    pd.concat([old, new_text], ignore_index=True).fillna("").to_csv(results / "configs.csv", index=False)
    return new


def committed_part(results: Path, dataset: str, test_model: str, preset) -> Any:
    """A :class:`optimize.bench.tables.PartResults` rebuilt from committed files only: ``configs.csv``,
    the rows files and the reruns with their server settings (no LM, no frames folder); None when the part
    has no committed rows."""
    from optimize.bench.orchestration import model_label
    from optimize.bench.repeats import runs_on_file
    from optimize.bench.tables import PartResults
    from optimize.reports.analysis import with_cluster_intervals, with_failure_columns, with_total_tokens

    model_dir = Path(results) / dataset / model_label(test_model)
    paths = sorted((model_dir / "rows").glob("*.jsonl"))
    if not paths:
        return None
    configs = pd.read_csv(Path(results) / "configs.csv")
    configs = configs[(configs["dataset"] == dataset) & (configs["test_model"] == test_model)]
    configs = configs.drop_duplicates(subset=["config_id"]).reset_index(drop=True)
    frames = {path.name[: -len(".jsonl")]: _rows(path) for path in paths}
    configs = with_total_tokens(with_failure_columns(with_cluster_intervals(configs, frames), frames), frames)
    server, reruns = runs_on_file(model_dir)
    return PartResults(configs=configs, frames=frames, preset=preset, server=server, reruns=reruns,
                       pareto_ids=pareto_ids_on_file(configs, preset), model_dir=model_dir, dataset=dataset)


def rebuild_tables(results: str | Path, preset, only: Sequence[str] = REBUILDABLE) -> Path:
    """Rewrite the tables of ``only`` under ``results`` from its committed rows, then ``summary.md``;
    returns the summary's path. Parts without committed rows keep their lines of each table. Sweep
    configurations with rows on file that ``configs.csv`` lacks are added to it first
    (:func:`add_sweep_lines`)."""
    from optimize.bench.questions import BY_ID
    from optimize.bench.summary import write_summary
    from optimize.reports.analysis import with_failure_columns

    unknown = sorted(set(only) - set(REBUILDABLE))
    if unknown:
        raise ValueError(f"cannot rebuild {unknown} from rows alone; choose from {list(REBUILDABLE)}")
    results = Path(results)
    if (results / "meta.json").exists():  # the run's sleep model names the sweep configurations' ids
        add_sweep_lines(results, preset)
    configs = pd.read_csv(results / "configs.csv")
    parts = list(dict.fromkeys(zip(configs["dataset"], configs["test_model"], strict=True)))
    for qid in only:
        question = BY_ID[qid]
        path = results / question.table
        earlier = table_on_file(path)
        pieces = []
        for dataset, test_model in parts:
            part = committed_part(results, dataset, test_model, preset)
            if part is None:  # rows not committed: the run's own lines stay
                if len(earlier):
                    kept = earlier[(earlier["dataset"] == dataset) & (earlier["test_model"] == test_model)]
                    pieces.append(kept)
                continue
            table = question.build(part)
            if len(table):
                table = with_failure_columns(table, part.frames)
                pieces.append(table.assign(dataset=dataset, test_model=test_model))
        pieces = [p for p in pieces if len(p)]
        (pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()).to_csv(path, index=False)
    return write_summary(results)
