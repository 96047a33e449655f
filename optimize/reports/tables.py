"""The result tables of an experiment and what its MLflow parent run shows: configs with their Pareto front,
the distinct-budget front as a table and a figure, per-example rows and the report views.

Example::

    from optimize.reports.tables import configs_table, distinct_front_table
    configs = configs_table(rows)                 # rows: one dict per evaluated Budget
    print(distinct_front_table(configs)[["label", "accuracy", "mean_test_tokens"]])
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from optimize.errors import UserError
from optimize.tracking.runs import Tracker

# What every experiment optimizes, in this order: the columns a front is computed on.
OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("accuracy", "maximize"),
    ("mean_test_tokens", "minimize"),
    ("cost_per_query", "minimize"),
)

def configs_table(rows: Sequence[Mapping[str, Any]]):
    """A configs DataFrame with ``on_front`` marking its Pareto front (objectives of :data:`OBJECTIVES`)."""
    import pandas as pd

    from optimize.reports.pareto import pareto_front

    df = pd.DataFrame(list(rows))
    if len(df):
        front = pareto_front(df[[n for n, _ in OBJECTIVES]].to_numpy().tolist(), [d for _, d in OBJECTIVES])
        df["on_front"] = False
        df.loc[df.index[front], "on_front"] = True
    return df


def distinct_front_table(configs):
    """The Pareto-front rows, most accurate first, one per distinct Budget (a Budget run twice is one)."""
    if len(configs) == 0 or "on_front" not in configs:
        return configs.iloc[0:0]
    front = configs[configs["on_front"].astype(bool)].sort_values("accuracy", ascending=False)
    return front.drop_duplicates(subset=["config_id"]).reset_index(drop=True)



# -- result tables -------------------------------------------------------------------------------------------
def write_tables(configs, results_dir: Path) -> Path:
    """``configs.csv`` (+ ``.md``), ``examples.csv`` (every config's rows) and ``meta.json`` in a folder."""
    import pandas as pd

    from optimize.markdown import markdown_table
    from programs.files import replace_text

    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    replace_text(results_dir / "configs.csv", configs.to_csv(index=False))
    replace_text(results_dir / "configs.md",
                  markdown_table(configs) if len(configs) else "(no finished configs)\n")
    frames = []
    if len(configs):
        for config_id in configs["config_id"].unique():
            path = results_dir / "frames" / f"{config_id}.csv"
            if path.exists():
                frames.append(pd.read_csv(path))
    examples = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["config_id"])
    replace_text(results_dir / "examples.csv", examples.to_csv(index=False))
    replace_text(results_dir / "meta.json", json.dumps({"written_at": time.time()}))
    return results_dir


def read_tables(results_dir: str | Path):
    """``(configs, examples)`` of a folder :func:`write_tables` wrote (examples empty when absent); a
    missing ``configs.csv`` or an unreadable table is a :class:`UserError` naming the file."""
    import pandas as pd

    results_dir = Path(results_dir)
    configs_path = results_dir / "configs.csv"
    if not configs_path.exists():
        raise UserError(f"{configs_path} not found; --results must be a search/sweep results directory")
    examples_path = results_dir / "examples.csv"
    return (_read_table(configs_path),
            _read_table(examples_path) if examples_path.exists() else pd.DataFrame())


def _read_table(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise UserError(f"{path} is not a readable CSV table ({problem}); --results must be a search/sweep "
                        "results directory") from None


FRONT_COLUMNS = ["label", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "mean_test_tokens",
                 "mean_sleep_tokens_amortized", "cost_per_query", "n", "errors", "config_id"]


def plot_front(configs, path: Path) -> Path:
    """Accuracy (95% interval) against test tokens: every configuration grey and labelled, the distinct front
    blue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from optimize.reports.figures import error_bars  # lazily, like write_report in log_parent_results

    front = distinct_front_table(configs)
    on_front = set(front["config_id"].astype(str)) if len(front) else set()
    rest = configs[~configs["config_id"].astype(str).isin(on_front)]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for table, color, size, label in ((rest, "#aaaaaa", 7, "other configurations (95% interval)"),
                                      (front, "#1f77b4", 8, "Pareto front (95% interval)")):
        if not len(table):
            continue
        bars = error_bars(table, "accuracy", "accuracy_ci_low", "accuracy_ci_high", scale=1.0)
        ax.errorbar(table["mean_test_tokens"], table["accuracy"], yerr=bars, fmt="o", color=color, capsize=3,
                    label=label)
        for _, row in table.iterrows():
            ax.annotate(str(row.get("label", row["config_id"])), (row["mean_test_tokens"], row["accuracy"]),
                        textcoords="offset points", xytext=(5, 5), fontsize=size, color="#333333")
    ax.set_xlabel("generated test-time tokens per question")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("Distinct-budget Pareto front")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def log_parent_results(tracker: Tracker, parent_run_id: str, results_dir: Path) -> None:
    """Parent run artifacts: result tables, per-example rows, the distinct Pareto front and report figures."""
    import pandas as pd

    results_dir = Path(results_dir)
    configs_path = results_dir / "configs.csv"
    configs = pd.read_csv(configs_path) if configs_path.stat().st_size > 1 else pd.DataFrame()
    for name in ("configs.csv", "configs.md", "examples.csv"):
        tracker.log_file(parent_run_id, results_dir / name, "results")
    if len(configs) == 0:
        return
    front = distinct_front_table(configs)
    table = front[[c for c in FRONT_COLUMNS if c in front.columns]]
    tracker.log_dataframe(parent_run_id, table, "pareto_front.csv")
    tracker.log_dataframe(parent_run_id, table, "pareto_front.md")
    tracker.log_file(parent_run_id, plot_front(configs, results_dir / "pareto_front.png"))
    best = configs.sort_values("accuracy", ascending=False).iloc[0]
    tracker.log_metrics(
        parent_run_id,
        {
            "best_accuracy": float(best["accuracy"]),
            "n_configs": float(len(configs)),
            "n_pareto": float(len(front)),
        },
    )
    # report imports search's error type today; imported lazily so neither module imports the other.
    from optimize.reports.figures import write_report

    report_dir = results_dir / "report"
    write_report(configs, pd.read_csv(results_dir / "examples.csv"), report_dir)
    tracker.log_dir(parent_run_id, report_dir, "report")
