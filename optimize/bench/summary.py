"""Turn a benchmark's result tables into ``summary.md``: the measured answer to each of the seven questions.

For every question and test model the summary gives the headline number with its uncertainty, the full
table of every configuration that ran (no selection), and a plain sentence of what the numbers do and do not
show. The machine, models, data, date and exact command come from ``meta.json``.

Example::

    from optimize.bench.summary import write_summary
    path = write_summary("mlruns/results/bench-quick")      # reads q1_pareto.csv .. q7_latency.csv
    print(path.read_text()[:500])
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from optimize.bench.earlier import table_on_file
from optimize.bench.questions import QUESTIONS
from optimize.bench.selection import with_strategy_columns
from optimize.markdown import markdown_table

CONFIG_COLUMNS = [
    "dataset",
    "test_model",
    "origin",
    "config_id",
    "use_sleep",
    "test_verbosity",
    "test_max_tokens",
    "sleep_samples",
    "sleep_rounds",
    "sleep_strategy",
    "sleep_combine",
    "compiled",
    "n",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "mean_test_tokens",
    "sleep_tokens_per_context",
    "cost_per_query",
    "mean_test_seconds",
    "errors",
    "truncation_rate",
    "parse_failures",
    "unparsed_right",
    "n_contexts",
    "n_templates",
    "accuracy_ci_low_context",
    "accuracy_ci_high_context",
    "accuracy_ci_low_template",
    "accuracy_ci_high_template",
]


def _table(df: pd.DataFrame, drop: tuple[str, ...] = ("test_model", "dataset")) -> str:
    if df.empty:
        return "(no rows)\n"
    return markdown_table(df.drop(columns=[c for c in drop if c in df.columns]))


def _datasets(meta: dict) -> list[str]:
    parts = meta.get("datasets") or {}
    if not parts:
        return [f"{meta.get('n_questions', '?')} held-out questions in {meta.get('n_contexts', '?')} "
                "contexts"]
    return [f"`{name}`: {d['n_questions']} questions in {d['n_contexts']} contexts from {d['n_templates']} "
            "templates" for name, d in parts.items()]


def _provenance(meta: dict) -> list[str]:
    """The command(s) behind the tables: every invocation when there were several (``--only``, resumed)."""
    answered = f"questions answered so far: {', '.join(meta.get('answered', [])) or 'none'}"
    runs = meta.get("invocations") or []
    if len(runs) <= 1:
        return [
            f"- **Command:** `{meta.get('command', '(run from Python)')}`",
            f"- **Date:** started {meta.get('started_at', '?')}, "
            f"finished {meta.get('finished_at', 'not yet')}; {answered}",
        ]
    unrecorded = any(run.get("earlier_unrecorded") for run in runs)
    count = f"at least {len(runs)}" if unrecorded else str(len(runs))
    lines = [f"- **Commands:** the tables come from {count} invocations on one rows folder (each reuses "
             f"the rows the others wrote), oldest first; {answered}"]
    if unrecorded:
        lines.append("  - (earlier invocations, written before meta.json kept the list, are not recorded)")
    for i, run in enumerate(runs):
        asked = ",".join(run.get("questions") or []) or "?"
        # An earlier invocation that never wrote its finish time was stopped (its rows are kept and reused).
        if run.get("finished_at"):
            end = f"finished {run['finished_at']}"
        else:
            end = "not finished yet" if i == len(runs) - 1 else "stopped before the end"
        lines.append(f"  - `{run.get('command') or '(run from Python)'}` ({asked}; started "
                     f"{run.get('started_at', '?')}, {end})")
    return lines


def _header(meta: dict) -> list[str]:
    machine = meta.get("machine", {})
    preset = meta.get("preset", {})
    return [
        f"# Benchmark `{meta.get('name', '?')}`: sleep-time vs test-time compute",
        "",
        *_provenance(meta),
        f"- **Machine:** {machine.get('cores', '?')} cores, {machine.get('cpu', '?')}, "
        f"RAM {machine.get('ram', '?')}, "
        f"{machine.get('platform', '?')}, Python {machine.get('python', '?')}",
        f"- **Models:** test-time {', '.join(meta.get('test_models', []))}; "
        f"sleep-time {meta.get('sleep_model', '?')}",
        f"- **Data:** {meta.get('data', 'ours, split test')}: " + "; ".join(_datasets(meta))
        + f"; {meta.get('n_train', '?')} train questions for compiling",
        f"- **Size:** {meta.get('size', '?')}: {json.dumps(preset)}",
        "- **Accounting:** test-time tokens are generated tokens per question; cost in sleep-token units "
        f"with test tokens priced t={meta.get('price_ratio', 10):g}x. Accuracy intervals: a 95% bootstrap "
        "that resamples contexts (and, reported beside it, templates then contexts), because questions of "
        "one context are not independent. Differences are paired per question with the same clustered "
        "bootstrap; **significant** means the context-clustered paired interval excludes zero. "
        "`truncation_rate` is the share of answers cut off at the test token cap; `parse_failures` counts "
        "replies the adapter could not parse (also counted wrong, listed apart), and `unparsed_right` how "
        "many of those state the gold number all the same (what a lenient reading would add to the "
        "accuracy).",
        "",
    ]


def write_summary(results_dir: str | Path) -> Path:
    """Write ``summary.md`` in ``results_dir`` from its question tables, ``configs.csv`` and ``meta.json``."""
    results_dir = Path(results_dir)
    meta_path = results_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    lines = _header(meta)
    for q in QUESTIONS:
        df = table_on_file(results_dir / q.table)
        lines += [f"## {q.title}", "", f"_{q.paper}_", ""]
        if df.empty:
            lines += ["Not measured in this run (excluded with --only, or nothing finished yet).", ""]
            continue
        keys = [c for c in ("dataset", "test_model") if c in df]
        groups = df.groupby(keys, sort=False) if keys else [((), df)]
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{name} `{value}`" for name, value in zip(keys, key, strict=True))
            lines += [f"### {label.replace('test_model', 'test model')}" if label else "### all", ""]
            try:
                lines += q.section(part.reset_index(drop=True))
            except (KeyError, ValueError, TypeError) as exc:  # a partial table still gets listed below
                lines.append(f"- (no headline: the table is incomplete: {exc})")
            lines += ["", "<details><summary>every row</summary>", "", _table(part), "</details>", ""]
    configs = table_on_file(results_dir / "configs.csv")
    if "sleep_strategy" in configs:  # a line written before strategies existed ran today's notes
        configs = with_strategy_columns(configs)
    lines += ["## Every configuration that ran", ""]
    if configs.empty:
        lines.append("(none)")
    else:
        lines.append(markdown_table(configs[[c for c in CONFIG_COLUMNS if c in configs.columns]]))
    lines += ["", "Figures (the report's four views) per part: `<dataset>/<test model>/report/report.md`.",
              ""]
    path = results_dir / "summary.md"
    path.write_text("\n".join(lines))
    return path
