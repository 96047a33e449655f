"""Issue 25's closing table (docs/benchmarks/strategies/summary_table.py) copies rows; it computes none."""

from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "strategies" / "summary_table.py"


def _compare_table(path: Path, variants: list[str]) -> None:
    rows = [{"variant": name, "sleep_tokens": 100.0 * i, "sleep_seconds": 5.0 * i, "coverage": 40.0 + i,
             "accuracy": 30.0 + i, "ci_context": "[20.0, 40.0]", "ci_template": "[10.0, 50.0]",
             "lenient": 31.0 + i, "test_tokens": 15.0, "difference": float(i) if i else None,
             "diff_ci_context": "[-1.0, +3.0]" if i else None, "server": "1 slot"}
            for i, name in enumerate(variants)]
    pd.DataFrame(rows).to_csv(path, index=False)


def test_the_closing_table_copies_each_source_row_and_names_what_is_not_made_yet(tmp_path: Path) -> None:
    script = runpy.run_path(str(SCRIPT))
    _compare_table(tmp_path / "scaling-table.csv", ["notes k=1", "union k=8"])
    _compare_table(tmp_path / "test-table.csv",
                   ["test-only v3", "test-only v0", "test-only v1", "test-only v2", "compute"])
    _compare_table(tmp_path / "gsm-symbolic-table.csv", ["test-only v3", "compute"])

    assert script["main"](tmp_path) == 0
    table = pd.read_csv(tmp_path / "summary-table.csv", dtype=str, keep_default_na=False)
    union = table[table["strategy"] == "union k=8"].iloc[0]
    assert (union["accuracy %"], union["against"], union["paired difference"]) == ("31.0", "notes k=1", "1.0")
    # Only the named variants of the test table, each paired against that table's own baseline.
    assert list(table[table["source"] == "test-table"]["strategy"]) == ["test-only v0", "test-only v1",
                                                                         "test-only v2"]
    assert set(table[table["source"] == "test-table"]["against"]) == {"test-only v3"}
    markdown = (tmp_path / "summary-table.md").read_text()
    stand_in = "gsm-symbolic-scaling-table.csv (its runs are not complete; gsm-symbolic-table.csv stands in)"
    assert stand_in in markdown
    assert "test-table-0.5b.csv (its runs are not complete)" in markdown


def test_a_source_table_without_a_named_variant_is_refused_by_name(tmp_path: Path) -> None:
    script = runpy.run_path(str(SCRIPT))
    _compare_table(tmp_path / "test-table.csv", ["test-only v3", "test-only v0"])
    with pytest.raises(SystemExit, match="test-table.csv: no variant 'test-only v1'"):
        script["summary"](tmp_path)
