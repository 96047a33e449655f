"""A pytest plugin that fails the run when a test skipped for a reason CI is set up to remove.

CI (``.ci/run``) installs the local models, starts PostgreSQL and installs Chromium, so a skip of those
suites there means the set-up broke, and a passing run would hide it. With ``SLEEPTIME_FAIL_ON_SKIP=1`` every
skip whose reason is not on :data:`ENVIRONMENT_SKIPS` is listed at the end and turns the exit status to 1.
Skips stay allowed where they depend on files a clean clone does not have (the third-party GSM-Symbolic
templates in ``../shared``). Loaded by ``tests/conftest.py``; the summary of every skip with its reason is
pytest's own ``-rs`` (``addopts`` in pyproject.toml).
"""

from __future__ import annotations

import os

import pytest

FAIL_ON_SKIP = "SLEEPTIME_FAIL_ON_SKIP"

# Reasons (substrings) a skip may give in CI: inputs that are not part of the repository.
ENVIRONMENT_SKIPS = ("../shared",)

_skipped: list[tuple[str, str]] = []


def skip_reason(report: pytest.TestReport) -> str:
    """The reason a skipped report gives (pytest keeps it as ``(path, line, "Skipped: reason")``)."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def disallowed(skips: list[tuple[str, str]],
               allowed: tuple[str, ...] = ENVIRONMENT_SKIPS) -> list[tuple[str, str]]:
    """The ``(test id, reason)`` pairs whose reason names none of ``allowed``.

    Example:
        >>> disallowed([("t::a", "../shared is absent"), ("t::b", "chromium is not installed")])
        [('t::b', 'chromium is not installed')]
    """
    return [(test, reason) for test, reason in skips if not any(text in reason for text in allowed)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append((report.nodeid, skip_reason(report)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get(FAIL_ON_SKIP) != "1":
        return
    bad = disallowed(_skipped)
    if bad and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if os.environ.get(FAIL_ON_SKIP) != "1":
        return
    bad = disallowed(_skipped)
    if not bad:
        return
    terminalreporter.section("skips CI does not allow", red=True)
    for test, reason in bad:
        terminalreporter.line(f"{test}: {reason}")
    terminalreporter.line(f"{len(bad)} test(s) skipped that CI is set up to run ({FAIL_ON_SKIP}=1): fix "
                          "the set-up step named in the reason (.ci/run), or, for an input outside the "
                          "repository, add its reason to tests/skip_gate.py ENVIRONMENT_SKIPS")
