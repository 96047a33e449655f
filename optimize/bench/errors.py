"""The benchmark's user error."""

from __future__ import annotations


class BenchmarkError(ValueError):
    """Bad benchmark input (size, models, question list): the message names the problem and the fix."""
