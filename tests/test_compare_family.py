"""compare's table is a family of comparisons with one baseline: family-wise (Bonferroni) intervals beside
each 95% one, and "significant" read from the family-wise interval, the table saying which."""

from __future__ import annotations

import json

import pandas as pd

from optimize.cli.app import main
from optimize.reports.compare import comparison_table


def write(path, correct):
    rows = [{"question_id": i, "context_id": f"c{i // 2}", "template_id": f"t{i // 10}", "correct": c,
             "test_completion_tokens": 10} for i, c in enumerate(correct)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_difference_significant_alone_is_not_significant_among_five_comparisons(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", [0] * 60)
    better = write(tmp_path / "better.jsonl", [1 if i in (0, 15, 30, 45) else 0 for i in range(60)])
    alone = comparison_table(base, {"better": (None, better)})
    assert alone.loc[1, "significant"] != "no"  # one comparison: the family is the comparison itself
    assert alone.loc[1, "family_ci_context"] == alone.loc[1, "diff_ci_context"]
    same = [write(tmp_path / f"same{i}.jsonl", [0] * 60) for i in range(4)]
    variants = {"better": (None, better)} | {p.stem: (None, p) for p in same}
    family = comparison_table(base, variants)
    line = family.set_index("variant").loc["better"]
    assert line["diff_ci_context"] == alone.loc[1, "diff_ci_context"]  # its own 95% interval is unchanged
    assert line["significant"] == "no"  # Bonferroni at 99%: the family-wise interval reaches zero
    assert family.attrs["note"].startswith("family-wise: Bonferroni over 5 comparisons")

    assert main(["compare", str(base), f"better={better}", *map(str, same), "--out",
                 str(tmp_path / "t.md")]) == 0
    text = (tmp_path / "t.md").read_text()
    assert "| family_ci_context |" in text and "Bonferroni over 5 comparisons" in text
    assert pd.read_csv(tmp_path / "t.csv").set_index("variant").loc["better", "significant"] == "no"
    assert "Bonferroni" in capsys.readouterr().out
