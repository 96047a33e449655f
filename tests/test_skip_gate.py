"""CI fails when a suite it is set up to run skipped; inputs outside the repository may still skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

SUITE = '''
import pytest

def test_runs():
    pass

@pytest.mark.skipif(True, reason="../shared GSM-Symbolic templates are not available")
def test_needs_shared():
    pass

def test_needs_a_service():
    pytest.skip("{reason}")
'''


def run_suite(tmp_path: Path, reason: str, *, fail_on_skip: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_suite.py").write_text(SUITE.format(reason=reason))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    env.pop("SLEEPTIME_FAIL_ON_SKIP", None)
    if fail_on_skip:
        env["SLEEPTIME_FAIL_ON_SKIP"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "skip_gate", "-p", "no:cacheprovider",
               str(tmp_path)]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_skipped_service_suite_fails_the_ci_run_and_names_the_reason(tmp_path):
    result = run_suite(tmp_path, "no PostgreSQL: set SLEEPTIME_TEST_POSTGRES_URL", fail_on_skip=True)
    assert result.returncode == 1, result.stdout
    assert "skips CI does not allow" in result.stdout
    assert "test_suite.py::test_needs_a_service: no PostgreSQL" in result.stdout
    assert "test_needs_shared:" not in result.stdout.split("skips CI does not allow")[1]


def test_outside_ci_or_with_only_allowed_skips_the_run_passes(tmp_path):
    outside = run_suite(tmp_path, "no PostgreSQL", fail_on_skip=False)
    assert outside.returncode == 0, outside.stdout
    assert "SKIPPED" in outside.stdout and "no PostgreSQL" in outside.stdout  # -rs lists every skip

    allowed = run_suite(tmp_path, "../shared is absent on a clean clone", fail_on_skip=True)
    assert allowed.returncode == 0, allowed.stdout


def test_only_reasons_on_the_allow_list_pass():
    from skip_gate import disallowed

    skips = [("a", "../shared x"), ("b", "chromium is not installed")]
    assert disallowed(skips) == [("b", "chromium is not installed")]
    assert disallowed(skips, allowed=("../shared", "chromium")) == []
