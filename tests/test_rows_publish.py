"""``sleeptime rows publish``: a copy of third-party rows that quotes no instance, yet scores and resumes."""

from __future__ import annotations

import json
from pathlib import Path

from optimize.cli.app import main
from optimize.experiments.results_file import resume
from optimize.reports.compare import comparison_table

SECRET = "Mira bakes 17 loaves"


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    Path(f"{path}.config.json").write_text(json.dumps({"budget": {"use_sleep": True},
                                                       "server": {"slots": 1, "speculative": "none"}}))
    return path


def rows(correct: list[bool]) -> list[dict]:
    return [{"question_id": f"q{i}", "context_id": f"c{i}", "template_id": f"t{i}", "gold": 17,
             "question": f"{SECRET}. How many?", "prediction": f"{SECRET}, so 17", "correct": right,
             "learned_context": f"- {SECRET}", "notes_state_gold": True, "test_completion_tokens": 5,
             "parse_error": not right, "reply_correct": (not right) or None,
             "error": None if right else f"AdapterParseError: LM Response: {SECRET}"}
            for i, right in enumerate(correct)]


def test_the_public_copy_quotes_no_instance_and_keeps_every_score(tmp_path, capsys):
    source = write(tmp_path / "full.jsonl", rows([True, False, True, True]))
    public = tmp_path / "public" / "rows.jsonl"

    assert main(["rows", "publish", str(source), "--out", str(public)]) == 0

    text = public.read_text()
    assert SECRET not in text and "17 loaves" not in text
    assert json.loads(Path(f"{public}.config.json").read_text())["server"]["slots"] == 1
    table = comparison_table(source, {"public": (None, public)}).set_index("variant")
    for column in ("accuracy", "lenient", "coverage", "test_tokens"):
        assert table.loc["public", column] == table.loc["baseline", column]
    assert table.loc["public", "difference"] == 0.0
    assert table.loc["public", "server"] == "1 slot, speculative none"


def test_evaluate_resumes_from_the_public_copy(tmp_path):
    public = tmp_path / "rows.jsonl"
    assert main(["rows", "publish", str(write(tmp_path / "full.jsonl", rows([True, True]))),
                 "--out", str(public)]) == 0

    _, finished, _ = resume(public, ["q0", "q1", "q2"], config=None,
                            server={"slots": 1, "speculative": "none"}, retry_errors=True)

    assert set(finished) == {"q0", "q1"}


def test_a_missing_file_is_named(tmp_path, capsys):
    assert main(["rows", "publish", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x.jsonl")]) != 0
    assert "nope.jsonl is not a results file" in capsys.readouterr().err
