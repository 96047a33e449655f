"""Template-disjoint train/dev/test splits: no template contributes examples to two splits.

Example:
    >>> from types import SimpleNamespace as Row
    >>> rows = [Row(template_id=f"t{i % 10}", n=i) for i in range(30)]
    >>> parts = split_by_template(rows, train=6, dev=2, test=2, seed=0)
    >>> {name: len({r.template_id for r in part}) for name, part in parts.items()}
    {'train': 6, 'dev': 2, 'test': 2}
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

__all__ = ["SplitError", "one_context_at_a_time", "split_by_template", "spread_contexts"]


class SplitError(ValueError):
    """Requested split sizes cannot be met; the message says how many templates there are."""


def _template_of(example: Any) -> str:
    value = example.get("template_id") if isinstance(example, dict) else getattr(example, "template_id", None)
    if value is None:
        raise SplitError(
            f"example {example!r:.120} has no template_id; fix: load it with optimize.data.loaders"
        )
    return str(value)


def split_by_template(
    examples: Sequence[Any],
    *,
    seed: int,
    key: Callable[[Any], str] = _template_of,
    **sizes: int | float,
) -> dict[str, list]:
    """Split ``examples`` by template into named parts (e.g. ``train=0.6, dev=0.2, test=0.2``).

    Sizes count *templates*: ints are template counts, floats are fractions of all templates (rounded,
    at least one template per non-zero fraction). The sum may be less than everything (the rest is unused)
    but not more. Template order is shuffled with ``random.Random(seed)`` after sorting, so the result is
    deterministic and independent of the input order. Example order within a part follows the input.
    """
    if not sizes:
        raise SplitError("give at least one split size, e.g. train=0.8, test=0.2")
    templates = sorted({key(example) for example in examples})
    total = len(templates)
    counts: dict[str, int] = {}
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
            raise SplitError(f"split {name!r}: size {size!r} must be a non-negative count or fraction")
        if isinstance(size, float):
            if size > 1:
                raise SplitError(
                    f"split {name!r}: fraction {size} is above 1; use an int for a template count"
                )
            counts[name] = max(1, round(size * total)) if size > 0 else 0
        else:
            counts[name] = size
    fractions = [s for s in sizes.values() if isinstance(s, float)]
    if sum(fractions) > 1 + 1e-9:
        raise SplitError(f"split fractions sum to {sum(fractions):.3f} > 1")
    if sum(counts.values()) > total:
        if fractions and all(isinstance(s, float) for s in sizes.values()) and sum(fractions) <= 1 + 1e-9:
            # Rounding pushed the total over: take the surplus from the largest part.
            largest = max(counts, key=counts.get)
            counts[largest] -= sum(counts.values()) - total
        if sum(counts.values()) > total or min(counts.values()) < 0:
            raise SplitError(
                f"requested {sum(counts.values())} templates ({counts}) but the data has only {total}; "
                "fix: ask for fewer templates per split or generate data from more templates"
            )
    order = list(templates)
    random.Random(seed).shuffle(order)
    assignment: dict[str, str] = {}
    start = 0
    for name, count in counts.items():
        for template in order[start : start + count]:
            assignment[template] = name
        start += count
    parts: dict[str, list] = {name: [] for name in counts}
    for example in examples:
        name = assignment.get(key(example))
        if name is not None:
            parts[name].append(example)
    return parts


def spread_contexts(examples: Sequence, count: int) -> list:
    """Every question of ``count`` contexts chosen round-robin across templates, in a stable order.

    Taking the first contexts of a split would pick instances of one template (the data is sorted by
    template), so a small benchmark would measure one story; this takes one context per template first.

    Example:
        >>> import dspy
        >>> rows = [dspy.Example(context_id=f"{t}-{i}", template_id=t, question=str(q))
        ...         for t in ("a", "b") for i in range(2) for q in range(2)]
        >>> sorted({e.context_id for e in spread_contexts(rows, 2)})
        ['a-0', 'b-0']
    """
    by_template: dict[str, list[str]] = {}
    for example in examples:
        contexts = by_template.setdefault(_template_of(example), [])
        if example.get("context_id") not in contexts:
            contexts.append(example.get("context_id"))
    keep = set(itertools.islice(_round_robin(by_template.values()), count))
    return [example for example in examples if example.get("context_id") in keep]


def one_context_at_a_time(examples: Sequence) -> list:
    """The same examples reordered round-robin by context: the first question of every context, then the
    second, and so on (contexts in order of first appearance).

    An optimizer that keeps the first successful traces as demos (BootstrapFewShot) would otherwise take
    them from one context, and the sleep-time rewriter, which runs once per context, would get one demo.

    Example:
        >>> import dspy
        >>> rows = [dspy.Example(context_id=c, question=str(q)) for c in ("a", "b") for q in range(2)]
        >>> [(e.context_id, e.question) for e in one_context_at_a_time(rows)]
        [('a', '0'), ('b', '0'), ('a', '1'), ('b', '1')]
    """
    by_context: dict[Any, list] = {}
    for example in examples:
        by_context.setdefault(example.get("context_id"), []).append(example)
    return list(_round_robin(by_context.values()))


def train_order(examples: Sequence, *, phase: str = "both", shuffle: bool = False,
                seed: int = 0) -> tuple[list, str]:
    """The order an optimizer visits the train questions in, and a label for the manifest.

    Optimizers that keep the first successful traces (BootstrapFewShot) take their demos from the front of
    this order, so the data's order always gives the same demos; ``shuffle`` (seeded) draws other ones,
    which is how a compile's gain is checked against another draw of demos. A sleep-phase compile then
    takes one question per context per round (:func:`one_context_at_a_time`).

    Example:
        >>> import dspy
        >>> rows = [dspy.Example(context_id=c, question=str(q)) for c in "abc" for q in range(2)]
        >>> order, label = train_order(rows, shuffle=True, seed=1)
        >>> sorted(map(str, order)) == sorted(map(str, rows))
        True
        >>> label
        'shuffled (seed 1)'
    """
    ordered, label = list(examples), "data"
    if shuffle:
        random.Random(seed).shuffle(ordered)
        label = f"shuffled (seed {seed})"
    if phase == "sleep":  # the rewriter runs once per context: demos must come from different contexts
        ordered = one_context_at_a_time(ordered)
        label = "one question per context per round" + (f", contexts {label}" if shuffle else "")
    return ordered, label


def _round_robin(groups: Iterable[Sequence]) -> Iterator:
    """The first item of every group, then the second of every group that has one, and so on."""
    groups = list(groups)
    for depth in range(max((len(g) for g in groups), default=0)):
        yield from (group[depth] for group in groups if depth < len(group))
