"""Agreement across samples: a value is kept when most samples give it, never concatenated with rivals.

Three rules combine computed values: :func:`agreed_values` (``agree``: a value more than half of all samples
give), :func:`uncontested_values` (``union``: every name whose samples do not disagree) and
:func:`ranked_values` (``ranked``: the union's values, one entry per value, the most computed first). All drop
a name its samples disagree on; they differ on a name only some samples computed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from programs.answers import ABS_TOLERANCE, REL_TOLERANCE
from programs.strategies.code_runs import readable_name

T = TypeVar("T")


def same_value(a: float, b: float) -> bool:
    """Whether two numbers are the same answer, within the scoring function's tolerances."""
    return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)


def value_groups(items: Iterable[tuple[T, float]]) -> list[tuple[float, list[T]]]:
    """``(item, value)`` pairs grouped by value within the scoring tolerances, in order of first appearance:
    each group is its first value and the items that give it.

    Example:
        >>> value_groups([("a", 12), ("b", 5), ("c", 12.0)])
        [(12, ['a', 'c']), (5, ['b'])]
    """
    groups: list[tuple[float, list[T]]] = []
    for item, value in items:
        for first, members in groups:
            if same_value(first, value):
                members.append(item)
                break
        else:
            groups.append((value, [item]))
    return groups


def majority_value(values: Sequence[float | None]) -> float | None:
    """The value more than half of ``values`` give (None, an unreadable sample, counts against it).

    Example:
        >>> majority_value([14.0, 14.0, 12.0]), majority_value([14.0, 12.0]), majority_value([3.0])
        (14.0, None, 3.0)
        >>> majority_value([5.0, None, None])
    """
    readable = [value for value in values if value is not None]
    if not readable:
        return None
    value, given = max(value_groups((value, value) for value in readable), key=lambda group: len(group[1]))
    return value if len(given) * 2 > len(values) else None


def agreed_values(samples: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per name, the value most samples agree on; names without a majority are dropped.

    A name missing from a sample counts as a vote against every value, so a quantity only one program of
    several computed is not kept on that program's word alone.

    Example:
        >>> agreed_values([{"total": 12, "left": 5}, {"total": 12, "left": 6}, {"total": 12.0}])
        {'total': 12}
    """
    names = Counter(name for sample in samples for name in sample)
    kept: dict[str, float] = {}
    for name in names:
        value = majority_value([sample.get(name) for sample in samples])
        if value is not None:
            kept[name] = value
    return kept


def uncontested_values(samples: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per name, the value most of the samples that computed it give; names they split on are dropped.

    A name only one sample computed is kept (nothing contradicts it), so more samples state more quantities;
    names are matched as words (``total_eggs`` and ``Total_Eggs`` are one name), in order of first appearance.

    Example:
        >>> uncontested_values([{"total": 12, "left": 5}, {"Total": 12, "left": 6}, {"eggs": 3.0}])
        {'total': 12, 'eggs': 3.0}
    """
    by_name: dict[str, list[tuple[str, float]]] = {}
    for sample in samples:
        for name, value in sample.items():
            by_name.setdefault(readable_name(name.lower()), []).append((name, value))
    kept: dict[str, float] = {}
    for given in by_name.values():
        value = majority_value([value for _, value in given])
        if value is not None:
            kept[given[0][0]] = value
    return kept



@dataclass(frozen=True)
class RankedValue:
    """One value of the union with every kept name it has, and how many samples computed it under any name.

    Example:
        >>> RankedValue(names=("total", "sum"), value=12, support=3).names[0]
        'total'
    """

    names: tuple[str, ...]
    value: float
    support: int


def ranked_values(samples: Sequence[dict[str, float]]) -> list[RankedValue]:
    """The union's values (:func:`uncontested_values`), one entry per distinct value, most computed first.

    Programs name one quantity in many ways, so the union states one value under several names, and a value
    one program got wrong sits beside the value most programs got. Here the names of a value share one entry,
    and entries are ordered by ``support``, the number of samples that computed the value under any name
    (ties keep the union's order).

    Example:
        >>> samples = [{"total": 12, "left": 5}, {"sum": 12.0, "left": 5}, {"total": 12, "extra": 7}]
        >>> [(entry.names, entry.value, entry.support) for entry in ranked_values(samples)]
        [(('total', 'sum'), 12, 3), (('left',), 5, 2), (('extra',), 7, 1)]
    """
    def support(value: float) -> int:
        return sum(any(same_value(value, given) for given in sample.values()) for sample in samples)

    entries = value_groups(uncontested_values(samples).items())
    ranked = [RankedValue(tuple(names), value, support(value)) for value, names in entries]
    return sorted(ranked, key=lambda entry: -entry.support)
