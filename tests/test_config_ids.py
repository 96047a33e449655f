"""Configuration ids stay stable when the Budget grows: committed rows resume, older files upgrade."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimize.cli.app import main
from optimize.errors import ResumeMismatchError
from optimize.experiments.results_file import check_resume, config_id, current_identity, upgrade_ids
from programs.budget import ID_DEFAULTS, Budget

STANDARD = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "standard" / "ours"


def test_fields_added_after_ids_existed_are_left_out_at_their_defaults():
    default = Budget()
    assert {name: getattr(default, name) for name in ID_DEFAULTS} == ID_DEFAULTS
    assert not set(ID_DEFAULTS) & set(default.identity_dict())
    assert Budget(sleep_strategy="compute").identity_dict()["sleep_strategy"] == "compute"
    assert Budget(sleep_strategy="anticipate", sleep_questions=4).identity_dict()["sleep_questions"] == 4


@pytest.mark.parametrize("size_model", ["local:qwen2.5-coder-1.5b", "local:qwen2.5-coder-0.5b"])
def test_every_committed_configuration_of_the_standard_run_finds_its_rows(size_model):
    """A Budget field added later must not rename the committed rows files: a new run would answer again
    (hours) what is committed."""
    from optimize.bench.orchestration import model_label
    from optimize.bench.presets import LARGE_MODEL, PRESETS, base_budget, preset_budgets
    from optimize.bench.tables import canonical_id

    preset = PRESETS["standard"]
    base = base_budget(preset, size_model, LARGE_MODEL)
    rows = STANDARD / model_label(size_model) / "rows"
    groups = preset_budgets(preset, size_model, LARGE_MODEL)
    missing = [f"{group}: {canonical_id(b, base)}" for group in ("pareto", "scaling", "compiled", "latency")
               for b in groups[group] if not (rows / f"{canonical_id(b, base)}.jsonl").exists()]
    assert not missing, f"no committed rows for {missing} in {rows}"


def older_file(tmp_path: Path, *, extra_row: dict | None = None) -> tuple[Path, dict]:
    """Rows written by a version that recorded the strategy fields at their defaults."""
    recorded = {"program": "SleepTimeProgram", "data": {},
                "budget": {"use_sleep": True, "test_verbosity": 0, **ID_DEFAULTS}}
    path = tmp_path / "rows.jsonl"
    rows = [{"question_id": f"q{i}", "correct": True, "config_id": config_id(recorded)} for i in range(3)]
    rows += [extra_row] if extra_row else []
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    Path(f"{path}.config.json").write_text(json.dumps({**recorded, "server": {"slots": 1}}))
    return path, recorded


def test_an_older_file_is_named_for_upgrade_then_resumes(tmp_path):
    path, recorded = older_file(tmp_path)
    now = current_identity(recorded)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    with pytest.raises(ResumeMismatchError, match="rows upgrade"):
        check_resume(path, rows, now)

    assert upgrade_ids(path) == 3
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    check_resume(path, rows, now)
    saved = json.loads(Path(f"{path}.config.json").read_text())
    assert saved["server"] == {"slots": 1} and "sleep_strategy" not in saved["budget"]
    assert [r["question_id"] for r in rows] == ["q0", "q1", "q2"] and upgrade_ids(path) == 0


def test_a_seeded_file_upgrades_keeping_where_it_was_copied_from(tmp_path):
    """Where seeded rows came from is provenance, like the server settings: kept, never hashed into the id."""
    path, recorded = older_file(tmp_path)
    saved = Path(f"{path}.config.json")
    origin = {"rows": "docs/benchmarks/strategies/test/x.jsonl", "config_id": "abc"}
    saved.write_text(json.dumps({**json.loads(saved.read_text()), "seeded_from": origin}))

    assert upgrade_ids(path) == 3
    after = json.loads(saved.read_text())
    assert after["seeded_from"] == origin and after["server"] == {"slots": 1}
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert {r["config_id"] for r in rows} == {config_id(current_identity(recorded))}


def test_another_configuration_is_still_refused_without_the_upgrade_hint(tmp_path):
    path, recorded = older_file(tmp_path)
    other = current_identity({**recorded, "budget": {**recorded["budget"], "test_verbosity": 2}})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    with pytest.raises(ResumeMismatchError, match="another configuration") as error:
        check_resume(path, rows, other)
    assert "upgrade" not in str(error.value)


def test_a_mixed_file_is_refused_naming_its_line_and_left_as_it_was(tmp_path):
    path, _ = older_file(tmp_path, extra_row={"question_id": "q9", "config_id": "someoneelse"})
    before = path.read_text()
    with pytest.raises(ResumeMismatchError, match=r"rows\.jsonl:4: config_id 'someoneelse'"):
        upgrade_ids(path)
    assert path.read_text() == before


def test_the_upgrade_command_reports_each_file_and_names_a_missing_one(tmp_path, capsys):
    path, _ = older_file(tmp_path)
    assert main(["rows", "upgrade", str(path)]) == 0
    assert main(["rows", "upgrade", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 rows given this version's configuration id" in out and "already current" in out
    assert main(["rows", "upgrade", str(tmp_path / "nope.jsonl")]) != 0
    assert "nope.jsonl is not a results file" in capsys.readouterr().err
