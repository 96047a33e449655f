"""Every user mistake of the bad-input inventory (``tests/fault_inventory.py``) ends with a clear
error: a non-zero status, no traceback, an ``error:`` line naming the problem, and no password printed.

The cases run in-process (``optimize.cli.app.main``) so the whole list takes seconds; the few marked ``slow``
(an MLflow store, a UI start) run only in the inventory script, and a small subset runs here as a real
subprocess too, as the inventory runs every case.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fault_inventory as inventory  # noqa: E402

from optimize.cli.app import main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FAST = [case for case in inventory.BAD_INPUTS if not case.slow]
SUBPROCESS = ["evaluate-malformed-row", "ui-port-out-of-range", "ask-unreachable-server-with-password"]


def test_the_inventory_covers_every_command_with_at_least_70_mistakes():
    from optimize.cli.app import build_parser

    parser = build_parser()
    commands = set(next(a for a in parser._actions if a.dest == "command").choices)
    tried = {case.argv[0] for case in inventory.BAD_INPUTS}
    assert commands <= tried, commands - tried
    data = {c.argv[1] for c in inventory.BAD_INPUTS if c.argv[0] == "data" and len(c.argv) > 1}
    assert {"generate", "coverage", "stats"} <= data
    ids = [c.id for c in inventory.BAD_INPUTS]
    assert len(ids) >= 70 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", FAST, ids=[case.id for case in FAST])
def test_a_bad_input_is_one_clear_error_line(case, tmp_path, monkeypatch, capsys):
    argv, env = case.materialize(tmp_path)
    monkeypatch.chdir(tmp_path)  # nothing a case writes lands in the checkout
    for name, value in {"SLEEPTIME_MLRUNS_DIR": str(tmp_path / "mlruns"),
                        "SLEEPTIME_CACHE_DIR": str(tmp_path / "cache"),
                        "SLEEPTIME_STORE": str(tmp_path / "store.db"),
                        "OPENAI_API_KEY": "sk-inventory-not-a-key",
                        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", **env}.items():
        monkeypatch.setenv(name, value)
    started = time.monotonic()
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    out, err = capsys.readouterr()
    result = inventory.Result(code, out, err, time.monotonic() - started)
    passed, why = inventory.judge_bad(case, result, tmp_path)
    assert passed, f"{case.id}: {why}\nexit {code}\nstderr: {err[-2000:]}"


@pytest.mark.parametrize("case_id", SUBPROCESS)
def test_a_bad_input_through_the_real_command_line(case_id, tmp_path):
    case = next(case for case in inventory.BAD_INPUTS if case.id == case_id)
    checkout = inventory.Checkout(REPO, tmp_path)
    work = tmp_path / "case"
    work.mkdir()
    argv, env = case.materialize(work)
    result = checkout.run(argv, work, env=env)
    passed, why = inventory.judge_bad(case, result, work)
    assert passed, f"{why}\n{result.stderr[-2000:]}"
