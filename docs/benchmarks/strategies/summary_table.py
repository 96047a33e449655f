"""Issue 25's closing table: every strategy by answerer on both held-out sets, from the ``compare`` tables.

    python3 docs/benchmarks/strategies/summary_table.py    # tables.sh runs it last

Each row is copied from the ``compare`` table that pairs it (``tables.sh`` makes those from the committed
rows), so every number here has one source a reader can open. A table that does not exist yet (its runs are
not complete) is named under the table instead of being left out silently. Writes ``summary-table.md`` and
``summary-table.csv`` beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from optimize.markdown import markdown_table

HERE = Path(__file__).resolve().parent

SOURCES: list[tuple[str, str, tuple[str, ...], list[str] | None]] = [
    # (held-out set, answerer, compare tables: the first that exists, its variants to take: None = all)
    ("test", "1.5B", ("scaling-table.csv",), None),
    ("test", "1.5B", ("test-table.csv",), ["test-only v0", "test-only v1", "test-only v2"]),
    ("test", "0.5B", ("test-table-0.5b.csv",), None),
    # Until the union curve is complete its scaling table is not made; the first table has the rest.
    ("GSM-Symbolic", "1.5B", ("gsm-symbolic-scaling-table.csv", "gsm-symbolic-table.csv"), None),
    ("GSM-Symbolic", "0.5B", ("gsm-symbolic-table-0.5b.csv",), None),
]

COLUMNS = {"variant": "strategy", "sleep_tokens": "sleep tokens / context",
           "sleep_seconds": "sleep s / context", "coverage": "coverage %", "accuracy": "accuracy %",
           "ci_context": "[by context]",
           "ci_template": "[by template]", "lenient": "read leniently %", "test_tokens": "test tokens",
           "difference": "paired difference", "diff_ci_context": "[paired, by context]"}


def summary(here: Path = HERE) -> tuple[pd.DataFrame, list[str]]:
    """The closing table and the source tables not made yet."""
    parts, missing = [], []
    for held_out, answerer, tables, variants in SOURCES:
        table = next((name for name in tables if (here / name).exists()), None)
        if table is None:
            missing.append(f"{held_out}, {answerer} answers: {tables[0]} (its runs are not complete)")
            continue
        path = here / table
        if table != tables[0]:
            missing.append(f"{held_out}, {answerer} answers: {tables[0]} (its runs are not complete; "
                           f"{table} stands in)")
        rows = pd.read_csv(path, dtype={"ci_context": str, "ci_template": str, "diff_ci_context": str})
        baseline = rows["variant"].iloc[0]
        if variants is not None:
            absent = sorted(set(variants) - set(rows["variant"]))
            if absent:
                raise SystemExit(f"{path}: no variant {absent[0]!r}; tables.sh names them, check it")
            rows = rows[rows["variant"].isin(variants)]
        rows = rows[list(COLUMNS)].rename(columns=COLUMNS)
        rows.insert(len(rows.columns) - 2, "against", baseline)
        rows.loc[rows["strategy"] == baseline, "against"] = ""
        rows.insert(0, "source", table.removesuffix(".csv"))
        rows.insert(0, "answerer", answerer)
        rows.insert(0, "held-out set", held_out)
        parts.append(rows)
    return pd.concat(parts, ignore_index=True), missing


def main(here: Path = HERE) -> int:
    frame, missing = summary(here)
    frame.to_csv(here / "summary-table.csv", index=False)
    notes = ["", "Held-out sets: test is our test split (238 questions, 63 contexts, 9 templates), "
             "GSM-Symbolic 147 questions, one per third-party template (so its two intervals coincide). "
             "Every row is its source table's row (`<source>.md` beside this file): sleep tokens are "
             "generated tokens per context, test tokens generated per question, coverage the share of "
             "questions whose notes state the gold number, the paired difference is against the row "
             "`against` names, on the same questions. Made by `summary_table.py` (tables.sh)."]
    notes += [f"- not yet: {item}" for item in missing]
    (here / "summary-table.md").write_text(markdown_table(frame, None, missing="") + "\n".join(notes) + "\n")
    print(f"written: {here / 'summary-table.md'}, .csv" + (f" ({len(missing)} source(s) not made yet)"
                                                             if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
