"""The paper's four views of a search or sweep, as PNG figures plus the numbers as CSV and markdown tables.

1. ``pareto_shift``: accuracy vs mean test-time tokens, with and without sleep time (the Pareto shift);
2. ``k_scaling``: accuracy vs sleep samples k at a fixed test budget (scaling sleep-time compute);
3. ``amortization``: average cost per query vs questions per context;
4. ``predictability``: accuracy gap (sleep time minus test time only) by question-predictability bucket.

Inputs are a configs table (one row per Budget with its summary metrics; ``results/configs.csv``) and the
per-example rows (``results/examples.csv``, with ``config_id``).

Example::

    import pandas as pd
    from optimize.reports.figures import write_report
    paths = write_report(pd.read_csv("mlruns/results/s/configs.csv"),
                         pd.read_csv("mlruns/results/s/examples.csv"), "reports/")
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from optimize.markdown import markdown_table
from optimize.reports.analysis import (
    AMORTIZATION_N,
    FAILURE_COLUMNS,
    bool_column,
    cost_per_query,
    matched_baseline,
    predictability_gap,
    with_cluster_intervals,
    with_failure_columns,
)
from optimize.reports.pareto import pareto_front

TEST_BUDGET = ["test_verbosity", "test_max_tokens", "test_model", "compiled"]
COST_UNITS = "sleep-token equivalents"
SLEEP_COLOR, TEST_COLOR = "#1f77b4", "#d62728"
LABEL_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
LEGEND_OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": 8}


class ReportError(ValueError):
    """The report cannot be drawn from the given tables: the message names the missing input and the fix."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _test_budget_columns(configs: pd.DataFrame) -> list[str]:
    return [c for c in TEST_BUDGET if c in configs.columns]


def _with_keys(configs: pd.DataFrame) -> pd.DataFrame:
    df = configs.copy()
    if "use_sleep" in df:
        df["use_sleep"] = bool_column(df["use_sleep"])
    for column in _test_budget_columns(df):
        # An unset cap read back from a CSV is a float NaN column: groupby would drop those rows.
        if df[column].isna().any():
            df[column] = df[column].astype(object).where(df[column].notna(), "none")
    if "compiled" in df:
        df["compiled"] = df["compiled"].fillna("none").astype(str)
    return df


def _label(row: pd.Series) -> str:
    if row.get("use_sleep"):
        return (
            f"sleep k={int(row['sleep_samples'])} r={int(row.get('sleep_rounds', 0))}, "
            f"verbosity {int(row['test_verbosity'])}"
        )
    return f"test-time only, verbosity {int(row['test_verbosity'])}"


def _short(row: pd.Series) -> str:
    """The point label drawn next to a configuration (``S v0 k2``: sleep time; ``T v3``: test-time only)."""
    if row.get("use_sleep"):
        k = int(row.get("sleep_samples", 1) or 1)
        return f"S v{int(row['test_verbosity'])}" + (f" k{k}" if k > 1 else "")
    return f"T v{int(row['test_verbosity'])}"


def _interval(row: Any, low: str = "accuracy_ci_low", high: str = "accuracy_ci_high") -> tuple[float, float]:
    """The accuracy interval of a config row: the context-clustered bootstrap when present, else Wilson."""
    lo = row.get(f"{low}_context", math.nan) if hasattr(row, "get") else math.nan
    hi = row.get(f"{high}_context", math.nan) if hasattr(row, "get") else math.nan
    if pd.isna(lo) or pd.isna(hi):
        lo, hi = row.get(low, math.nan), row.get(high, math.nan)
    return lo, hi


def error_bars(table: pd.DataFrame, value: str, low: str, high: str, scale: float = 100.0) -> list:
    """Error bar lengths (below, above) from interval columns; a missing interval draws no bar."""
    lo = (table[value] - table[low].fillna(table[value])).clip(lower=0) * scale
    hi = (table[high].fillna(table[value]) - table[value]).clip(lower=0) * scale
    return [lo.to_numpy(), hi.to_numpy()]


def _label_points(ax, points: list[tuple[float, float, str, str]]) -> None:
    """Write each point's label beside it; labels of points that (nearly) coincide are stacked, not
    overprinted."""
    if not points:
        return
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_span, y_span = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    placed: list[tuple[float, float]] = []
    for x, y, text, color in sorted(points, key=lambda p: (p[0], p[1])):
        near = sum(1 for px, py in placed if abs(px - x) / x_span < 0.06 and abs(py - y) / y_span < 0.06)
        placed.append((x, y))
        low, high = ax.get_ylim()
        top = (y - low) / ((high - low) or 1.0) > 0.9  # near the axes' top edge: stack downwards
        offset = -(12 + 11 * near) if top else 4 + 11 * near
        ax.annotate(text, (x, y), xytext=(5, offset), textcoords="offset points", fontsize=8,
                    color=color)


def _not_run(ax, message: str, title: str) -> None:
    """An empty view says what did not run instead of drawing empty axes."""
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.55, "not run", ha="center", va="center", transform=ax.transAxes, fontsize=20,
            color="#555555")
    ax.text(0.5, 0.4, message, ha="center", va="center", transform=ax.transAxes, fontsize=10, wrap=True)


# -- 1. Pareto shift ----------------------------------------------------------------------------------------
PARETO_COLUMNS = ["group", "config", "label", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
                  "mean_test_tokens", "cost_per_query", "on_group_front", *FAILURE_COLUMNS]


def pareto_shift_table(configs: pd.DataFrame) -> pd.DataFrame:
    """Every config with its group (sleep-time / test-time only), its accuracy interval (context-clustered
    when the configs carry it, else Wilson), whether it is on its group's accuracy-vs-test-tokens Pareto
    front, and its truncation rate and parse failures when known."""
    df = _with_keys(configs)
    rows = []
    for use_sleep, group in df.groupby("use_sleep"):
        points = group[["accuracy", "mean_test_tokens"]].to_numpy().tolist()
        front = set(pareto_front(points, ["maximize", "minimize"]))
        for position, (_, row) in enumerate(group.iterrows()):
            low, high = _interval(row)
            rows.append({
                "group": "sleep-time" if use_sleep else "test-time only",
                "config": _label(row),
                "label": _short(row),
                "accuracy": row["accuracy"],
                "accuracy_ci_low": low,
                "accuracy_ci_high": high,
                "mean_test_tokens": row["mean_test_tokens"],
                "cost_per_query": row.get("cost_per_query"),
                "on_group_front": position in front,
                **{name: row.get(name, math.nan) for name in FAILURE_COLUMNS},
            })
    return pd.DataFrame(rows, columns=PARETO_COLUMNS)


def plot_pareto_shift(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    if table.empty:
        _not_run(ax, "no finished configurations", "Accuracy vs test-time compute")
        return _save(fig, path)
    labels: list[tuple[float, float, str, str]] = []
    for group, color, marker in (("test-time only", TEST_COLOR, "s"), ("sleep-time", SLEEP_COLOR, "o")):
        rows = table[table["group"] == group]
        if rows.empty:
            continue
        ax.errorbar(rows["mean_test_tokens"], rows["accuracy"] * 100,
                    yerr=error_bars(rows, "accuracy", "accuracy_ci_low", "accuracy_ci_high"), fmt=marker,
                    color=color, alpha=0.45, capsize=3, label=f"{group}: every config (95% interval)")
        front = rows[rows["on_group_front"].map(bool)].sort_values("mean_test_tokens")
        ax.step(front["mean_test_tokens"], front["accuracy"] * 100, where="post", color=color, linewidth=2,
                marker=marker, label=f"{group}: Pareto front")
        labels += [(r.mean_test_tokens, r.accuracy * 100, r.label, color) for r in rows.itertuples()]
    _label_points(ax, labels)
    ax.margins(x=0.1, y=0.08)
    ax.set_title("Accuracy vs test-time compute, with and without sleep time")
    ax.set_xlabel("mean test-time tokens per question (tokens)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(**LEGEND_OUTSIDE)
    fig.text(0.01, 0.01, "S = sleep time, T = test-time only, v = test verbosity, k = sleep samples",
             fontsize=8, color="#555555")
    return _save(fig, path)


def _cap_label(budget: dict) -> str:
    """``max 256 tokens``, naming the per-verbosity default when the budget left the cap unset.

    Example:
        >>> _cap_label({"test_verbosity": 0, "test_max_tokens": "none"})
        'max 256 tokens (default)'
    """
    from programs.budget import DEFAULT_TEST_MAX_TOKENS

    cap = budget.get("test_max_tokens")
    if cap is None or str(cap).lower() in ("none", "nan", ""):
        default = DEFAULT_TEST_MAX_TOKENS.get(int(budget.get("test_verbosity") or 0))
        return f"max {default} tokens (default)" if default else "default cap"
    return f"max {int(float(cap))} tokens"


# -- 2. scaling sleep-time compute --------------------------------------------------------------------------
def k_scaling_table(configs: pd.DataFrame) -> pd.DataFrame:
    """Accuracy by k for every test budget where sleep-time configs with at least two k values exist;
    the test-time-only accuracy (and its interval) at the same test budget as a reference."""
    df = _with_keys(configs)
    keys = _test_budget_columns(df)
    rows = []
    sleep = df[df["use_sleep"]]
    for key, group in sleep.groupby(keys):
        if group["sleep_samples"].nunique() < 2:
            continue
        key = key if isinstance(key, tuple) else (key,)
        match = dict(zip(keys, key, strict=True))
        baseline = df[~df["use_sleep"]]
        for column, value in match.items():
            baseline = baseline[baseline[column] == value]
        best_baseline = baseline.sort_values("accuracy", ascending=False).iloc[0] if len(baseline) else None
        base_low, base_high = _interval(best_baseline) if best_baseline is not None else (math.nan, math.nan)
        budget_label = f"verbosity {match.get('test_verbosity')}, {_cap_label(match)}"
        for k, at_k in group.groupby("sleep_samples"):
            best = at_k.sort_values("accuracy", ascending=False).iloc[0]
            low, high = _interval(best)
            rows.append({
                "test_budget": budget_label,
                "k": int(k),
                "accuracy": best["accuracy"],
                "accuracy_ci_low": low,
                "accuracy_ci_high": high,
                "sleep_rounds": best.get("sleep_rounds"),
                "mean_test_tokens": best["mean_test_tokens"],
                "test_only_accuracy": best_baseline["accuracy"] if best_baseline is not None else math.nan,
                "test_only_ci_low": base_low,
                "test_only_ci_high": base_high,
                **{name: best.get(name, math.nan) for name in FAILURE_COLUMNS},
            })
    return pd.DataFrame(rows, columns=["test_budget", "k", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
                                       "sleep_rounds", "mean_test_tokens", "test_only_accuracy",
                                       "test_only_ci_low", "test_only_ci_high", *FAILURE_COLUMNS])


def plot_k_scaling(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    if table.empty:
        _not_run(ax, "needs sleep-time configs with at least two k values at one test budget\n"
                     "(run `sleeptime sweep --grid k` or the benchmark's question 2)",
                 "Scaling sleep-time compute")
        return _save(fig, path)
    colors = plt.get_cmap("tab10")
    labels: list[tuple[float, float, str, str]] = []
    for i, (budget, rows) in enumerate(table.groupby("test_budget")):
        rows = rows.sort_values("k")
        color = colors(i % 10)
        ax.errorbar(rows["k"], rows["accuracy"] * 100,
                    yerr=error_bars(rows, "accuracy", "accuracy_ci_low", "accuracy_ci_high"), marker="o",
                    color=color, capsize=3, label=f"sleep time, {budget}")
        labels += [(r.k, r.accuracy * 100, f"k={int(r.k)}", color) for r in rows.itertuples()]
        baseline = rows.iloc[0]
        if pd.notna(baseline["test_only_accuracy"]):
            ax.axhline(baseline["test_only_accuracy"] * 100, color=color, linestyle="--", alpha=0.8,
                       label=f"test-time only, {budget}")
            if pd.notna(baseline["test_only_ci_low"]) and pd.notna(baseline["test_only_ci_high"]):
                ax.axhspan(baseline["test_only_ci_low"] * 100, baseline["test_only_ci_high"] * 100,
                           color=color, alpha=0.08, label=f"test-time only 95% interval, {budget}")
    _label_points(ax, labels)
    ax.set_xscale("log")
    ax.margins(x=0.1)
    ticks = sorted(table["k"].unique())
    ax.set_xticks(ticks, [str(k) for k in ticks])
    ax.minorticks_off()
    ax.legend(**LEGEND_OUTSIDE)
    ax.set_title("Scaling sleep-time compute: accuracy vs parallel sleep samples k")
    ax.set_xlabel("sleep-time samples k (rewrites per context, log scale)")
    ax.set_ylabel("accuracy (%), 95% interval")
    ax.grid(alpha=0.3)
    return _save(fig, path)


# -- 3. amortization ----------------------------------------------------------------------------------------
def _sleep_tokens_per_context(row: pd.Series, examples: pd.DataFrame) -> float:
    if not row.get("use_sleep"):
        return 0.0
    if pd.notna(row.get("sleep_tokens_per_context", float("nan"))):
        return float(row["sleep_tokens_per_context"])  # as summarize counted it
    rows = (
        examples[examples["config_id"] == row["config_id"]] if "config_id" in examples else examples.iloc[:0]
    )
    if len(rows) and {"context_id", "sleep_tokens"} <= set(rows.columns):
        return float(rows.groupby("context_id")["sleep_tokens"].max().mean())
    # From the summary: cost = t * test + sleep_per_context / N.
    return float(
        (row["cost_per_query"] - row["price_ratio"] * row["mean_test_tokens"]) * row["questions_per_context"]
    )


def _cost_interval(row: pd.Series, examples: pd.DataFrame, n: int, price_ratio: float) -> tuple[float, float]:
    """A context-clustered 95% interval of the cost per query at N from the config's example rows (each
    question costs t x its test tokens + its context's sleep tokens / N); NaN without rows."""
    from optimize.reports.metrics import cluster_interval

    needed = {"config_id", "context_id", "test_completion_tokens"}
    if examples.empty or not needed <= set(examples.columns):
        return math.nan, math.nan
    rows = examples[examples["config_id"] == row["config_id"]]
    if len(rows) < 2:
        return math.nan, math.nan
    sleep = rows.get("sleep_completion_tokens", pd.Series(0.0, index=rows.index)).fillna(0.0)
    if not row.get("use_sleep"):
        sleep = sleep * 0.0
    per_context = sleep.groupby(rows["context_id"]).transform("max")
    values = price_ratio * rows["test_completion_tokens"].astype(float) + per_context.astype(float) / n
    found = cluster_interval(values.to_numpy(), rows["context_id"].astype(str).tolist())
    return found["low"], found["high"]


def amortization_table(
    configs: pd.DataFrame,
    examples: pd.DataFrame,
    *,
    price_ratio: float | None = None,
    questions: tuple[int, ...] = AMORTIZATION_N,
) -> pd.DataFrame:
    """Cost per query as N grows, for the most accurate sleep-time config and its matched baseline (the
    cheapest test-time-only config at least as accurate, or the most accurate one if none is), with a
    context-clustered interval of each cost when example rows are given."""
    df = _with_keys(configs)
    if price_ratio is None:
        price_ratio = float(df["price_ratio"].iloc[0]) if "price_ratio" in df and len(df) else 10.0
    if "price_ratio" not in df:
        df["price_ratio"] = price_ratio
    chosen = []
    sleep, test = df[df["use_sleep"]], df[~df["use_sleep"]]
    if len(sleep):
        best_sleep = sleep.sort_values(["accuracy", "cost_per_query"], ascending=[False, True]).iloc[0]
        chosen.append(best_sleep)
        baseline, _ = matched_baseline(best_sleep, test)
        if baseline is not None:
            chosen.append(baseline)
    elif len(test):
        chosen.append(test.sort_values("accuracy", ascending=False).iloc[0])
    rows = []
    for row in chosen:
        sleep_per_context = _sleep_tokens_per_context(row, examples)
        for n in questions:
            low, high = _cost_interval(row, examples, n, price_ratio)
            rows.append({
                "config": _label(row),
                "label": _short(row),
                "use_sleep": bool(row["use_sleep"]),
                "accuracy": row["accuracy"],
                "questions_per_context": n,
                "mean_test_tokens": row["mean_test_tokens"],
                "sleep_tokens_per_context": sleep_per_context,
                "price_ratio": price_ratio,
                "cost_per_query": cost_per_query(row["mean_test_tokens"], sleep_per_context, n, price_ratio),
                "cost_ci_low": low,
                "cost_ci_high": high,
                **{name: row.get(name, math.nan) for name in FAILURE_COLUMNS},
            })
    return pd.DataFrame(rows, columns=["config", "label", "use_sleep", "accuracy", "questions_per_context",
                                       "mean_test_tokens", "sleep_tokens_per_context", "price_ratio",
                                       "cost_per_query", "cost_ci_low", "cost_ci_high", *FAILURE_COLUMNS])


def plot_amortization(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    if table.empty:
        _not_run(ax, "no finished configurations", "Amortizing sleep time over questions per context")
        return _save(fig, path)
    for config, rows in table.groupby("config", sort=False):
        use_sleep = bool(rows["use_sleep"].iloc[0])
        color = SLEEP_COLOR if use_sleep else TEST_COLOR
        ax.errorbar(rows["questions_per_context"], rows["cost_per_query"],
                    yerr=error_bars(rows, "cost_per_query", "cost_ci_low", "cost_ci_high", scale=1.0),
                    marker="o" if use_sleep else "s", color=color, capsize=3,
                    label=f"{config} (accuracy {rows['accuracy'].iloc[0] * 100:.1f}%)")
        middle = rows.iloc[len(rows) // 2]
        ax.annotate(middle["label"], (middle["questions_per_context"], middle["cost_per_query"]),
                    xytext=(10, 10), textcoords="offset points", ha="left", fontsize=9, color=color,
                    bbox=LABEL_BOX)
    ax.legend(**LEGEND_OUTSIDE)
    ax.margins(y=0.12)
    fig.text(0.01, 0.01, "S = sleep time, T = test-time only, v = test verbosity, k = sleep samples; bars: "
             "95% context-clustered interval", fontsize=8, color="#555555")
    ax.set_xticks(sorted(table["questions_per_context"].unique()))
    t = table["price_ratio"].iloc[0]
    ax.set_title(f"Amortizing sleep time over questions per context (a test token costs {t:g} sleep tokens)")
    ax.set_xlabel("questions per context N (questions)")
    ax.set_ylabel(f"average cost per query ({COST_UNITS})")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return _save(fig, path)


# -- 4. predictability --------------------------------------------------------------------------------------
def _buckets(values: pd.Series, n_buckets: int) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and numeric.nunique() > n_buckets:
        codes = pd.qcut(numeric.rank(method="first"), n_buckets, labels=False)
        edges = numeric.groupby(codes).agg(["min", "max"])
        names = {c: f"Q{c + 1}: {edges.loc[c, 'min']:.3g}..{edges.loc[c, 'max']:.3g}" for c in edges.index}
        return codes.map(names)
    return values.astype(str)


PREDICTABILITY_COLUMNS = ["bucket", "sleep_accuracy", "test_only_accuracy", "accuracy_gap", "ci_low",
                          "ci_high", "significant", "n_examples", "n_contexts", "n_pairs"]


def _plain_or_best(sleep: pd.DataFrame) -> pd.Series:
    plain = sleep
    for column, value in (("sleep_samples", 1), ("sleep_rounds", 0)):
        if column in plain:
            plain = plain[pd.to_numeric(plain[column], errors="coerce").fillna(-1) == value]
    pool = plain if len(plain) else sleep
    return pool.sort_values("accuracy", ascending=False).iloc[0]


def predictability_table(
    configs: pd.DataFrame, examples: pd.DataFrame, *, n_buckets: int = 4
) -> pd.DataFrame:
    """Accuracy with sleep time minus accuracy without, per predictability bucket in natural order (high,
    medium, low), over matched test budgets (the plain sleep-time config, k=1 and no rethink, when one ran,
    else the most accurate, vs the test-time-only config with the same test budget), with a
    context-clustered paired interval per bucket. Picking the most accurate of several sleep configs on the
    same questions would bias every gap upwards, so the pre-specified one comes first."""
    needed = {"config_id", "predictability", "correct", "question_id"}
    if examples.empty or not needed <= set(examples.columns):
        return pd.DataFrame(columns=PREDICTABILITY_COLUMNS)
    df = _with_keys(configs)
    keys = _test_budget_columns(df)
    examples = examples.copy()
    examples["correct"] = bool_column(examples["correct"])
    examples["bucket"] = _buckets(examples["predictability"], n_buckets)
    sleep_parts, test_parts = [], []
    for number, (_, group) in enumerate(df.groupby(keys)):
        sleep, test = group[group["use_sleep"]], group[~group["use_sleep"]]
        if sleep.empty or test.empty:
            continue
        best = _plain_or_best(sleep)["config_id"]
        tag = f"@pair{number}"  # a question answered under two test budgets is two paired observations
        for parts, config_id in ((sleep_parts, best), (test_parts, test.iloc[0]["config_id"])):
            rows = examples[examples["config_id"] == config_id]
            parts.append(rows.assign(question_id=rows["question_id"].astype(str) + tag))
    if not sleep_parts:
        return pd.DataFrame(columns=PREDICTABILITY_COLUMNS)
    gap = predictability_gap(pd.concat(sleep_parts), pd.concat(test_parts), label="bucket")
    if gap.empty:
        return pd.DataFrame(columns=PREDICTABILITY_COLUMNS)
    table = gap.rename(columns={"accuracy_a": "sleep_accuracy", "accuracy_b": "test_only_accuracy",
                                "difference": "accuracy_gap", "n": "n_examples"})
    table["n_pairs"] = len(sleep_parts)
    return table[PREDICTABILITY_COLUMNS].reset_index(drop=True)  # buckets already in natural order


def plot_predictability(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    if table.empty:
        _not_run(ax, "needs per-example rows with 'predictability' and, at one test budget,\n"
                     "configs both with and without sleep time", "Sleep-time gain by question predictability")
        return _save(fig, path)
    gaps = table["accuracy_gap"] * 100
    labels = [str(b) for b in table["bucket"]]
    bars = ax.bar(labels, gaps, color=[SLEEP_COLOR if g >= 0 else TEST_COLOR for g in gaps],
                  yerr=error_bars(table, "accuracy_gap", "ci_low", "ci_high"), capsize=5, ecolor="black",
                  label="sleep time minus test-time only (95% context-clustered interval)")
    for bar, n, high in zip(bars, table["n_examples"], table["ci_high"].fillna(table["accuracy_gap"]),
                            strict=True):
        ax.annotate(f"n={int(n)}", (bar.get_x() + bar.get_width() / 2, max(high * 100, bar.get_height())),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=9)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.legend(**LEGEND_OUTSIDE)
    ax.margins(y=0.15)
    ax.set_title("Sleep-time gain by question predictability")
    ax.set_xlabel("question predictability (high to low)")
    ax.set_ylabel("accuracy gap (percentage points)")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def plot_search_vs_grid(table: pd.DataFrame, path: Path) -> Path:
    """Search against grid: share of the best known hypervolume after each evaluated configuration.

    ``table`` is the benchmark's question-6 table (grid and search rows, ``origin`` and ``trial`` columns,
    the three objectives); a search point the grid already had is drawn hollow.

    Example::

        plot_search_vs_grid(pd.read_csv("docs/benchmarks/search-vs-grid/q6_search.csv"), Path("q6.png"))
    """
    from optimize.reports.analysis import hypervolume_curves

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5.0))
    if table.empty or "origin" not in table:
        _not_run(ax, "needs the grid's and the search's configurations (question 6)", "Search against grid")
        return _save(fig, path)
    curves = hypervolume_curves(table)
    colors = {"grid": "#7f7f7f", "search": "#2ca02c"}
    for origin, shares in curves.items():
        xs = list(range(1, len(shares) + 1))
        ax.step(xs, [v * 100 for v in shares], where="post", color=colors.get(origin), linewidth=2,
                label=f"{origin}: {len(shares)} configurations")
        if origin == "search" and "in_grid" in table:
            rows = table[table["origin"] == origin].sort_values("trial", kind="stable")
            known = bool_column(rows["in_grid"]).to_numpy()
            ys = [v * 100 for v in shares]
            ax.scatter([x for x, k in zip(xs, known, strict=True) if not k],
                       [y for y, k in zip(ys, known, strict=True) if not k], color=colors[origin], zorder=3,
                       label="search: a configuration the grid does not have")
            ax.scatter([x for x, k in zip(xs, known, strict=True) if k],
                       [y for y, k in zip(ys, known, strict=True) if k], facecolors="white",
                       edgecolors=colors[origin], zorder=3, label="search: one the grid has")
    ax.axhline(95, color="black", linewidth=0.8, linestyle=":", label="95% of the best known")
    ax.set_ylim(0, 105)
    ax.set_xlabel("configurations evaluated (in the order they ran)")
    ax.set_ylabel("share of the best known hypervolume (%)")
    ax.set_title("Search against grid: accuracy up, test tokens and cost per query down")
    ax.legend(**LEGEND_OUTSIDE)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# -- all together -------------------------------------------------------------------------------------------
def build_tables(configs: pd.DataFrame, examples: pd.DataFrame) -> dict[str, pd.DataFrame]:
    # A configuration evaluated by several steps (a sweep and a search trial) is one point, not several.
    configs = configs.drop_duplicates("config_id", keep="first")
    frames = ({str(k): v for k, v in examples.groupby("config_id")}
              if {"config_id", "correct"} <= set(examples.columns) else {})
    if frames and "accuracy_ci_low_context" not in configs:  # context-clustered, not Wilson's iid interval
        configs = with_cluster_intervals(configs, frames)
    if frames and not set(FAILURE_COLUMNS) <= set(configs.columns) and "truncated" in examples:
        configs = with_failure_columns(configs, frames)
    return {
        "pareto_shift": pareto_shift_table(configs),
        "k_scaling": k_scaling_table(configs),
        "amortization": amortization_table(configs, examples),
        "predictability": predictability_table(configs, examples),
    }


PLOTS = {
    "pareto_shift": plot_pareto_shift,
    "k_scaling": plot_k_scaling,
    "amortization": plot_amortization,
    "predictability": plot_predictability,
}


def write_report(configs: pd.DataFrame, examples: pd.DataFrame, out_dir: str | Path) -> dict[str, Any]:
    """Write ``<view>.png``, ``<view>.csv`` and ``<view>.md`` for the four views plus ``report.md``."""
    required = {"config_id", "use_sleep", "accuracy", "mean_test_tokens", "cost_per_query", "test_verbosity"}
    missing = sorted(required - set(configs.columns))
    if configs.empty or missing:
        raise ReportError(
            f"the configs table has no finished configurations or lacks columns {missing}; "
            "point --results at a search/sweep results directory containing configs.csv"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Any] = {}
    index = ["# Sleep-time vs test-time compute report", ""]
    for name, table in build_tables(configs, examples).items():
        png = PLOTS[name](table, out_dir / f"{name}.png")
        table.to_csv(out_dir / f"{name}.csv", index=False)
        md = markdown_table(table) if len(table) else "(not run: not enough data for this view)\n"
        (out_dir / f"{name}.md").write_text(md)
        paths[name] = {"png": png, "csv": out_dir / f"{name}.csv", "md": out_dir / f"{name}.md"}
        index += [f"## {name.replace('_', ' ')}", "", f"![{name}]({name}.png)", "", md]
    (out_dir / "report.md").write_text("\n".join(index))
    paths["index"] = out_dir / "report.md"
    return paths
