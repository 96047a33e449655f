"""The paper's four views of a search or sweep, as PNG figures plus the numbers as CSV and markdown tables.

1. ``pareto_shift``: accuracy vs mean test-time tokens, with and without sleep time (the Pareto shift);
2. ``k_scaling``: accuracy vs sleep samples k at a fixed test budget (scaling sleep-time compute);
3. ``amortization``: average cost per query vs questions per context;
4. ``predictability``: accuracy gap (sleep time minus test time only) by question-predictability bucket.

Inputs are a configs table (one row per Budget with its summary metrics; ``results/configs.csv``) and the
per-example rows (``results/examples.csv``, with ``config_id``).

Example::

    import pandas as pd
    from optimize.report import write_report
    paths = write_report(pd.read_csv("mlruns/results/s/configs.csv"),
                         pd.read_csv("mlruns/results/s/examples.csv"), "reports/")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from optimize.pareto import pareto_front
from optimize.tracking import markdown_table

TEST_BUDGET = ["test_verbosity", "test_max_tokens", "test_model", "compiled"]
QUESTIONS_PER_CONTEXT = (1, 2, 3, 5, 10)
COST_UNITS = "sleep-token equivalents"
SLEEP_COLOR, TEST_COLOR = "#1f77b4", "#d62728"


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
        df["use_sleep"] = df["use_sleep"].map(lambda v: str(v).lower() in ("true", "1"))
    for column in _test_budget_columns(df):
        df[column] = df[column].fillna("none") if df[column].dtype == object else df[column]
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


def _no_data(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=11, wrap=True)


# -- 1. Pareto shift ----------------------------------------------------------------------------------------
def pareto_shift_table(configs: pd.DataFrame) -> pd.DataFrame:
    """Every config with its group (sleep-time / test-time only) and whether it is on its group's
    accuracy-vs-test-tokens Pareto front."""
    df = _with_keys(configs)
    rows = []
    for use_sleep, group in df.groupby("use_sleep"):
        points = group[["accuracy", "mean_test_tokens"]].to_numpy().tolist()
        front = set(pareto_front(points, ["maximize", "minimize"]))
        for position, (_, row) in enumerate(group.iterrows()):
            rows.append(
                {
                    "group": "sleep-time" if use_sleep else "test-time only",
                    "config": _label(row),
                    "accuracy": row["accuracy"],
                    "accuracy_ci_low": row.get("accuracy_ci_low"),
                    "accuracy_ci_high": row.get("accuracy_ci_high"),
                    "mean_test_tokens": row["mean_test_tokens"],
                    "cost_per_query": row.get("cost_per_query"),
                    "on_group_front": position in front,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "group",
            "config",
            "accuracy",
            "accuracy_ci_low",
            "accuracy_ci_high",
            "mean_test_tokens",
            "cost_per_query",
            "on_group_front",
        ],
    )


def plot_pareto_shift(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for group, color, marker in (("test-time only", TEST_COLOR, "s"), ("sleep-time", SLEEP_COLOR, "o")):
        rows = table[table["group"] == group]
        if rows.empty:
            continue
        ax.scatter(
            rows["mean_test_tokens"],
            rows["accuracy"] * 100,
            color=color,
            alpha=0.35,
            marker=marker,
            label=f"{group}: all configs",
        )
        front = rows[rows["on_group_front"]].sort_values("mean_test_tokens")
        ax.step(
            front["mean_test_tokens"],
            front["accuracy"] * 100,
            where="post",
            color=color,
            linewidth=2,
            marker=marker,
            label=f"{group}: Pareto front",
        )
    if table.empty:
        _no_data(ax, "no finished configurations")
    ax.set_title("Accuracy vs test-time compute, with and without sleep time")
    ax.set_xlabel("mean test-time tokens per question (tokens)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    if not table.empty:
        ax.legend(loc="lower right")
    return _save(fig, path)


# -- 2. scaling sleep-time compute --------------------------------------------------------------------------
def k_scaling_table(configs: pd.DataFrame) -> pd.DataFrame:
    """Accuracy by k for every test budget where sleep-time configs with at least two k values exist;
    the test-time-only accuracy at the same test budget as a reference."""
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
        budget_label = f"verbosity {match.get('test_verbosity')}, max {match.get('test_max_tokens')} tokens"
        for k, at_k in group.groupby("sleep_samples"):
            best = at_k.sort_values("accuracy", ascending=False).iloc[0]
            rows.append(
                {
                    "test_budget": budget_label,
                    "k": int(k),
                    "accuracy": best["accuracy"],
                    "accuracy_ci_low": best.get("accuracy_ci_low"),
                    "accuracy_ci_high": best.get("accuracy_ci_high"),
                    "sleep_rounds": best.get("sleep_rounds"),
                    "mean_test_tokens": best["mean_test_tokens"],
                    "test_only_accuracy": baseline["accuracy"].max() if len(baseline) else float("nan"),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "test_budget",
            "k",
            "accuracy",
            "accuracy_ci_low",
            "accuracy_ci_high",
            "sleep_rounds",
            "mean_test_tokens",
            "test_only_accuracy",
        ],
    )


def plot_k_scaling(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    colors = plt.get_cmap("tab10")
    for i, (budget, rows) in enumerate(table.groupby("test_budget")):
        rows = rows.sort_values("k")
        color = colors(i % 10)
        low = (rows["accuracy"] - rows["accuracy_ci_low"].fillna(rows["accuracy"])) * 100
        high = (rows["accuracy_ci_high"].fillna(rows["accuracy"]) - rows["accuracy"]) * 100
        ax.errorbar(
            rows["k"],
            rows["accuracy"] * 100,
            yerr=[low, high],
            marker="o",
            color=color,
            capsize=3,
            label=f"sleep time, {budget}",
        )
        baseline = rows["test_only_accuracy"].iloc[0]
        if pd.notna(baseline):
            ax.axhline(
                baseline * 100, color=color, linestyle="--", alpha=0.7, label=f"test-time only, {budget}"
            )
    if table.empty:
        _no_data(
            ax,
            "needs sleep-time configs with at least two k values at one test budget\n"
            "(run `sleeptime sweep --grid k`)",
        )
    else:
        ax.set_xscale("log")
        ticks = sorted(table["k"].unique())
        ax.set_xticks(ticks, [str(k) for k in ticks])
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Scaling sleep-time compute: accuracy vs parallel sleep samples k")
    ax.set_xlabel("sleep-time samples k (rewrites per context, log scale)")
    ax.set_ylabel("accuracy (%), 95% Wilson interval")
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


def amortization_table(
    configs: pd.DataFrame,
    examples: pd.DataFrame,
    *,
    price_ratio: float | None = None,
    questions: tuple[int, ...] = QUESTIONS_PER_CONTEXT,
) -> pd.DataFrame:
    """Cost per query as N grows, for the most accurate sleep-time config and the cheapest test-time-only
    config at least as accurate (or the most accurate one if none is)."""
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
        if len(test):
            as_good = test[test["accuracy"] >= best_sleep["accuracy"]]
            pool = (
                as_good.sort_values("cost_per_query")
                if len(as_good)
                else test.sort_values(["accuracy", "cost_per_query"], ascending=[False, True])
            )
            chosen.append(pool.iloc[0])
    elif len(test):
        chosen.append(test.sort_values("accuracy", ascending=False).iloc[0])
    rows = []
    for row in chosen:
        sleep_per_context = _sleep_tokens_per_context(row, examples)
        for n in questions:
            rows.append(
                {
                    "config": _label(row),
                    "use_sleep": bool(row["use_sleep"]),
                    "accuracy": row["accuracy"],
                    "questions_per_context": n,
                    "mean_test_tokens": row["mean_test_tokens"],
                    "sleep_tokens_per_context": sleep_per_context,
                    "price_ratio": price_ratio,
                    "cost_per_query": price_ratio * row["mean_test_tokens"] + sleep_per_context / n,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "config",
            "use_sleep",
            "accuracy",
            "questions_per_context",
            "mean_test_tokens",
            "sleep_tokens_per_context",
            "price_ratio",
            "cost_per_query",
        ],
    )


def plot_amortization(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for config, rows in table.groupby("config", sort=False):
        use_sleep = bool(rows["use_sleep"].iloc[0])
        ax.plot(
            rows["questions_per_context"],
            rows["cost_per_query"],
            marker="o" if use_sleep else "s",
            color=SLEEP_COLOR if use_sleep else TEST_COLOR,
            label=f"{config} (accuracy {rows['accuracy'].iloc[0] * 100:.1f}%)",
        )
    if table.empty:
        _no_data(ax, "no finished configurations")
    else:
        ax.legend(loc="lower left", fontsize=9)
        ax.set_xticks(sorted(table["questions_per_context"].unique()))
        t = table["price_ratio"].iloc[0]
        ax.set_title(f"Amortizing sleep time over questions per context (test tokens cost {t:g}x)")
    ax.set_xlabel("questions per context N")
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


def predictability_table(
    configs: pd.DataFrame, examples: pd.DataFrame, *, n_buckets: int = 4
) -> pd.DataFrame:
    """Accuracy with sleep time minus accuracy without, per predictability bucket, over matched test budgets
    (the most accurate sleep-time config vs the test-time-only config with the same test budget)."""
    columns = ["bucket", "sleep_accuracy", "test_only_accuracy", "accuracy_gap", "n_examples", "n_pairs"]
    needed = {"config_id", "predictability", "correct", "question_id"}
    if examples.empty or not needed <= set(examples.columns):
        return pd.DataFrame(columns=columns)
    df = _with_keys(configs)
    keys = _test_budget_columns(df)
    examples = examples.copy()
    examples["correct"] = examples["correct"].map(lambda v: str(v).lower() in ("true", "1", "1.0"))
    examples["bucket"] = _buckets(examples["predictability"], n_buckets)
    join = [c for c in ("context_id", "question_id") if c in examples.columns]
    pairs = []
    for _, group in df.groupby(keys):
        sleep, test = group[group["use_sleep"]], group[~group["use_sleep"]]
        if sleep.empty or test.empty:
            continue
        best = sleep.sort_values("accuracy", ascending=False).iloc[0]["config_id"]
        a = examples[examples["config_id"] == best][join + ["bucket", "correct"]]
        b = examples[examples["config_id"] == test.iloc[0]["config_id"]][join + ["correct"]]
        merged = a.merge(b, on=join, suffixes=("_sleep", "_test"))
        if len(merged):
            pairs.append(merged)
    if not pairs:
        return pd.DataFrame(columns=columns)
    matched = pd.concat(pairs, ignore_index=True)
    table = (
        matched.groupby("bucket")
        .agg(
            sleep_accuracy=("correct_sleep", "mean"),
            test_only_accuracy=("correct_test", "mean"),
            n_examples=("correct_sleep", "size"),
        )
        .reset_index()
    )
    table["accuracy_gap"] = table["sleep_accuracy"] - table["test_only_accuracy"]
    table["n_pairs"] = len(pairs)
    return table[columns]


def plot_predictability(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    if table.empty:
        _no_data(
            ax,
            "needs per-example rows with 'predictability' and, at one test budget,\n"
            "configs both with and without sleep time",
        )
    else:
        gaps = table["accuracy_gap"] * 100
        bars = ax.bar(
            table["bucket"].astype(str),
            gaps,
            color=[SLEEP_COLOR if g >= 0 else TEST_COLOR for g in gaps],
            label="sleep time - test time only",
        )
        for bar, n in zip(bars, table["n_examples"], strict=True):
            ax.annotate(
                f"n={n}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom" if bar.get_height() >= 0 else "top",
                fontsize=9,
            )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.legend(loc="best")
        ax.margins(y=0.12)
    ax.set_title("Sleep-time gain by question predictability")
    ax.set_xlabel("question predictability bucket (low to high)")
    ax.set_ylabel("accuracy gap (percentage points)")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# -- all together -------------------------------------------------------------------------------------------
def build_tables(configs: pd.DataFrame, examples: pd.DataFrame) -> dict[str, pd.DataFrame]:
    # A configuration evaluated by several steps (a sweep and a search trial) is one point, not several.
    configs = configs.drop_duplicates("config_id", keep="first")
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
    from optimize.search import SearchError

    required = {"config_id", "use_sleep", "accuracy", "mean_test_tokens", "cost_per_query", "test_verbosity"}
    missing = sorted(required - set(configs.columns))
    if configs.empty or missing:
        raise SearchError(
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
        md = markdown_table(table) if len(table) else "(not enough data for this view)\n"
        (out_dir / f"{name}.md").write_text(md)
        paths[name] = {"png": png, "csv": out_dir / f"{name}.csv", "md": out_dir / f"{name}.md"}
        index += [f"## {name.replace('_', ' ')}", "", f"![{name}]({name}.png)", "", md]
    (out_dir / "report.md").write_text("\n".join(index))
    paths["index"] = out_dir / "report.md"
    return paths
