"""Turn a benchmark's result tables into ``summary.md``: the measured answer to each of the seven questions.

For every question and test model the summary gives the headline number with its uncertainty, the full
table of every configuration that ran (no selection), and a plain sentence of what the numbers do and do not
show. The machine, models, data, date and exact command come from ``meta.json``.

Example::

    from optimize.benchmark_summary import write_summary
    path = write_summary("mlruns/results/bench-quick")      # reads q1_pareto.csv .. q7_latency.csv
    print(path.read_text()[:500])
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from optimize.tracking import markdown_table

TITLES = {
    "q1": "Q1. Does sleep time shift the accuracy vs test-time-tokens Pareto front?",
    "q2": "Q2. Does scaling sleep-time compute (k samples, rethink rounds) move it further?",
    "q3": "Q3. With N questions per context, how much lower is the average cost per query?",
    "q4": "Q4. Is the gain larger for more predictable questions?",
    "q5": "Q5. How much do compiled prompts add over hand-written ones at the same budgets?",
    "q6": "Q6. What does Optuna's search find that the fixed grid missed?",
    "q7": "Q7. Test-time latency with and without sleep time; what the prompt cache saves",
}
PAPER = {
    "q1": "paper: ~5x fewer test-time tokens at equal accuracy at low budgets",
    "q2": "paper: up to +13% accuracy at a fixed test budget",
    "q3": "paper: 2.5x lower average cost per query at N=10, t=10",
    "q4": "paper: the gain grows with predictability",
    "q5": "no paper number (this project's addition)",
    "q6": "no paper number (this project's addition)",
    "q7": "no paper number (this project's addition)",
}
CONFIG_COLUMNS = [
    "test_model",
    "origin",
    "config_id",
    "use_sleep",
    "test_verbosity",
    "test_max_tokens",
    "sleep_samples",
    "sleep_rounds",
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
]


def _read(path: Path) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size <= 1:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _pct(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.1f}%"


def _pp(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):+.1f} pp"


def _num(x: Any, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):.{digits}f}"


def _truthy(x: Any) -> bool:
    return str(x).strip().lower() in ("true", "1", "1.0")


def interval_sentence(n: int, low: float, high: float, what: str = "difference") -> str:
    """What an interval does and does not show, in words.

    Example:
        >>> interval_sentence(11, -0.2, 0.3)
        'n=11: the interval of the difference spans zero, so this run does not show a difference either way.'
    """
    if n is None or n == 0 or low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"n={n or 0}: too few paired questions for an interval; no conclusion."
    if low > 0:
        return f"n={n}: the interval of the {what} lies above zero."
    if high < 0:
        return f"n={n}: the interval of the {what} lies below zero."
    return f"n={n}: the interval of the {what} spans zero, so this run does not show a difference either way."


def _table(df: pd.DataFrame, drop: tuple[str, ...] = ("test_model",)) -> str:
    if df.empty:
        return "(no rows)\n"
    return markdown_table(df.drop(columns=[c for c in drop if c in df.columns]))


# -- one section per question -------------------------------------------------------------------------------
def _q1(df: pd.DataFrame) -> list[str]:
    out = []
    matched = df[df["matched"].map(_truthy)]
    if matched.empty:
        out.append(
            "- **Answer:** equal accuracy could not be matched: no test-time-only configuration was as "
            "accurate as any sleep-time one, so no token ratio is reported."
        )
    else:
        low = matched.sort_values("sleep_test_tokens").iloc[0]
        out.append(
            f"- **Answer (lowest-budget matched sleep config):** test-time only needs "
            f"**{_num(low['token_ratio'], 2)}x** the test-time tokens ({_num(low['test_test_tokens'])} vs "
            f"{_num(low['sleep_test_tokens'])}) to reach {_pct(low['test_accuracy'])} "
            f"[{_pct(low['test_ci_low'])}, {_pct(low['test_ci_high'])}] vs sleep time's "
            f"{_pct(low['sleep_accuracy'])} [{_pct(low['sleep_ci_low'])}, {_pct(low['sleep_ci_high'])}] "
            f"(sleep verbosity {int(low['sleep_verbosity'])}, "
            f"test-only verbosity {int(low['test_verbosity'])})."
        )
        ratios = ", ".join(
            f"v{int(r['sleep_verbosity'])}: {_num(r['token_ratio'], 2)}x" for _, r in matched.iterrows()
        )
        out.append(f"- All matched ratios: {ratios}. Unmatched sleep configs: {len(df) - len(matched)}.")
    if matched.empty:
        out.append(
            "- **What it shows:** sleep time was more accurate than every test-time-only budget tried "
            "(point estimates; see the intervals in the table), which a token ratio cannot express; "
            "a larger test-time budget would be needed to find the matching point."
        )
        return out
    out.append(
        "- **What it shows:** matching uses the point accuracies of measured configs, and Wilson "
        "intervals on this few questions are wide (see the table), so 'equal accuracy' holds within noise "
        "only; ratios are taken at measured grid points, not interpolated along the fronts."
    )
    return out


def _q2(df: pd.DataFrame) -> list[str]:
    out = []
    scaled = df[
        (df["versus"] == "sleep k=1, rounds=0") & ((df["sleep_samples"] > 1) | (df["sleep_rounds"] > 0))
    ]
    if scaled.empty:
        out.append("- **Answer:** only k=1 without rethink ran; no scaling measurement.")
        return out
    best = scaled.sort_values("difference", ascending=False).iloc[0]
    out.append(
        f"- **Answer:** the largest gain over k=1 is **{_pp(best['difference'])}** "
        f"[{_pp(best['ci_low'])}, {_pp(best['ci_high'])}] at k={int(best['sleep_samples'])}, "
        f"rounds={int(best['sleep_rounds'])} (verbosity {int(best['test_verbosity'])}); "
        f"{interval_sentence(int(best['n']), best['ci_low'], best['ci_high'])}"
    )
    out.append(
        "- **What it shows:** the maximum over several configurations is biased upwards; every "
        "configuration's paired difference is in the table (against k=1 and against test-time only)."
    )
    return out


def _q3(df: pd.DataFrame) -> list[str]:
    out = []
    at10 = df[df["questions_per_context"] == df["questions_per_context"].max()]
    if at10.empty:
        return ["- **Answer:** no sleep-time configuration ran."]
    head = at10.sort_values(["sleep_accuracy", "cost_sleep"], ascending=[False, True]).iloc[0]
    n = int(head["questions_per_context"])
    match_text = (
        "a test-time-only config at least as accurate"
        if _truthy(head["matched"])
        else "the closest test-time-only config (NOT as accurate: no baseline matched, so the ratio "
        "compares unequal accuracies)"
    )
    out.append(
        f"- **Answer (most accurate sleep config, N={n}, t={_num(head['price_ratio'], 0)}):** cost per query "
        f"{_num(head['cost_sleep'])} vs {_num(head['cost_test_only'])} for {match_text}: "
        f"**{_num(head['cost_ratio'], 2)}x** lower with sleep time "
        f"(sleep accuracy {_pct(head['sleep_accuracy'])}, "
        f"baseline {_pct(head['test_accuracy'])}, sleep tokens per context "
        f"{_num(head['sleep_tokens_per_context'])})."
    )
    per_config = ", ".join(
        f"v{int(r['sleep_verbosity'])}{'' if _truthy(r['matched']) else ' (unmatched)'}: "
        f"{_num(r['cost_ratio'], 2)}x"
        for _, r in at10.iterrows()
    )
    out.append(f"- Ratio at N={n} for every sleep config: {per_config}.")
    out.append(
        "- **What it shows:** the cost is computed from measured mean tokens; it carries the sampling "
        "noise of those means and of the accuracy match (see Q1 intervals). Full N=1..10 curves are in "
        "the CSV."
    )
    return out


def _q4(df: pd.DataFrame) -> list[str]:
    out = []
    pooled = df[df["test_verbosity"].astype(str) == "pooled"]
    use = pooled if len(pooled) else df
    parts = [
        f"{r['predictability']}: {_pp(r['difference'])} [{_pp(r['ci_low'])}, {_pp(r['ci_high'])}] "
        f"(n={int(r['n'])})"
        for _, r in use.iterrows()
    ]
    out.append(
        "- **Answer (sleep minus test-time only, pooled over verbosities):** " + "; ".join(parts) + "."
    )
    spans = all(not (r["ci_low"] > 0 or r["ci_high"] < 0) for _, r in use.iterrows() if pd.notna(r["ci_low"]))
    out.append(
        "- **What it shows:** the pooled rows count each question once per verbosity, so their "
        "intervals are too narrow; "
        + (
            "every bucket's interval spans zero, so this run cannot rank the buckets."
            if spans
            else "compare the per-verbosity rows before reading a trend."
        )
    )
    return out


def _q5(df: pd.DataFrame) -> list[str]:
    out = []
    for _, r in df.iterrows():
        if r.get("n", 0) == 0 or pd.isna(r.get("difference")):
            out.append(f"- verbosity {int(r['test_verbosity'])}: compiled or uncompiled did not run.")
            continue
        out.append(
            f"- **Answer (verbosity {int(r['test_verbosity'])}):** compiled minus hand-written "
            f"**{_pp(r['difference'])}** [{_pp(r['ci_low'])}, {_pp(r['ci_high'])}] "
            f"({_pct(r['accuracy_a'])} vs {_pct(r['accuracy_b'])}); "
            + interval_sentence(int(r["n"]), r["ci_low"], r["ci_high"])
        )
    out.append(
        "- **What it shows:** BootstrapFewShot on a handful of train questions; a small train set "
        "limits what compiling can add."
    )
    return out


def _q6(df: pd.DataFrame) -> list[str]:
    search = df[df["origin"] == "search"] if "origin" in df else pd.DataFrame()
    if search.empty:
        return ["- **Answer:** the search did not run."]
    found = df[df["found_by_search_only"].map(_truthy)]
    outside = (
        search[~search["in_grid"].map(_truthy)]["canonical_id"].nunique()
        if "canonical_id" in search
        else int((~search["in_grid"].map(_truthy)).sum())
    )
    out = [
        f"- **Answer:** {len(search)} distinct search configurations; {outside} of them outside the grid; "
        "on the combined Pareto front (accuracy up, test tokens down, "
        "cost down) but not in the grid: "
        + (
            "**none**."
            if found.empty
            else ", ".join(
                f"**{r['config_id']}** (sleep={r['use_sleep']}, v{int(r['test_verbosity'])}, max "
                f"{int(r['test_max_tokens'])} tokens, k={r.get('sleep_samples')}; "
                f"accuracy {_pct(r['accuracy'])} [{_pct(r['accuracy_ci_low'])}, "
                f"{_pct(r['accuracy_ci_high'])}], {_num(r['mean_test_tokens'])} "
                "tokens)"
                for _, r in found.iterrows()
            )
            + "."
        )
    ]
    out.append(
        "- **What it shows:** front membership uses point estimates; with few questions the front "
        "is noisy and a short search explores little of the space."
    )
    return out


def _q7(df: pd.DataFrame) -> list[str]:
    out = []
    grid = df[df["measurement"] == "grid"]
    diffs = grid[grid["mode"] == "sleep minus test_only"]
    for _, r in diffs.iterrows():
        out.append(
            f"- verbosity {int(r['test_verbosity'])}: test-time seconds per query, sleep minus test-only "
            f"{_num(r['mean_seconds'], 2)} s [{_num(r['seconds_ci_low'], 2)}, "
            f"{_num(r['seconds_ci_high'], 2)}]; "
            + interval_sentence(int(r["n"]), r["seconds_ci_low"], r["seconds_ci_high"])
        )
    cache = df[df["measurement"] == "prompt cache"]
    for _, r in cache[cache["mode"].isin(["warm", "cold"])].iterrows():
        out.append(
            f"- prompt cache **{r['mode']}**: {_num(r['mean_seconds'], 2)} s per query "
            f"[{_num(r['seconds_ci_low'], 2)}, {_num(r['seconds_ci_high'], 2)}], "
            f"{_num(r['mean_prompt_tokens'])} prompt tokens of which {_num(r['mean_cached_prompt_tokens'])} "
            f"cached ({_pct(r['cached_fraction'])})."
        )
    saved = cache[cache["mode"] == "cold minus warm"]
    if len(saved):
        r = saved.iloc[0]
        out.append(
            f"- **Answer (cache):** the warm prefix cache saves **{_num(r['mean_seconds'], 2)} s** per "
            f"query [{_num(r['seconds_ci_low'], 2)}, {_num(r['seconds_ci_high'], 2)}]; "
            + interval_sentence(int(r["n"]), r["seconds_ci_low"], r["seconds_ci_high"], "saving")
        )
    elif len(cache):
        out.append("- the cold-cache run did not run (the endpoint does not take llama.cpp's cache_prompt).")
    out.append(
        "- **What it shows:** wall clock on a shared machine; grid rows ran in sequence with other "
        "configurations, so only the warm/cold pair is a controlled comparison. A server that reports "
        "no cached tokens shows 0 cached."
    )
    return out


SECTIONS = {"q1": _q1, "q2": _q2, "q3": _q3, "q4": _q4, "q5": _q5, "q6": _q6, "q7": _q7}


def _header(meta: dict) -> list[str]:
    machine = meta.get("machine", {})
    preset = meta.get("preset", {})
    return [
        f"# Benchmark `{meta.get('name', '?')}`: sleep-time vs test-time compute",
        "",
        f"- **Command:** `{meta.get('command', '(run from Python)')}`",
        f"- **Date:** started {meta.get('started_at', '?')}, finished {meta.get('finished_at', '?')}",
        f"- **Machine:** {machine.get('cores', '?')} cores, {machine.get('cpu', '?')}, "
        f"RAM {machine.get('ram', '?')}, "
        f"{machine.get('platform', '?')}, Python {machine.get('python', '?')}",
        f"- **Models:** test-time {', '.join(meta.get('test_models', []))}; "
        f"sleep-time {meta.get('sleep_model', '?')}",
        f"- **Data:** {meta.get('data', 'ours, split test')}: "
        f"{meta.get('n_questions', '?')} held-out questions in "
        f"{meta.get('n_contexts', '?')} contexts ({', '.join(meta.get('context_ids', []))}); "
        f"{meta.get('n_train', '?')} train questions for compiling",
        f"- **Size:** {meta.get('size', '?')}: {json.dumps(preset)}",
        "- **Accounting:** test-time tokens are generated tokens per question; cost in sleep-token units "
        f"with test tokens priced t={meta.get('price_ratio', 10):g}x; accuracies with Wilson 95% intervals; "
        "differences "
        "are paired per question with normal 95% intervals.",
        "",
    ]


def write_summary(results_dir: str | Path) -> Path:
    """Write ``summary.md`` in ``results_dir`` from its ``q*.csv``, ``configs.csv`` and ``meta.json``."""
    from optimize.benchmark import QUESTION_FILES, QUESTIONS

    results_dir = Path(results_dir)
    meta_path = results_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    lines = _header(meta)
    for q in QUESTIONS:
        df = _read(results_dir / QUESTION_FILES[q])
        lines += [f"## {TITLES[q]}", "", f"_{PAPER[q]}_", ""]
        if df.empty:
            lines += ["Not measured in this run (excluded with --only, or nothing finished).", ""]
            continue
        models = list(dict.fromkeys(df["test_model"])) if "test_model" in df else [None]
        for model in models:
            part = df[df["test_model"] == model] if model is not None else df
            lines += [f"### test model `{model}`", ""]
            try:
                lines += SECTIONS[q](part.reset_index(drop=True))
            except (KeyError, ValueError, TypeError) as exc:  # a partial table still gets listed below
                lines.append(f"- (no headline: the table is incomplete: {exc})")
            lines += ["", "<details><summary>every row</summary>", "", _table(part), "</details>", ""]
    configs = _read(results_dir / "configs.csv")
    lines += ["## Every configuration that ran", ""]
    if configs.empty:
        lines.append("(none)")
    else:
        lines.append(markdown_table(configs[[c for c in CONFIG_COLUMNS if c in configs.columns]]))
    lines += ["", "Figures (the report's four views) per test model: `<model>/report/report.md`.", ""]
    path = results_dir / "summary.md"
    path.write_text("\n".join(lines))
    return path
