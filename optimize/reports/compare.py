"""Rows of several runs against a baseline's, on the same questions: one table with paired intervals.

``sleeptime compare BASELINE.jsonl OTHER.jsonl ...`` reads results files written by ``sleeptime evaluate
--out`` and pairs each with the baseline on the questions both answered: accuracy with its context-clustered
interval, test tokens, truncation and parse failures, and the paired difference with context- and
template-clustered bootstrap intervals. Every variant is compared with the one baseline on the same
questions, so the table is a family of comparisons: beside each 95% interval stands a family-wise one
(Bonferroni: each interval at 1 - 0.05/m for m variants), and "significant" is family-wise (the
family-wise context-clustered interval excludes zero). A compiled program's rows can name the program
folder (``NAME=PROGRAM_DIR:ROWS.jsonl``) to add what compiling cost, from its manifest.
``paired`` counts the questions both
answered; ``unpaired`` the variant's and the baseline's questions that the other did not answer (failed
rows included), left out of the difference. ``lenient`` also counts unparsed replies that state the gold
number; ``coverage`` is the share of questions whose learned context states the gold number (rows of
``evaluate`` keep the notes); ``sleep_tokens`` / ``sleep_seconds`` are generated tokens and seconds per
context of making its learned context; ``repairs`` / ``fallbacks`` count the sleep-time programs repaired
from their error and the samples that fell back to text notes (strategies that write programs). ``server``
names the local server's settings each run recorded; a
variant made under other settings than the baseline's is listed but not paired (slots and speculative
decoding change some greedy answers, so such a difference would measure two changes at once).

Usage::

    sleeptime compare rows/handwritten.jsonl rows/other-prompt.jsonl
    sleeptime compare rows/handwritten.jsonl bootstrap=programs/bootstrap:rows/bootstrap.jsonl --out table.md
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from optimize.errors import UserError
from optimize.reports.server_settings import comparable, describe, recorded_settings

COLUMNS = ("variant", "server", "n", "contexts", "templates", "accuracy", "ci_context", "ci_template",
           "lenient", "coverage", "test_tokens", "test_prompt_tokens", "sleep_tokens", "sleep_seconds",
           "repairs", "fallbacks", "paired", "unpaired", "difference", "diff_ci_context", "diff_ci_template",
           "family_ci_context", "family_ci_template", "significant", "compile_calls", "compile_tokens",
           "compile_minutes", "truncated", "parse_errors", "errors")
FAMILY_ALPHA = 0.05


def family_note(comparisons: int) -> str:
    """The sentence under a table of ``comparisons`` variants against one baseline: what its family-wise
    intervals and "significant" mean.

    Example:
        >>> family_note(4)[:77]
        'family-wise: Bonferroni over 4 comparisons with the baseline (each at 98.75%)'
    """
    level = 100 * (1 - FAMILY_ALPHA / max(comparisons, 1))
    plural = "s" if comparisons != 1 else ""
    return (f"family-wise: Bonferroni over {comparisons} comparison{plural} with the baseline (each at "
            f"{level:g}%): family_ci_* are those intervals on the same questions; significant = the "
            "family-wise context interval excludes zero (context and template: both do); diff_ci_* are "
            "each comparison's own 95% intervals")


class CompareError(UserError):
    """Rows that cannot be compared: a missing or empty results file, or no question in common.

    Example:
        >>> try:
        ...     _rows("no/such/rows.jsonl")
        ... except CompareError as exc:
        ...     print(exc)
        no/such/rows.jsonl does not exist; write it with `sleeptime evaluate ... --out no/such/rows.jsonl`
    """


def _rows(path: str | Path) -> pd.DataFrame:
    from optimize.reports.rows import read_results

    if not Path(path).is_file():
        raise CompareError(f"{path} does not exist; write it with `sleeptime evaluate ... --out {path}`")
    rows = read_results(path)
    if not rows:
        raise CompareError(f"{path} holds no rows; run `sleeptime evaluate ... --out {path}` first")
    return pd.DataFrame(rows)


def _manifest(program_dir: str | Path | None) -> dict[str, Any]:
    from programs.persistence import read_bundle

    return read_bundle(program_dir)[0] if program_dir else {}


def interval_bounds(text: str) -> tuple[float, float]:
    """An interval cell of a compare table read back as numbers.

    Example:
        >>> interval_bounds("[-4.1, +5.4]")
        (-4.1, 5.4)
    """
    low, high = (float(part) for part in str(text).strip("[]").split(","))
    return low, high


def _pct(value: float) -> float:
    return round(100 * value, 1) if value == value else math.nan


def notes_summary(rows: pd.DataFrame) -> dict[str, Any]:
    """Lenient accuracy, coverage of the notes, prompt tokens per answer, and sleep cost per context.

    Example:
        >>> rows = pd.DataFrame({"context_id": ["a", "a", "b"], "correct": [True, False, False],
        ...                      "parse_error": [False, True, False], "reply_correct": [None, True, None],
        ...                      "notes_state_gold": [True, True, False],
        ...                      "test_prompt_tokens": [100, 100, 130],
        ...                      "sleep_completion_tokens": [40, 40, 60],
        ...                      "sleep_seconds": [4.0, 4.0, 6.0]})
        >>> summary = notes_summary(rows)
        >>> summary["lenient"], summary["coverage"], summary["sleep_tokens"]
        (66.7, 66.7, 50.0)
    """
    from optimize.reports.analysis import lenient_correct
    from optimize.reports.coverage import notes_coverage

    lenient = lenient_correct(rows)
    first = rows.drop_duplicates("context_id")
    sleep_tokens = first.get("sleep_completion_tokens", pd.Series(dtype=float))
    made = {}
    for column, name in (("sleep_repairs", "repairs"), ("sleep_fallbacks", "fallbacks")):
        counts = rows[column].dropna() if column in rows else pd.Series(dtype=float)
        made[name] = int(counts.sum()) if len(counts) else math.nan
    return {**made, "lenient": _pct(float(lenient.mean())) if len(rows) else math.nan,
            "coverage": _pct(notes_coverage(rows)),
            "test_prompt_tokens": round(float(rows["test_prompt_tokens"].mean()), 1)
            if "test_prompt_tokens" in rows else math.nan,
            "sleep_tokens": round(float(sleep_tokens.mean()), 1) if sleep_tokens.sum() else math.nan,
            "sleep_seconds": round(float(first["sleep_seconds"].mean()), 1)
            if "sleep_seconds" in first and sleep_tokens.sum() else math.nan}


def variant_row(name: str, rows: pd.DataFrame, baseline: pd.DataFrame | None,
                manifest: dict[str, Any], *, comparisons: int = 1) -> dict[str, Any]:
    """One line of the table: accuracy and tokens of ``rows``, paired against ``baseline`` when given.

    ``comparisons`` is the number of variants compared with the same baseline: the family-wise intervals
    are Bonferroni's (each at 1 - 0.05/comparisons) and ``significant`` is read from them.

    Example:
        >>> rows = pd.DataFrame({"question_id": [1, 2, 3, 4], "context_id": ["a", "a", "b", "b"],
        ...                      "template_id": ["t", "t", "u", "u"], "correct": [1, 1, 1, 0],
        ...                      "test_completion_tokens": [10, 10, 12, 12]})
        >>> line = variant_row("x", rows, rows.assign(correct=[0, 1, 1, 0]), {})
        >>> line["accuracy"], line["difference"], line["test_tokens"], line["paired"]
        (75.0, 25.0, 11.0, 4)
    """
    from optimize.reports.analysis import failure_rates
    from optimize.reports.metrics import accuracy_intervals, failed_rows, paired_bootstrap

    ok = rows[~failed_rows(rows)]
    acc = accuracy_intervals(ok)
    line: dict[str, Any] = {
        "variant": name, "n": acc["n"], "contexts": acc["n_contexts"], "templates": acc["n_templates"],
        "accuracy": _pct(acc["accuracy"]),
        "ci_context": f"[{_pct(acc['ci_low_context'])}, {_pct(acc['ci_high_context'])}]",
        "ci_template": f"[{_pct(acc['ci_low_template'])}, {_pct(acc['ci_high_template'])}]",
        "test_tokens": round(float(ok["test_completion_tokens"].mean()), 1),
        "errors": int(failed_rows(rows).sum()),
        **notes_summary(ok),
    }
    rates = failure_rates(rows)
    line["truncated"] = _pct(rates["truncation_rate"])
    line["parse_errors"] = rates["parse_failures"]
    if baseline is not None:
        try:
            paired = paired_bootstrap(ok, baseline[~failed_rows(baseline)], unmatched="report")
        except ValueError as exc:  # no question in common
            raise CompareError(f"{name}: {exc} (were both run with the same --data and --split?)") from exc
        family = paired_bootstrap(ok, baseline[~failed_rows(baseline)],
                                  confidence=1 - FAMILY_ALPHA / max(comparisons, 1), unmatched="report")
        line.update(paired=paired["n"], unpaired=f"{paired['unmatched_a']} / {paired['unmatched_b']}",
                    difference=_pct(paired["difference"]),
                    diff_ci_context=f"[{_pct(paired['ci_low']):+}, {_pct(paired['ci_high']):+}]",
                    diff_ci_template=f"[{_pct(paired['ci_low_template']):+}, "
                                     f"{_pct(paired['ci_high_template']):+}]",
                    family_ci_context=f"[{_pct(family['ci_low']):+}, {_pct(family['ci_high']):+}]",
                    family_ci_template=f"[{_pct(family['ci_low_template']):+}, "
                                       f"{_pct(family['ci_high_template']):+}]",
                    significant=("context and template" if family["significant_template"] else "context")
                    if family["significant"] else "no")
    cost = (manifest.get("compiled_with") or {}).get("cost") or {}
    if cost:
        line.update(compile_calls=cost.get("calls"), compile_tokens=cost.get("tokens"),
                    compile_minutes=round(float(cost.get("seconds", 0)) / 60, 1))
    return line


def _same_settings(a: dict | None, b: dict | None) -> bool:
    """Runs pair when both recorded the same local-server settings, or neither ran on a local server."""
    return (a is None and b is None) or comparable(a, b)


def _settings_label(settings: dict | None) -> str:
    return describe(settings) if settings else ""


def comparison_table(baseline: str | Path, variants: dict[str, tuple[str | None, str]], *,
                     baseline_name: str = "baseline") -> pd.DataFrame:
    """The table: the baseline first, then each ``name -> (program_dir or None, rows_path)`` paired with it.

    Example:
        >>> import tempfile, json
        >>> folder = Path(tempfile.mkdtemp())
        >>> for name, correct in (("a", [1, 0, 1, 0]), ("b", [1, 1, 1, 0])):
        ...     rows = [{"question_id": i, "context_id": f"c{i // 2}", "correct": c,
        ...              "test_completion_tokens": 9} for i, c in enumerate(correct)]
        ...     _ = (folder / f"{name}.jsonl").write_text("\\n".join(json.dumps(r) for r in rows) + "\\n")
        >>> table = comparison_table(folder / "a.jsonl", {"b": (None, folder / "b.jsonl")})
        >>> table[["variant", "accuracy", "paired", "difference"]].to_dict("records")[1]
        {'variant': 'b', 'accuracy': 75.0, 'paired': 4, 'difference': 25.0}
    """
    base = _rows(baseline)
    base_settings = recorded_settings(baseline)
    lines = [{**variant_row(baseline_name, base, None, {}), "server": _settings_label(base_settings)}]
    for name, (program_dir, rows_path) in variants.items():
        settings = recorded_settings(rows_path)
        pairable = _same_settings(settings, base_settings)
        line = variant_row(name, _rows(rows_path), base if pairable else None, _manifest(program_dir),
                           comparisons=len(variants))
        line["server"] = _settings_label(settings)
        if not pairable:
            line["significant"] = (f"not paired: made at {describe(settings)}, the baseline at "
                                   f"{describe(base_settings)}; rerun one under the other's settings")
        lines.append(line)
    table = pd.DataFrame(lines).reindex(columns=list(COLUMNS))
    table.attrs["note"] = family_note(len(variants))
    return table.astype({"paired": "Int64"})  # counts stay integers beside the baseline's empty cell
