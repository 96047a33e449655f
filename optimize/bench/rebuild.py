"""Rewrite a committed benchmark's question tables and ``summary.md`` from its rows files, with no LM call.

A benchmark folder keeps, per (dataset, test model) part, the raw rows of every configuration
(``rows/<id>.jsonl``) and its reruns (``reruns/``, ``latency/``) with the server settings each was made
under, plus ``configs.csv``. :func:`rebuild_tables` builds each part again from those files only
(:func:`committed_part`) and rewrites the tables of the questions it is asked for. A part whose rows are not
committed (a third-party dataset such as GSM-Symbolic) keeps the lines the run wrote, unchanged.

Run it from the repository root::

    python3 -m optimize.cli.rebuild                      # docs/benchmarks/standard, q1-q4
    python3 -m optimize.cli.rebuild --only q1,q4 --results docs/benchmarks/standard
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

REBUILDABLE = ("q1", "q2", "q3", "q4")
"""Questions whose tables follow from rows alone (q5 needs the compiled programs' folders, q6 the search
study, q7 the timed calls)."""


def _rows(path: Path) -> pd.DataFrame:
    from optimize.reports.rows import read_results

    return pd.DataFrame(read_results(path))


def pareto_ids_on_file(configs: pd.DataFrame, preset) -> set[str]:
    """The configurations of the pareto group among ``configs``: plain (not compiled) test-time-only runs
    at the preset's verbosities and sleep-time runs with k=1 and no rethink at its sleep verbosities.

    Example:
        >>> from optimize.bench.presets import PRESETS
        >>> configs = pd.DataFrame({"config_id": ["t0", "s0", "k2"], "use_sleep": [False, True, True],
        ...     "test_verbosity": [0, 0, 0], "sleep_samples": [None, 1, 2], "sleep_rounds": [None, 0, 0],
        ...     "compiled": [None, None, None]})
        >>> sorted(pareto_ids_on_file(configs, PRESETS["standard"]))
        ['s0', 't0']
    """
    from optimize.reports.metrics import as_bool

    ids = set()
    for row in configs.to_dict("records"):
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
    returns the summary's path. Parts without committed rows keep their lines of each table."""
    from optimize.bench.questions import BY_ID
    from optimize.bench.summary import write_summary
    from optimize.reports.analysis import with_failure_columns

    unknown = sorted(set(only) - set(REBUILDABLE))
    if unknown:
        raise ValueError(f"cannot rebuild {unknown} from rows alone; choose from {list(REBUILDABLE)}")
    results = Path(results)
    configs = pd.read_csv(results / "configs.csv")
    parts = list(dict.fromkeys(zip(configs["dataset"], configs["test_model"], strict=True)))
    for qid in only:
        question = BY_ID[qid]
        path = results / question.table
        earlier = pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame()
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
