"""The command line: user mistakes end with one redacted ``error:`` line and a non-zero status, before any
LM work; ``--debug`` shows the traceback; ``--help`` shows one spelling per option with its default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimize.cli.app import build_parser, main, report_error

REPO = Path(__file__).resolve().parents[1]
NOWHERE = "openai/m@http://127.0.0.1:9/v1"  # no server answers: errors must come before any call


def data_file(path: Path, contexts: int = 2) -> Path:
    rows = [{"context_id": f"c{c}", "template_id": f"t{c}", "level": "base",
             "context": f"Box {c} holds {c + 2} apples.",
             "questions": [{"question_id": f"c{c}-q{q}", "question": f"Q{c}-{q}: how many?",
                            "answer": c + 2, "predictability": "high"} for q in range(2)]}
            for c in range(contexts)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def sleeptime(*argv: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimize", *argv], capture_output=True, text=True,
                          timeout=300, cwd=cwd or REPO, env={**os.environ, **(env or {})})


def assert_one_error_line(result: subprocess.CompletedProcess, *, mentions: str = "") -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert mentions.lower() in errors[0].lower(), errors[0]
    return errors[0]


@pytest.mark.parametrize("argv, mentions", [
    (["evaluate", "--test-verbosity", "9"], "verbosity"),
    (["evaluate", "--verbosity", "9"], "verbosity"),  # a hidden alias is checked the same way
    (["evaluate", "--n", "-1"], "--n"),
    (["evaluate", "--price-ratio", "-5"], "--price-ratio"),
    (["evaluate", "--retries", "-1"], "--retries"),
    (["evaluate", "--threads", "0"], "--threads"),
    (["evaluate", "--data", "no/such/file.jsonl", "--no-sleep", "--model", NOWHERE], "no/such/file.jsonl"),
    (["evaluate", "--model", "nonsense"], "nonsense"),
    (["evaluate", "--model", "local:qwen9"], "qwen9"),
    (["evaluate", "--api-base", "ftp://x", "--model", "openai/m"], "ftp://x"),
    (["compile", "--max-demos", "-1"], "--max-demos"),
    (["compile", "--model", "nonsense"], "nonsense"),
    (["ask", "hello", "--model", "nonsense"], "nonsense"),
    (["ask", "hello", "--max-tokens", "0"], "--max-tokens"),
    (["lm-bench", "--model", "openai/m"], "local:"),
    (["ui", "--port", "99999"], "--port"),  # was accepted, then the MLflow server failed after ~25 s
    (["serve", "--port", "70000"], "--port"),
    (["data", "generate", "--per-template", "0"], "--per-template"),
    (["data", "coverage", "--templates", "x", "--samples", "0"], "--samples"),
])
def test_a_user_mistake_is_one_error_line_and_a_non_zero_status(argv, mentions):
    assert_one_error_line(sleeptime(*argv), mentions=mentions)


def test_a_malformed_data_row_names_file_and_line(tmp_path):
    data = data_file(tmp_path / "rows.jsonl")
    data.write_text(data.read_text() + '{"context_id": "c9", "broken\n')
    line = assert_one_error_line(sleeptime("evaluate", "--data", str(data), "--split", "all", "--no-sleep",
                                           "--model", NOWHERE), mentions="rows.jsonl:3")
    assert "malformed" in line


def test_an_unwritable_mlruns_folder_is_one_error_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = sleeptime("compile", "--data", str(data_file(tmp_path / "rows.jsonl")), "--model",
                       NOWHERE, env={"SLEEPTIME_MLRUNS_DIR": str(blocker / "mlruns")})
    assert_one_error_line(result, mentions=str(blocker / "mlruns"))


def test_a_read_only_database_is_reported_as_a_user_error(capsys):
    import sqlite3

    status = report_error(sqlite3.OperationalError("attempt to write a readonly database"), debug=False)
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: attempt to write a readonly database")
    assert "not writable" in err


def test_debug_shows_the_traceback_before_or_after_the_command():
    for argv in (["--debug", "evaluate"], ["evaluate", "--debug"]):
        result = sleeptime(*argv, "--data", "no/such/file.jsonl", "--no-sleep", "--model",
                           NOWHERE)
        assert result.returncode == 2 and "Traceback" in result.stderr


def test_debug_is_accepted_by_every_command():
    result = sleeptime("data", "stats", "no/such/file.jsonl", "--debug")  # a command that does not list it
    assert result.returncode != 0 and "unrecognized" not in result.stderr and "no/such/file" in result.stderr


def test_the_doctests_of_flags_and_errors_run():
    import doctest

    import optimize.cli.flags
    import optimize.errors

    for module in (optimize.cli.flags, optimize.errors):
        assert doctest.testmod(module).failed == 0


def test_credentials_in_an_error_are_redacted():
    result = sleeptime("evaluate", "--model", "openai/m@ftp://bob:hunter2@example.com/v1")
    line = assert_one_error_line(result)
    assert "hunter2" not in result.stderr and "***" in line


def test_credentials_never_reach_the_printed_summary_of_a_failed_run(tmp_path):
    result = sleeptime("evaluate", "--model", "openai/m@http://bob:hunter2@127.0.0.1:9/v1", "--n", "1",
                       "--retries", "0", "--store", ":memory:", "--out", str(tmp_path / "rows.jsonl"))
    assert result.returncode == 3  # every row failed: a failed run, never a result
    assert "hunter2" not in result.stdout + result.stderr
    assert "hunter2" not in (tmp_path / "rows.jsonl").read_text()


def _help(command: str) -> str:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[command].format_help()


@pytest.mark.parametrize("command", ["evaluate", "compile"])
def test_help_shows_one_spelling_per_budget_field_with_its_default(command):
    from dataclasses import fields

    from programs.budget import Budget

    text = " ".join(_help(command).split())
    skipped = {"compiled"} if command == "compile" else set()
    for field in fields(Budget):
        if field.name not in skipped:
            assert "--" + field.name.replace("_", "-") in text
    assert "--verbosity" not in text.replace("--test-verbosity", "")  # the alias is hidden
    assert "(default: 0)" in text
    for flag in ("--data", "--n", "--seed", "--threads", "--api-base", "--retries"):
        assert flag + " " in text
    for hidden in ("--limit", "--data-seed", "--num-threads", "--k ", "--rounds"):
        assert hidden not in text


def _subparsers(parser, prefix: str = ""):
    """Every (command path, parser) below ``parser``: ``data generate`` included."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, f"{prefix}{name} ")
    if prefix:
        yield prefix.strip(), parser


def test_every_subcommand_shows_one_long_spelling_per_option_with_its_default():
    import argparse

    for command, parser in _subparsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or not action.option_strings or \
                    isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            shown = [o for o in action.option_strings if o.startswith("--")]
            if isinstance(action, argparse.BooleanOptionalAction):
                shown = shown[:1]  # --x / --no-x is one option
            assert len(shown) == 1, f"{command}: {action.option_strings} shows more than one spelling"
            text = formatter._get_help_string(action)
            assert "default" in text, f"{command} {shown[0]}: --help does not say its default"
            assert "default: None" not in text, f"{command} {shown[0]}: a default shown as None"


def test_shared_flags_parse_the_same_everywhere(tmp_path):
    parser = build_parser()
    a = parser.parse_args(["evaluate", "--limit", "3", "--data-seed", "5", "--num-threads", "2", "--k", "4"])
    assert (a.n, a.seed, a.threads, a.sleep_samples) == (3, 5, 2, 4)
    b = parser.parse_args(["compile", "--n", "3", "--seed", "5", "--threads", "2", "--verbosity", "1"])
    assert (b.n, b.seed, b.threads, b.test_verbosity) == (3, 5, 2, 1)



@pytest.mark.parametrize("command", ["evaluate", "search", "sweep"])
def test_contexts_takes_every_question_of_n_contexts_across_templates(command):
    """The first N questions of a split are one template; --contexts N spreads N contexts over templates,
    and --n then keeps the first N of those."""
    from optimize.cli.flags import examples_from_flags

    args = build_parser().parse_args([command, "--split", "dev", "--contexts", "5"])
    examples = examples_from_flags(args)
    contexts = {e.context_id for e in examples}
    assert len(contexts) == 5 and len({e.template_id for e in examples}) == 5
    whole_split = examples_from_flags(build_parser().parse_args([command, "--split", "dev"]))
    assert len(examples) == sum(e.context_id in contexts for e in whole_split)  # every question of each
    limited = build_parser().parse_args([command, "--split", "dev", "--contexts", "5", "--n", "3"])
    assert examples_from_flags(limited) == examples[:3]
    first = examples_from_flags(build_parser().parse_args([command, "--split", "dev", "--n", "20"]))
    assert len({e.template_id for e in first}) == 1


def test_contexts_must_be_positive():
    assert_one_error_line(sleeptime("evaluate", "--contexts", "0"), mentions="--contexts")

def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2


def test_a_missing_saved_program_is_a_user_error():
    assert_one_error_line(sleeptime("evaluate", "--program", "no/such/program", "--split", "all", "--n", "1"),
                          mentions="no/such/program")


@pytest.mark.parametrize("command", ["generate", "coverage"])
def test_a_folder_without_templates_is_a_user_mistake(tmp_path, command):
    """Not an empty dataset (or 0/0 templates) with exit status 0, which would hide a wrong path."""
    (tmp_path / "empty").mkdir()
    out = tmp_path / "o.jsonl"
    result = sleeptime("data", command, "--templates", str(tmp_path / "empty"),
                       *(["--out", str(out)] if command == "generate" else []))
    assert_one_error_line(result, mentions="no template")
    assert result.returncode == 2 and not out.exists()


def test_a_malformed_results_table_names_the_file(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "configs.csv").write_text('label,accuracy\nx,"0.5\n')
    result = sleeptime("report", "--results", str(results), "--out", str(tmp_path / "report"))
    assert_one_error_line(result, mentions=str(results / "configs.csv"))
    assert result.returncode == 2


def test_a_broken_template_is_a_user_mistake_with_status_2(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "broken.json").write_text("this is not a template {x\n")
    result = sleeptime("data", "generate", "--templates", str(templates), "--out", str(tmp_path / "o.jsonl"))
    assert_one_error_line(result, mentions="broken.json")
    assert result.returncode == 2
