"""Runs on file beside a part's grid rows, and how much two runs of one configuration differ.

A benchmark part keeps one rows file per configuration (``rows/<id>.jsonl``), reruns of some
configurations at other server settings (``reruns/<id>.jsonl``) and, for question 7, timed reruns
(``latency/<id>-warm.jsonl``, ``-cold.jsonl``), each with the server settings it was made under
(:mod:`optimize.reports.server_settings`). :func:`runs_on_file` reads them all so paired tables can take the
runs made under matching settings. :func:`optimize.reports.metrics.answer_changes` measures run-to-run
variation: how many extracted answers changed between two runs and how many of those flipped right/wrong, with
the paired accuracy difference, so a repeat of one configuration can stand next to the effects it could be
mistaken for.

:func:`write_run_to_run` (``python3 -m optimize.cli.repeats``) rewrites the run-to-run table under
``docs/benchmarks/standard/`` from committed rows (the question tables, every pair at equal server settings:
``python3 -m optimize.cli.rebuild``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from optimize.reports.metrics import answer_changes

LATENCY_MODES = ("warm", "cold")


def _rows(path: Path) -> pd.DataFrame:
    from optimize.reports.rows import read_results

    return pd.DataFrame(read_results(path))


def runs_on_file(model_dir: str | Path) -> tuple[dict[str, Any], list[dict]]:
    """``(server settings by config id of rows/, reruns)`` of one part folder; a rerun is a dict with
    ``config_id``, ``label`` (its path under the part), ``server`` and ``frame``. A rerun that has not yet
    answered every question of its run in ``rows/`` (one still going) is left out: paired on the questions
    it has, it would stand in for the run on a few of them."""
    from optimize.reports.server_settings import recorded_settings

    model_dir = Path(model_dir)
    server = {path.name[: -len(".jsonl")]: recorded_settings(path)
              for path in sorted((model_dir / "rows").glob("*.jsonl"))}
    # A plain rerun (``reruns/<id>.jsonl``, made by :func:`optimize.bench.tables.rerun_command`) first, then
    # warm timed runs: the grid's rows were made with the prompt cache on, so warm is the closer match.
    found = [(path.name[: -len(".jsonl")], f"reruns/{path.name}", path)
             for path in sorted((model_dir / "reruns").glob("*.jsonl"))]
    for mode in LATENCY_MODES:
        found += [(path.name[: -len(f"-{mode}.jsonl")], f"latency/{path.name}", path)
                  for path in sorted((model_dir / "latency").glob(f"*-{mode}.jsonl"))]
    reruns = []
    for config_id, label, path in found:
        frame = _rows(path)
        if _complete(frame, _rows(model_dir / "rows" / f"{config_id}.jsonl")):
            reruns.append({"config_id": config_id, "label": label, "server": recorded_settings(path),
                           "frame": frame})
    return server, reruns


def _complete(rerun: pd.DataFrame, run: pd.DataFrame) -> bool:
    """Whether ``rerun`` answered every question ``run`` did (any rerun counts when the run has no rows).

    Example:
        >>> run = pd.DataFrame({"question_id": ["q1", "q2"]})
        >>> _complete(run.head(1), run), _complete(run, run), _complete(run.head(1), pd.DataFrame())
        (False, True, True)
    """
    if not len(run):
        return len(rerun) > 0
    answered = set(rerun["question_id"].astype(str)) if len(rerun) else set()
    return set(run["question_id"].astype(str)) <= answered


def run_to_run_table(pairs: list[tuple[str, str, Path, Path]]) -> pd.DataFrame:
    """One line per ``(what, kind, rows A, rows B)``: :func:`answer_changes` of B against A, with both
    runs' server settings. ``kind`` says whether the line is a repeat (same configuration) or an effect."""
    from optimize.reports.server_settings import describe, recorded_settings

    lines = []
    for what, kind, path_a, path_b in pairs:
        changes = answer_changes(_rows(path_b), _rows(path_a))
        lines.append({"comparison": what, "kind": kind, "run_a": str(path_a), "run_b": str(path_b),
                      "server_a": describe(recorded_settings(path_a)),
                      "server_b": describe(recorded_settings(path_b)), **changes})
    return pd.DataFrame(lines)


def markdown(table: pd.DataFrame) -> str:
    """The run-to-run table as GitHub markdown, differences in points."""
    head = ("| comparison | kind | server (A / B) | questions | extracted answers changed | right<->wrong "
            "(B only right / A only right) | B minus A [context] |")
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        lines.append(f"| {r.comparison} | {r.kind} | {r.server_a} / {r.server_b} | {r.n} "
                     f"| {r.answers_changed} | {r.correctness_changed} ({r.a_only} / {r.b_only}) "
                     f"| {100 * r.difference:+.1f} "
                     f"[{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}] |")
    return "\n".join(lines)


def write_run_to_run(results: str | Path = "docs/benchmarks/standard",
                     compiled: str | Path = "docs/benchmarks/compiled") -> str:
    """Writes ``run_to_run.csv`` and ``run_to_run.md`` under ``results`` (the standard run's folder) from the
    committed rows there and under ``compiled``; returns the markdown table."""
    results, compiled = Path(results), Path(compiled)
    rows = results / "ours" / "local-qwen2.5-coder-1.5b"
    pairs = [
        ("sleep v0 (1.5B): 1 slot minus 4 slots", "server change", rows / "rows/edfce045fa52.jsonl",
         compiled / "1.5b-sleep-v0-handwritten.jsonl"),
        ("test-only v0 (1.5B): 1 slot minus 4 slots", "server change", rows / "rows/17bd34d3c3e3.jsonl",
         rows / "latency/17bd34d3c3e3-warm.jsonl"),
        ("sleep v0 (1.5B), 1 slot: two runs with their own notes", "repeat",
         compiled / "1.5b-sleep-v0-handwritten.jsonl", compiled / "1.5b-1.5b/handwritten.jsonl"),
        ("sleep v0 (1.5B), 1 slot: prompt cache warm vs cold (same notes)", "repeat",
         rows / "latency/edfce045fa52-warm.jsonl", rows / "latency/edfce045fa52-cold.jsonl"),
        ("compiled draw 0 (1.5B), 1 slot: shipped rows vs recompiled rerun", "repeat",
         compiled / "1.5b-sleep-v0-bootstrap.jsonl", compiled / "1.5b-1.5b/both-bootstrap.jsonl"),
        ("sleep k=2 minus k=1 (1.5B), 1 slot", "effect", rows / "latency/edfce045fa52-warm.jsonl",
         rows / "rows/8b658ae2f8ab.jsonl"),
        ("sleep k=4 minus k=1 (1.5B), 1 slot", "effect", rows / "latency/edfce045fa52-warm.jsonl",
         rows / "rows/a64b6f108bd3.jsonl"),
        ("compiled draw 1 minus hand-written (1.5B)", "effect", compiled / "1.5b-1.5b/handwritten.jsonl",
         compiled / "1.5b-1.5b/both-bootstrap-shuffled-1.jsonl"),
        ("compiled draw 2 minus hand-written (1.5B)", "effect", compiled / "1.5b-1.5b/handwritten.jsonl",
         compiled / "1.5b-1.5b/both-bootstrap-shuffled-2.jsonl"),
    ]
    repeats = run_to_run_table(pairs)
    repeats.to_csv(results / "run_to_run.csv", index=False)
    text = markdown(repeats)
    (results / "run_to_run.md").write_text(
        "# Run-to-run variation beside the effects it could be mistaken for\n\n"
        "Written by `python3 -m optimize.cli.repeats` from committed rows. A is the first run, B the\n"
        "second; \"extracted answers changed\" counts questions whose read-off number differs (a missing\n"
        "one counts as its own answer), \"right<->wrong\" those whose correctness flipped.\n\n" + text + "\n",
        encoding="utf-8")
    return text
