"""The sleep-compute scaling figure: accuracy against sleep tokens per context, from a compare table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from optimize.reports.compare import interval_bounds
from optimize.reports.figures import _label_points, _not_run, _pyplot, _save


def plot_sleep_scaling(table: pd.DataFrame, path: Path, baseline: str | None = None) -> Path:
    """Accuracy against sleep tokens per context for the rows of a compare table
    (:func:`optimize.reports.compare.comparison_table`), with each run's context-clustered interval; runs
    without a sleep phase are drawn as horizontal lines (the test-time-only comparators), ``baseline`` dashed.

    Example:
        >>> import tempfile
        >>> table = pd.DataFrame({"variant": ["notes", "compute", "test-only v1"],
        ...                       "accuracy": [28.0, 35.0, 39.5],
        ...                       "ci_context": ["[21.0, 35.3]", "[28.0, 42.0]", "[34.3, 44.8]"],
        ...                       "sleep_tokens": [124.0, 430.0, float("nan")]})
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     plot_sleep_scaling(table, Path(folder) / "s.png").name
        's.png'
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 6.5))
    sleep = table[table["sleep_tokens"].notna()].sort_values("sleep_tokens")
    colors = plt.get_cmap("tab10")
    if sleep.empty:
        _not_run(ax, "needs runs with a sleep phase (rows with sleep tokens)", "Scaling sleep-time compute")
        return _save(fig, path)
    # One colour and one connecting line per strategy (the variant's first word: "compute k=4" -> compute), so
    # each strategy's own curve over its spend reads apart from the others.
    strategy = sleep["variant"].astype(str).str.split().str[0]
    points = []
    for index, (name, runs) in enumerate(sleep.groupby(strategy, sort=False)):
        color = colors(index % 10)
        bounds = [interval_bounds(text) for text in runs["ci_context"]]
        yerr = [[acc - low for acc, (low, _) in zip(runs["accuracy"], bounds, strict=True)],
                [high - acc for acc, (_, high) in zip(runs["accuracy"], bounds, strict=True)]]
        ax.errorbar(runs["sleep_tokens"], runs["accuracy"], yerr=yerr, fmt="o-" if len(runs) > 1 else "o",
                    capsize=3, color=color, linewidth=1, label=f"sleep time: {name} (test verbosity as run)")
        points += [(r.sleep_tokens, r.accuracy, str(r.variant), color) for r in runs.itertuples()]
    _label_points(ax, points)
    others = table[table["sleep_tokens"].isna()]
    # Runs at the same accuracy share one line (one drawn over another would hide it) and one legend entry.
    first = strategy.nunique()
    for index, (accuracy, same) in enumerate(others.groupby("accuracy", sort=False), start=first):
        names = []
        for row in same.itertuples():
            tokens = getattr(row, "test_tokens", float("nan"))
            names.append(f"{row.variant}, {tokens:.0f} test tokens" if pd.notna(tokens) else str(row.variant))
        style = "--" if baseline in set(same["variant"]) else ":"
        ax.axhline(accuracy, color=colors(index % 10), linestyle=style,
                   label="test-time only: " + " = ".join(names))
    ax.set_xscale("log")
    ax.margins(x=0.15)
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    # A log axis over less than a decade has no labelled ticks of its own: label the points' own spends.
    ticks: list[float] = []
    for spend in sorted(set(sleep["sleep_tokens"].round())):
        if not ticks or spend > ticks[-1] * 1.15:  # closer labels would print over each other
            ticks.append(spend)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.xaxis.set_minor_locator(NullLocator())
    # Below the axes: the test-time-only entries name their tokens and would squeeze the plot from the side.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize="small", frameon=False)
    ax.set_title("Scaling sleep-time compute: accuracy vs sleep tokens per context")
    ax.set_xlabel("generated sleep-time tokens per context (log scale)")
    ax.set_ylabel("accuracy (%), 95% interval by context")
    ax.grid(alpha=0.3)
    return _save(fig, path)
