"""Questions per minute of the embedded local server at several slot counts, side by side.

:func:`run_throughput` (``python3 -m optimize.cli.throughput``) evaluates the same dev questions for every
model x slot count x (sleep time or test-time only) x test verbosity, with as many concurrent requests as the
server has slots, and writes one table: questions per minute, accuracy, and how many greedy answers differ
from the 1-slot run of the same cell (batched decoding on llama.cpp is not bit-identical to serial decoding).

A cell with sleep time starts from an empty learned-context store, so its time includes sleeping every
context its questions need, as a deployment would. The server is started and warmed before a cell's clock
starts. Finished cells are kept in ``<out>/timings.json`` with their rows under ``<out>/rows/``; re-running
skips them, so a stopped run resumes (an unfinished cell is measured again from the start).

Example::

    python3 -m optimize.cli.throughput --models local:qwen2.5-coder-0.5b --slots 1,2 --verbosities 0 --n 8
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_MODELS = ("local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b")


def _cells(models: list[str], slots: list[int], verbosities: list[int],
           speculative: tuple[str, ...] = ("none",)) -> list[dict[str, Any]]:
    return [{"model": m, "slots": s, "use_sleep": sleep, "test_verbosity": v, "speculative": k}
            for m in models for k in speculative for s in slots
            for sleep in (True, False) for v in verbosities]


def model_name(spec: str) -> str:
    """``local:qwen2.5-coder-0.5b`` -> ``qwen2.5-coder-0.5b``; ``openai/m@http://host/v1`` -> ``m``."""
    return spec.split("@", 1)[0].split(":", 1)[-1].rsplit("/", 1)[-1]


def cell_name(cell: dict[str, Any]) -> str:
    """``qwen2.5-coder-0.5b-s2-sleep-v0``: the rows file and timings key of one cell (``-spec-<kind>`` added
    when it decodes speculatively).

    Example:
        >>> cell_name({"model": "local:qwen2.5-coder-1.5b", "slots": 1, "use_sleep": False,
        ...            "test_verbosity": 3, "speculative": "draft"})
        'qwen2.5-coder-1.5b-s1-test-v3-spec-draft'
    """
    model = model_name(cell["model"])
    phase = "sleep" if cell["use_sleep"] else "test"
    speculative = cell.get("speculative") or "none"
    suffix = "" if speculative == "none" else f"-spec-{speculative}"
    return f"{model}-s{cell['slots']}-{phase}-v{cell['test_verbosity']}{suffix}"


def _warm_server(model: str, slots: int, speculative: str = "none") -> None:
    """Start (or restart) the local server with ``slots`` slots before any clock starts."""
    from programs.lm.server import SLOTS_ENV, SPECULATIVE_ENV, get_local_server, stop_all_servers

    if os.environ.get(SLOTS_ENV) != str(slots) or os.environ.get(SPECULATIVE_ENV, "none") != speculative:
        stop_all_servers()
        os.environ[SLOTS_ENV] = str(slots)
        os.environ[SPECULATIVE_ENV] = speculative
    if model.startswith("local:"):
        get_local_server(model.split(":", 1)[1]).ensure_running()


def run_cell(cell: dict[str, Any], examples: list, rows_path: Path) -> dict[str, Any]:
    """Evaluate one cell from an empty store and return its timing and accuracy."""
    from optimize.experiments.evaluate import evaluate
    from optimize.reports.metrics import failed_rows
    from programs.api import build_program
    from programs.budget import Budget
    from programs.lm import TokenLedger
    from programs.store import InMemoryStore

    _warm_server(cell["model"], cell["slots"], cell.get("speculative") or "none")
    budget = Budget(sleep_model=cell["model"], test_model=cell["model"], use_sleep=cell["use_sleep"],
                    test_verbosity=cell["test_verbosity"])
    ledger = TokenLedger()
    program = build_program(budget, ledger=ledger, store=InMemoryStore())
    rows_path.unlink(missing_ok=True)  # a cell is timed whole or not at all
    started = time.perf_counter()
    frame = evaluate(program, examples, ledger=ledger, num_threads=cell["slots"], results_path=rows_path,
                     progress=True)
    seconds = time.perf_counter() - started
    return {**cell, "questions": len(frame), "seconds": seconds,
            "questions_per_minute": 60.0 * len(frame) / seconds,
            "accuracy": float(frame["correct"].astype(bool).mean()),
            "errors": int(failed_rows(frame).sum()),
            "test_tokens": float(frame["test_completion_tokens"].astype(float).mean())}


def throughput_table(timings: dict[str, dict], rows_dir: Path) -> Any:
    """One row per cell, with the speed-up over 1 slot and the answers that differ from the 1-slot run
    (both against the plain 1-slot cell: no speculative decoding)."""
    import pandas as pd

    from optimize.reports.rows import read_results

    table = pd.DataFrame(list(timings.values()))
    if table.empty:
        return table
    # Cells timed before speculative decoding was a dimension decoded without it.
    table["speculative"] = table.get("speculative", pd.Series(index=table.index, dtype=object)).fillna("none")
    speedups, changed = [], []
    for _, row in table.iterrows():
        serial = {**row.to_dict(), "slots": 1, "speculative": "none"}
        base = timings.get(cell_name(serial))
        speedups.append(row["questions_per_minute"] / base["questions_per_minute"] if base else float("nan"))
        if base is None:
            changed.append(float("nan"))
            continue
        answers, serial_answers = ({r["question_id"]: r.get("extracted")
                                    for r in read_results(rows_dir / f"{cell_name(c)}.jsonl")}
                                   for c in (row, serial))
        changed.append(sum(answers.get(q) != a for q, a in serial_answers.items()))
    table["speedup_vs_1_slot"] = speedups
    table["answers_changed_vs_1_slot"] = changed
    order = ["model", "use_sleep", "test_verbosity", "speculative", "slots"]
    return table.sort_values(order, ascending=[True, False, True, True, True])


def throughput_markdown(table) -> str:
    """The throughput table as the Markdown ``throughput.md`` holds."""
    lines = ["| model | phase | verbosity | slots | speculative | questions/min | speed-up | accuracy "
             "| answers changed vs 1 slot |", "|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        n_changed = r["answers_changed_vs_1_slot"]
        changed = "" if n_changed != n_changed else f"{int(n_changed)} of {int(r['questions'])}"
        phase = "sleep + test" if r["use_sleep"] else "test only"
        lines.append(f"| {model_name(r['model'])} | {phase} | "
                     f"{int(r['test_verbosity'])} | {int(r['slots'])} | {r['speculative']} | "
                     f"{r['questions_per_minute']:.1f} | "
                     f"{r['speedup_vs_1_slot']:.2f}x | {100 * r['accuracy']:.0f}% | {changed} |")
    return "\n".join(lines) + "\n"


def run_throughput(*, models: Sequence[str] = DEFAULT_MODELS, slots: Sequence[int] = (1, 2, 4, 8),
                   verbosities: Sequence[int] = (0, 3), speculative: Sequence[str] = ("none",),
                   data: str = "ours", split: str = "dev", n: int = 12,
                   out: str | Path = "docs/benchmarks/throughput") -> Any:
    """Times every cell (model x slots x phase x verbosity x speculative kind) on the first ``n`` questions
    of ``split``, keeping finished cells in ``<out>/timings.json``, and writes ``throughput.csv`` and
    ``throughput.md`` under ``out``. Returns :func:`throughput_table`'s table."""
    from optimize.data.loaders import load_examples

    examples = load_examples(data, split=split)[:n]
    out = Path(out)
    rows_dir = out / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    cells = _cells(list(models), list(slots), list(verbosities), tuple(speculative))
    for number, cell in enumerate(cells, 1):
        name = cell_name(cell)
        if name in timings and timings[name]["questions"] == len(examples):
            continue
        print(f"[{number}/{len(cells)}] {name}", file=sys.stderr, flush=True)
        timings[name] = {**run_cell(cell, examples, rows_dir / f"{name}.jsonl"), "data": data, "split": split}
        timings_path.write_text(json.dumps(timings, indent=2) + "\n")  # each finished cell survives a stop
    table = throughput_table(timings, rows_dir)
    table.to_csv(out / "throughput.csv", index=False)
    (out / "throughput.md").write_text(throughput_markdown(table))
    return table
