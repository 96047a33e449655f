"""Overload on loopback: more clients than `sleeptime serve` admits, for a bounded time. The server refuses
the excess at once (503 + Retry-After), answers everything it admitted, loses nothing, and its memory stays
flat (`python3 -m optimize.cli.overload` measures the same at a larger scale)."""

from __future__ import annotations

import sys

import pytest

from optimize.deploy.overload import run_overload

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for memory")


def test_overload_is_refused_not_queued_and_every_admitted_question_is_answered():
    report = run_overload(clients=32, seconds=6.0, contexts=4, max_questions=4)
    assert report["lost"] == 0, report["outcomes"]
    assert report["answered"] > 0 and report["rejected"] > 0
    assert set(report["retry_after"]) == {"5"} and sum(report["retry_after"].values()) == report["rejected"]
    assert "200-wrong" not in report["outcomes"]
    assert report["max_seconds"] < 10  # admitted questions never wait behind a growing queue
    # Flat: beyond the warm-up, the server grows by less than a few MiB under sustained overload.
    assert report["rss_mib_peak_sampled"] - report["rss_mib_before"] < 40, report
