"""``sleeptime compare``: results files paired against a baseline's on the same questions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from optimize.cli.app import main
from optimize.reports.compare import CompareError, comparison_table


def write_rows(path: Path, correct: list[int], *, prefix: str = "q", tokens: int = 10, **extra) -> Path:
    rows = [{"question_id": f"{prefix}{i}", "context_id": f"c{i // 3}", "template_id": f"t{i // 6}",
             "correct": bool(c), "test_completion_tokens": tokens, **extra} for i, c in enumerate(correct)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_better_run_is_paired_with_the_baseline_and_called_significant(tmp_path, capsys):
    base = write_rows(tmp_path / "base.jsonl", [0] * 60)
    better = write_rows(tmp_path / "better.jsonl", [1] * 45 + [0] * 15, tokens=4)
    same = write_rows(tmp_path / "same.jsonl", [0] * 60)
    out = tmp_path / "table.md"

    assert main(["compare", str(base), str(better), f"also={same}", "--out", str(out)]) == 0

    table = pd.read_csv(out.with_suffix(".csv")).set_index("variant")
    assert list(table.index) == ["baseline", "better", "also"]
    assert table.loc["better", "difference"] == 75.0 and table.loc["better", "paired"] == 60
    assert table.loc["better", "significant"] != "no" and table.loc["also", "significant"] == "no"
    assert table.loc["better", "test_tokens"] == 4.0
    assert "| better |" in capsys.readouterr().out and "| better |" in out.read_text()


def test_a_run_made_under_other_server_settings_is_listed_but_not_paired(tmp_path):
    def with_settings(path: Path, slots: int) -> Path:
        settings = {"server": {"slots": slots, "speculative": "none"}}
        Path(str(path) + ".config.json").write_text(json.dumps(settings))
        return path

    base = with_settings(write_rows(tmp_path / "base.jsonl", [0] * 12), 1)
    same = with_settings(write_rows(tmp_path / "same.jsonl", [1] * 12), 1)
    other = with_settings(write_rows(tmp_path / "other.jsonl", [1] * 12), 4)

    table = comparison_table(base, {"same": (None, same), "other": (None, other)}).set_index("variant")

    assert table.loc["same", "paired"] == 12 and table.loc["same", "server"] == "1 slot, speculative none"
    assert pd.isna(table.loc["other", "paired"]) and pd.isna(table.loc["other", "difference"])
    assert table.loc["other", "significant"].startswith("not paired: made at 4 slots")


def test_only_the_questions_both_answered_are_paired(tmp_path):
    base = write_rows(tmp_path / "base.jsonl", [0] * 12)
    fewer = write_rows(tmp_path / "fewer.jsonl", [1] * 6)
    table = comparison_table(base, {"fewer": (None, fewer)}).set_index("variant")
    assert table.loc["fewer", "paired"] == 6 and table.loc["baseline", "n"] == 12


@pytest.mark.parametrize("case", ["missing", "empty", "disjoint"])
def test_rows_that_cannot_be_compared_name_the_file_and_the_fix(tmp_path, capsys, case):
    base = write_rows(tmp_path / "base.jsonl", [0, 1, 1])
    other = tmp_path / "other.jsonl"
    if case == "empty":
        other.write_text("")
    if case == "disjoint":
        write_rows(other, [1, 1, 1], prefix="x")
    assert main(["compare", str(base), str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    wanted = {"missing": "does not exist", "empty": "holds no rows", "disjoint": "same --data and --split"}
    assert wanted[case] in err and "other" in err


def test_nothing_to_compare_is_a_user_error():
    with pytest.raises(CompareError, match="at least one results file"):
        from argparse import Namespace

        from optimize.cli.compare import run_compare

        run_compare(Namespace(baseline="a.jsonl", variants=[], baseline_name="baseline", out=None))


def test_files_may_follow_an_option(tmp_path):
    base = write_rows(tmp_path / "base.jsonl", [0] * 12)
    other = write_rows(tmp_path / "other.jsonl", [1] * 12)
    out = tmp_path / "table.md"

    assert main(["compare", str(base), "--baseline-name", "hand-written", f"k=2={other}",
                 "--out", str(out)]) == 0

    table = pd.read_csv(out.with_suffix(".csv")).set_index("variant")
    assert list(table.index) == ["hand-written", "k=2"] and table.loc["k=2", "difference"] == 100.0
