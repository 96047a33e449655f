"""The text of each question's section in ``summary.md``: the headline number with its clustered
interval, the number of questions, contexts and templates behind it, and what it does and does not show.

A difference is called significant only when its context-clustered paired interval excludes zero.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from optimize.reports.metrics import as_bool


def _pct(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.1f}%"


def _pp(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):+.1f} pp"


def _num(x: Any, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):.{digits}f}"


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


def _count(x: Any) -> str:
    return "?" if x is None or (isinstance(x, float) and math.isnan(x)) else str(int(x))


def paired_text(r: Any, what: str = "difference") -> str:
    """A paired difference in words: value, context- and template-clustered intervals, the questions,
    contexts and templates behind it, and whether it is significant (context interval excludes zero).

    Example:
        >>> text = paired_text({"difference": 0.2, "ci_low": 0.05, "ci_high": 0.35, "ci_low_template": -0.02,
        ...                     "ci_high_template": 0.4, "n": 60, "n_contexts": 16, "n_templates": 5})
        >>> text[:46]
        '**+20.0 pp** [+5.0 pp, +35.0 pp] by context, ['
        >>> text.split("): ")[-1]
        'significant (the context-clustered interval excludes zero; the template-clustered one does not)'
    """
    get = r.get if hasattr(r, "get") else (lambda k, d=None: d)
    low, high = get("ci_low"), get("ci_high")
    t_low, t_high = get("ci_low_template", math.nan), get("ci_high_template", math.nan)
    text = (f"**{_pp(get('difference'))}** [{_pp(low)}, {_pp(high)}] by context"
            + (f", [{_pp(t_low)}, {_pp(t_high)}] by template" if not pd.isna(t_low) else "")
            + f" (n={_count(get('n'))} questions, {_count(get('n_contexts'))} contexts, "
            f"{_count(get('n_templates'))} templates): ")
    unmatched = [get("unmatched_a"), get("unmatched_b")]
    if any(count is not None and not pd.isna(count) and count for count in unmatched):
        text = text[:-2] + (f"; unpaired and left out: {_count(unmatched[0])} questions of the first run, "
                            f"{_count(unmatched[1])} of the second): ")
    if low is None or pd.isna(low) or pd.isna(high):
        return text + "too few paired questions for an interval; no conclusion"
    if low > 0 or high < 0:
        by_template = (not pd.isna(t_low)) and (t_low > 0 or t_high < 0)
        return text + ("significant (the context-clustered interval excludes zero; the template-clustered "
                       "one " + ("does too)" if by_template else "does not)"))
    return text + f"not significant (the interval of the {what} spans zero)"


# -- one section per question -------------------------------------------------------------------------------
def _paired(r: Any, prefix: str = "") -> dict[str, Any]:
    return {k: r.get(prefix + k) for k in ("difference", "ci_low", "ci_high", "ci_low_template",
                                            "ci_high_template", "n", "n_contexts", "n_templates",
                                            "unmatched_a", "unmatched_b")}


def _rows_from(r: Any, prefix: str = "") -> str:
    """`` (1 slot, speculative none; sleep rows from latency/x-warm.jsonl)``: the settings a pair was made
    under and which side's rows are a rerun; empty when the table does not record it."""
    server = r.get(f"{prefix}server")
    if not isinstance(server, str):
        return ""
    reruns = [f"{side} rows from {r.get(f'{prefix}{key}_rows_from')}" for side, key in (("sleep", "a"),
              ("test-only", "b")) if r.get(f"{prefix}{key}_rows_from") not in (None, "rows")
              and isinstance(r.get(f"{prefix}{key}_rows_from"), str)]
    return f" ({'; '.join([server, *reruns])})"


def _with_prompt_tokens(df: pd.DataFrame, column: str, what: str) -> list[str]:
    """The ratio ``column`` counted both ways, generated tokens only (the paper's) and with prompt tokens
    too (``<column>_total``), and where the verdict (sleep time cheaper: ratio above 1) changes."""
    total = f"{column}_total"
    if total not in df or df[total].isna().all():
        return ["- With prompt tokens counted too: not computable here (the rows behind this part are not "
                "at hand)."] if total in df else []
    both = ", ".join(f"v{int(r['sleep_verbosity'])}: {_num(r[column], 2)}x generated only, "
                     f"{_num(r[total], 2)}x with prompt tokens" for _, r in df.iterrows())
    flips = [f"v{int(r['sleep_verbosity'])}" for _, r in df.iterrows()
             if pd.notna(r[column]) and pd.notna(r[total]) and (r[column] > 1) != (r[total] > 1)]
    verdict = (f"**the verdict changes for {', '.join(flips)}**: counted with prompt tokens, sleep time "
               "costs more, not less (the notes lengthen every test prompt)" if flips
               else "the verdict (which side is cheaper) is the same both ways")
    return [f"- {what[0].upper() + what[1:]}, test-only over sleep time, both counts: {both}; {verdict}."]


def _unparsed_lines(df: pd.DataFrame) -> list[str]:
    """A line per configuration with unparsable replies: how many, and how many state the gold number."""
    out, seen = [], set()
    for prefix, kind in (("sleep_", "sleep"), ("test_", "test-only")):
        column = f"{prefix}parse_failures"
        if column not in df:
            continue
        for _, r in df.iterrows():
            failures, right = r.get(column), r.get(f"{prefix}unparsed_right")
            key = (kind, r.get(f"{prefix}verbosity", r.get("test_verbosity")))
            if pd.isna(failures) or not failures or key in seen:
                continue
            seen.add(key)
            stated = "" if pd.isna(right) else f", {int(right)} of which state the gold number"
            out.append(f"- {kind} v{_num(key[1], 0)}: {int(failures)} replies could not be parsed (counted "
                       f"wrong){stated}; a lenient reading would add those to its accuracy.")
    return out


def q1(df: pd.DataFrame) -> list[str]:
    out = []
    matched = df[df["matched"].map(as_bool)]
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
        out += _with_prompt_tokens(matched, "token_ratio", "test tokens per question")
    for _, r in df.iterrows():
        name = (f"sleep v{int(r['sleep_verbosity'])} minus its baseline "
                f"(test-only v{_num(r['test_verbosity'], 0)})")
        if "paired_difference" in r and not pd.isna(r.get("paired_n")) and r.get("paired_n"):
            out.append(f"- {name}, paired{_rows_from(r, 'paired_')}: " + paired_text(_paired(r, "paired_"))
                       + ".")
        elif isinstance(r.get("paired_note"), str) and r["paired_note"].startswith("not paired"):
            out.append(f"- {name}: {r['paired_note']}.")
    out += _unparsed_lines(df)
    if matched.empty:
        out.append(
            "- **What it shows:** sleep time was more accurate than every test-time-only budget tried "
            "(point estimates; the paired intervals above say whether by more than noise), which a token "
            "ratio cannot express; a larger test-time budget would be needed to find the matching point."
        )
        return out
    out.append(
        "- **What it shows:** matching uses the point accuracies of measured configs; 'equal accuracy' "
        "holds within the paired interval only; ratios are taken at measured grid points, not interpolated "
        "along the fronts."
    )
    return out


def q2(df: pd.DataFrame) -> list[str]:
    out = []
    notes, strategies = _q2_notes(df), _q2_strategies(df)
    more = (notes["sleep_samples"] > 1) | (notes["sleep_rounds"] > 0)
    scaled = notes[(notes["versus"] == "sleep k=1, rounds=0") & more]
    if scaled.empty and strategies.empty:
        out.append("- **Answer:** only k=1 without rethink ran; no scaling measurement.")
        return out
    for _, r in scaled.sort_values(["sleep_samples", "sleep_rounds"]).iterrows():
        out.append(
            f"- **Answer (k={int(r['sleep_samples'])}, rounds={int(r['sleep_rounds'])}, verbosity "
            f"{int(r['test_verbosity'])}, minus k=1):** " + paired_text(_paired(r)) + "."
        )
    if len(scaled):
        out.append(
            "- **What it shows:** each k is paired with k=1 on the same questions; reading only the largest "
            "gain would be biased upwards. Every configuration's difference against test-time only is in the "
            "table."
        )
    out += _q2_strategy_lines(strategies)
    return out


def _q2_notes(df: pd.DataFrame) -> pd.DataFrame:
    """Question 2's lines of today's notes (a table written before strategies were listed has only those)."""
    if "sleep_strategy" not in df:
        return df
    return df[df["sleep_strategy"].isna() | (df["sleep_strategy"] == "notes")]


def _q2_strategies(df: pd.DataFrame) -> pd.DataFrame:
    """Question 2's lines of the other sleep strategies (``compute``, ...), including those not run yet."""
    if "sleep_strategy" not in df:
        return df.iloc[:0]
    return df[df["sleep_strategy"].notna() & (df["sleep_strategy"] != "notes")]


def strategy_name(r: Any) -> str:
    """A q2 line's sleep strategy in words: ``compute union k=8``; the rule only where samples combine.

    Example:
        >>> strategy_name({"sleep_strategy": "compute", "sleep_combine": "union", "sleep_samples": 8})
        'compute union k=8'
        >>> strategy_name({"sleep_strategy": "compute", "sleep_combine": "agree", "sleep_samples": 1})
        'compute k=1'
    """
    from optimize.bench.selection import strategy_label

    return strategy_label(r["sleep_strategy"], r["sleep_combine"], int(r["sleep_samples"]))


def _pair_rows(r: Any, reference: str) -> str:
    """`` (1 slot, speculative none; notes k=1 rows from latency/x-warm.jsonl)``: the settings a q2 pair was
    made under and which rows of the reference were used when they are a rerun."""
    server = r.get("server")
    if not isinstance(server, str):
        return ""
    rerun = r.get("b_rows_from")
    used = f"; {reference} rows from {rerun}" if isinstance(rerun, str) and rerun != "rows" else ""
    return f" ({server}{used})"


def _q2_strategy_lines(df: pd.DataFrame) -> list[str]:
    """Each sleep strategy minus today's notes k=1 and minus test-time only, and those not run yet."""
    if df.empty:
        return []
    out = []
    ran = df[df["versus"] != "not run"]
    order = ["sleep_strategy", "sleep_samples"]
    for (_, _), pair in ran.sort_values(order).groupby(order, sort=False):
        by_versus = {r["versus"]: r for _, r in pair.iterrows()}
        first = next(iter(by_versus.values()))
        name = strategy_name(first)
        verbosity = int(first["test_verbosity"])
        text = (f"- **{name}, verbosity {verbosity}** ({_pct(first['accuracy'])} "
                f"[{_pct(first['accuracy_ci_low'])}, {_pct(first['accuracy_ci_high'])}] at "
                f"{_num(first['mean_test_tokens'])} test tokens, "
                f"{_num(first['sleep_tokens_per_context'], 0)} sleep tokens per context)")
        parts = []
        for versus, what in (("sleep k=1, rounds=0", "notes k=1"),
                             ("test-time only", f"test-time only v{verbosity}")):
            r = by_versus.get(versus)
            if r is None:
                continue
            if isinstance(r.get("note"), str) and r["note"].startswith("not paired"):
                parts.append(f"minus {what}: {r['note']}")
            else:
                parts.append(f"minus {what}{_pair_rows(r, what)}: " + paired_text(_paired(r)))
        out.append(text + ": " + "; ".join(parts) + ".")
    missing = df[df["versus"] == "not run"]
    if len(missing):
        names = ", ".join(strategy_name(r) for _, r in missing.iterrows())
        out.append(f"- Not run yet (no rows on file; a resumed `benchmark` run answers them): {names}.")
    if len(ran):
        out.append(
            "- **What it shows:** each sleep strategy is paired with today's notes at k=1 and with test-time "
            "only at the same verbosity, on the same questions and under the same server settings; its sleep "
            "tokens per context say what its samples cost. Each interval is its own, not family-wise across "
            "the strategies."
        )
    return out


def q3(df: pd.DataFrame) -> list[str]:
    out = []
    at10 = df[df["questions_per_context"] == df["questions_per_context"].max()]
    if at10.empty:
        return ["- **Answer:** no sleep-time configuration ran."]
    head = at10.sort_values(["sleep_accuracy", "cost_sleep"], ascending=[False, True]).iloc[0]
    n = int(head["questions_per_context"])
    match_text = (
        "a test-time-only config at least as accurate"
        if as_bool(head["matched"])
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
        f"v{int(r['sleep_verbosity'])}{'' if as_bool(r['matched']) else ' (unmatched)'}: "
        f"{_num(r['cost_ratio'], 2)}x"
        for _, r in at10.iterrows()
    )
    out.append(f"- Ratio at N={n} for every sleep config: {per_config}.")
    out += _with_prompt_tokens(at10, "cost_ratio", f"cost per query at N={n}")
    out.append(
        "- **What it shows:** the cost is computed from measured mean tokens; it carries the sampling "
        "noise of those means and of the accuracy match (see Q1 intervals). Full N=1..10 curves are in "
        "the CSV."
    )
    return out


def q4(df: pd.DataFrame) -> list[str]:
    refused = df[df["note"].notna()] if "note" in df else df.iloc[:0]
    paired = df.drop(refused.index)
    pooled = paired[paired["test_verbosity"].astype(str) == "pooled"]
    use = pooled if len(pooled) else paired
    where = "pooled over verbosities" if len(pooled) else "per verbosity"
    out = [f"- **Answer (sleep minus test-time only, {where}):**"]
    for _, r in use.iterrows():
        level = "" if len(pooled) else f"verbosity {r['test_verbosity']}, "
        out.append(f"  - {level}{r['predictability']}{_rows_from(r)}: " + paired_text(_paired(r)))
    for _, r in refused.iterrows():
        out.append(f"- verbosity {r['test_verbosity']}: {r['note']}.")
    out.append(
        "- **What it shows:** a trend across labels needs the intervals of the buckets to separate; "
        "pooled rows count a question once per verbosity inside its context cluster, so their intervals "
        "stay clustered. The labels come from the data, not from a model's log-probability."
    )
    return out


def q5(df: pd.DataFrame) -> list[str]:
    out = []
    for _, r in df.iterrows():
        if r.get("n", 0) == 0 or pd.isna(r.get("difference")):
            out.append(f"- verbosity {int(r['test_verbosity'])}: compiled or uncompiled did not run.")
            continue
        out.append(
            f"- **Answer (verbosity {int(r['test_verbosity'])}):** compiled minus hand-written "
            f"({_pct(r['accuracy_a'])} vs {_pct(r['accuracy_b'])}): " + paired_text(_paired(r)) + "."
        )
    out.append(
        "- **What it shows:** BootstrapFewShot on a handful of train questions; a small train set "
        "limits what compiling can add."
    )
    return out


def q6(df: pd.DataFrame) -> list[str]:
    search = df[df["origin"] == "search"] if "origin" in df else pd.DataFrame()
    if search.empty:
        return ["- **Answer:** the search did not run."]
    found = df[df["found_by_search_only"].map(as_bool)]
    outside = (
        search[~search["in_grid"].map(as_bool)]["canonical_id"].nunique()
        if "canonical_id" in search
        else int((~search["in_grid"].map(as_bool)).sum())
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
    out.extend(_hypervolume_lines(df))
    out.append(
        "- **What it shows:** front membership uses point estimates; with few questions the front "
        "is noisy and a short search explores little of the space."
    )
    return out


def _hypervolume_lines(df: pd.DataFrame) -> list[str]:
    """Search against grid by hypervolume, per test model
    (:func:`optimize.reports.analysis.hypervolume_race`)."""
    from optimize.reports.analysis import hypervolume_race

    lines = []
    groups = df.groupby("test_model", sort=False) if "test_model" in df else [("", df)]
    for model, group in groups:
        race = hypervolume_race(group).set_index("origin")
        parts = []
        for origin, r in race.iterrows():
            reach = r["configs_to_within_5%"]
            parts.append(f"{origin} {r['hypervolume_share']:.0%} of the best known hypervolume after "
                         f"{int(r['evaluated'])} configurations"
                         + (f" (within 5% after {int(reach)})" if pd.notna(reach) else " (never within 5%)"))
        label = f" ({model})" if model else ""
        lines.append(f"- **Hypervolume{label}:** " + "; ".join(parts) + ".")
    return lines


def q7(df: pd.DataFrame) -> list[str]:
    out = []
    timed = df[df["measurement"] == "timed"]
    pair = timed[timed["mode"] == "sleep minus test_only"]
    if len(pair):
        test_only = timed[timed["mode"] == "test_only"].iloc[0]
        warm = df[(df["measurement"] == "prompt cache") & (df["mode"] == "warm")].iloc[0]
        r = pair.iloc[0]
        out.append(
            f"- **Answer (latency, verbosity 0, one request at a time):** sleep time answers in "
            f"{_num(warm['mean_seconds'], 2)} s per query (notes already made; cache warm), test-time only "
            f"in {_num(test_only['mean_seconds'], 2)} s; sleep minus test-only "
            f"**{_num(r['mean_seconds'], 2)} s** "
            f"[{_num(r['seconds_ci_low'], 2)}, {_num(r['seconds_ci_high'], 2)}]; "
            + interval_sentence(int(r["n"]), r["seconds_ci_low"], r["seconds_ci_high"])
        )
    grid = df[df["measurement"] == "grid"]
    diffs = grid[grid["mode"] == "sleep minus test_only"]
    for _, r in diffs.iterrows():
        out.append(
            f"- grid rows as they ran, verbosity {int(r['test_verbosity'])}: test-time seconds per query, "
            f"sleep minus test-only {_num(r['mean_seconds'], 2)} s [{_num(r['seconds_ci_low'], 2)}, "
            f"{_num(r['seconds_ci_high'], 2)}] (not controlled: rows may have run several at a time)"
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
        "- **What it shows:** wall clock on this machine. The timed runs (warm, cold, test-only) send one "
        "request at a time on the same questions, so their differences are controlled; grid rows ran with "
        "other work and possibly several at a time, so their seconds are not. A server that reports no "
        "cached tokens shows 0 cached."
    )
    return out


