"""Compiled programs against the hand-written one, on the same held-out questions: one table.

Each compiled variant is a saved program (its manifest says how it was compiled and what compiling cost)
and a results JSONL from ``sleeptime evaluate --program DIR --out FILE``; the hand-written program is a
results JSONL of the same Budget without ``--program``. The table pairs every variant with the hand-written
rows on the questions both answered, with context- and template-clustered bootstrap intervals.

Usage::

    python3 -m optimize.compile_table --baseline rows/handwritten.jsonl \\
        --variant bootstrap=programs/bootstrap:rows/bootstrap.jsonl --variant ... --out table.md
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = ("variant", "n", "contexts", "templates", "accuracy", "ci_context", "test_tokens", "difference",
           "diff_ci_context", "diff_ci_template", "significant", "compile_calls", "compile_tokens",
           "compile_minutes", "truncated", "parse_errors", "errors")


def _rows(path: str | Path) -> pd.DataFrame:
    from optimize.evaluate import read_results

    rows = read_results(path)
    if not rows:
        raise SystemExit(f"error: {path} holds no rows; run `sleeptime evaluate ... --out {path}` first")
    return pd.DataFrame(rows)


def _manifest(program_dir: str | Path | None) -> dict[str, Any]:
    from programs.persistence import read_bundle

    return read_bundle(program_dir)[0] if program_dir else {}


def _pct(value: float) -> float:
    return round(100 * value, 1) if value == value else math.nan


def variant_row(name: str, rows: pd.DataFrame, baseline: pd.DataFrame | None,
                manifest: dict[str, Any]) -> dict[str, Any]:
    """One line of the table: accuracy and tokens of ``rows``, paired against ``baseline`` when given.

    Example:
        >>> rows = pd.DataFrame({"question_id": [1, 2, 3, 4], "context_id": ["a", "a", "b", "b"],
        ...                      "template_id": ["t", "t", "u", "u"], "correct": [1, 1, 1, 0],
        ...                      "test_completion_tokens": [10, 10, 12, 12]})
        >>> line = variant_row("x", rows, rows.assign(correct=[0, 1, 1, 0]), {})
        >>> line["accuracy"], line["difference"], line["test_tokens"]
        (75.0, 25.0, 11.0)
    """
    from optimize.analysis import failure_rates
    from optimize.metrics import accuracy_intervals, failed_rows, paired_bootstrap

    ok = rows[~failed_rows(rows)]
    acc = accuracy_intervals(ok)
    line: dict[str, Any] = {
        "variant": name, "n": acc["n"], "contexts": acc["n_contexts"], "templates": acc["n_templates"],
        "accuracy": _pct(acc["accuracy"]),
        "ci_context": f"[{_pct(acc['ci_low_context'])}, {_pct(acc['ci_high_context'])}]",
        "test_tokens": round(float(ok["test_completion_tokens"].mean()), 1),
        "errors": int(failed_rows(rows).sum()),
    }
    rates = failure_rates(rows)
    line["truncated"] = _pct(rates["truncation_rate"])
    line["parse_errors"] = rates["parse_failures"]
    if baseline is not None:
        paired = paired_bootstrap(ok, baseline[~failed_rows(baseline)])
        line.update(difference=_pct(paired["difference"]),
                    diff_ci_context=f"[{_pct(paired['ci_low']):+}, {_pct(paired['ci_high']):+}]",
                    diff_ci_template=f"[{_pct(paired['ci_low_template']):+}, "
                                     f"{_pct(paired['ci_high_template']):+}]",
                    significant=("context and template" if paired["significant_template"] else "context")
                    if paired["significant"] else "no")
    cost = (manifest.get("compiled_with") or {}).get("cost") or {}
    if cost:
        line.update(compile_calls=cost.get("calls"), compile_tokens=cost.get("tokens"),
                    compile_minutes=round(float(cost.get("seconds", 0)) / 60, 1))
    return line


def compile_table(baseline: str | Path, variants: dict[str, tuple[str | None, str]]) -> pd.DataFrame:
    """The table: the hand-written baseline first, then each ``name -> (program_dir, rows_path)``."""
    base = _rows(baseline)
    lines = [variant_row("hand-written", base, None, {})]
    for name, (program_dir, rows_path) in variants.items():
        lines.append(variant_row(name, _rows(rows_path), base, _manifest(program_dir)))
    return pd.DataFrame(lines).reindex(columns=list(COLUMNS))


def markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (no extra dependency)."""
    cells = table.astype(object).where(table.notna(), "")
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def _variant(text: str) -> tuple[str, tuple[str | None, str]]:
    name, _, rest = text.partition("=")
    program_dir, _, rows = rest.rpartition(":")
    if not name or not rows:
        raise argparse.ArgumentTypeError(f"expected NAME=PROGRAM_DIR:ROWS.jsonl, got {text!r}")
    return name, (program_dir or None, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m optimize.compile_table",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="results JSONL of the hand-written program")
    parser.add_argument("--variant", type=_variant, action="append", default=[],
                        help="NAME=PROGRAM_DIR:ROWS.jsonl (repeatable)")
    parser.add_argument("--out", default=None, help="write the table as markdown here (and .csv beside it)")
    args = parser.parse_args(argv)
    table = compile_table(args.baseline, dict(args.variant))
    text = markdown(table)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        table.to_csv(Path(args.out).with_suffix(".csv"), index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
