"""Pareto fronts as plain functions: which configurations no other configuration beats on every objective.

Example::

    >>> pareto_front([(0.5, 100), (0.6, 200), (0.4, 300)], ["maximize", "minimize"])
    [0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_SIGNS = {"maximize": -1.0, "minimize": 1.0}
OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("accuracy", "maximize"),
    ("mean_test_tokens", "minimize"),
    ("cost_per_query", "minimize"),
)
"""The project's three objectives (name, direction): a search, a sweep and a report rank configurations by
these."""


def _as_minimized(point: Sequence[float], directions: Sequence[str]) -> tuple[float, ...]:
    if len(point) != len(directions):
        raise ValueError(
            f"point {tuple(point)} has {len(point)} values but {len(directions)} directions were given; "
            "pass one direction ('maximize' or 'minimize') per objective"
        )
    return tuple(_SIGNS[d] * float(v) for v, d in zip(point, directions, strict=True))


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """True when ``a`` is at least as good as ``b`` on every objective and strictly better on one."""
    ma, mb = _as_minimized(a, directions), _as_minimized(b, directions)
    return all(x <= y for x, y in zip(ma, mb, strict=True)) and any(
        x < y for x, y in zip(ma, mb, strict=True)
    )


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices (ascending) of the non-dominated points; points with a NaN objective are never on the front.

    Duplicated points are all kept: neither strictly beats the other.
    """
    for d in directions:
        if d not in _SIGNS:
            raise ValueError(f"unknown direction {d!r}; use 'maximize' or 'minimize'")
    candidates = [i for i, p in enumerate(points) if not any(math.isnan(float(v)) for v in p)]
    minimized = {i: _as_minimized(points[i], directions) for i in candidates}
    front = []
    for i in candidates:
        beaten = any(
            all(x <= y for x, y in zip(minimized[j], minimized[i], strict=True))
            and any(x < y for x, y in zip(minimized[j], minimized[i], strict=True))
            for j in candidates
            if j != i
        )
        if not beaten:
            front.append(i)
    return front


def hypervolume(points: Sequence[Sequence[float]], directions: Sequence[str],
                reference: Sequence[float]) -> float:
    """The volume the points dominate up to ``reference`` (a point worse than all of them on every
    objective, in the objectives' own directions); points with a NaN objective count for nothing.

    Example:
        >>> hypervolume([(0.5, 10.0), (0.8, 20.0)], ("maximize", "minimize"), (0.0, 30.0))
        13.0
    """
    import numpy as np
    from optuna._hypervolume import compute_hypervolume

    ref = np.array(_as_minimized(reference, directions), dtype=float)
    kept = [_as_minimized(p, directions) for p in points if not any(math.isnan(float(v)) for v in p)]
    kept = [p for p in kept if all(x < r for x, r in zip(p, ref, strict=True))]
    if not kept:
        return 0.0
    return float(compute_hypervolume(np.array(kept, dtype=float), ref))
