"""Bounds on what a template expression may compute: a file from elsewhere must not hang or exhaust memory.

Every number has at most :data:`MAX_BITS` bits (numerator and denominator alike), every sequence at most
:data:`MAX_ITEMS` elements counting nested ones (a list holding the same list twice counts it twice, so
``[[0] * 200000] * 200000`` is refused before it is built), every text at most :data:`MAX_ITEMS` characters.
The work of one evaluation is counted in steps (one per operation, plus the length of every sequence built,
copied or scanned); :func:`metered` adds a budget over many evaluations, e.g. all tries of rejection sampling.
Nesting depth and source length are checked before an expression is compiled.

Example:
    >>> check_value(2 ** 64)
    18446744073709551616
    >>> try:
    ...     check_value([[0] * 1000] * 1000)
    ... except ExpressionError as error:
    ...     print(error)
    too many items (1001000, the limit is 200000)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction
from typing import Any

__all__ = [
    "MAX_BITS",
    "MAX_ITEMS",
    "MAX_DEPTH",
    "MAX_SOURCE",
    "MAX_STEPS",
    "MAX_EXPONENT",
    "ExpressionError",
    "LimitError",
    "StepLimitError",
    "Meter",
    "metered",
    "charge",
    "bits",
    "weight",
    "check_value",
]

MAX_BITS = 4096  # about 1233 decimal digits; GSM answers need a handful
MAX_EXPONENT = 4096
MAX_ITEMS = 200_000
MAX_DEPTH = 60  # our deepest template expression nests 14 levels
MAX_SOURCE = 2_000  # characters of one expression; the longest template expression has 289
MAX_STEPS = 250_000  # steps of one evaluation (a sum over a full-size list fits)


class ExpressionError(ValueError):
    """An expression is not allowed or failed to evaluate; the message names the expression.

    Example:
        >>> from optimize.data.expressions import evaluate
        >>> try:
        ...     evaluate("__import__('os')", {})
        ... except ExpressionError as error:
        ...     print("refused")
        refused
    """


class LimitError(ExpressionError):
    """An expression went past a bound (size of a number, sequence or text, nesting, steps).

    Rejection sampling does not retry it: a template that needs more than the bounds is broken.
    """


class StepLimitError(LimitError):
    """The step budget of an evaluation (or of a :func:`metered` block) is spent."""


class Meter:
    """Counts steps against a budget; :meth:`charge` raises :class:`StepLimitError` past it.

    Example:
        >>> meter = Meter(10)
        >>> meter.charge(4); meter.used
        4
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0

    def charge(self, steps: int = 1) -> None:
        self.used += steps
        if self.used > self.budget:
            raise StepLimitError(f"too many evaluation steps (more than {self.budget})")


_CURRENT: ContextVar[Meter | None] = ContextVar("sleeptime_expression_meter", default=None)


def current_meter() -> Meter | None:
    """The meter of the innermost running evaluation or :func:`metered` block, if any."""
    return _CURRENT.get()


@contextmanager
def _installed(meter: Meter) -> Iterator[Meter]:
    """``meter`` is the current one for the block (steps are charged to it)."""
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        _CURRENT.reset(token)


@contextmanager
def metered(budget: int) -> Iterator[Meter]:
    """Run evaluations under one shared step budget (each evaluation also keeps its own :data:`MAX_STEPS`)."""
    with _installed(Meter(budget)) as meter:
        yield meter


@contextmanager
def evaluation_meter() -> Iterator[Meter]:
    """A fresh :data:`MAX_STEPS` meter for one evaluation; its steps then count on the enclosing meter."""
    outer = _CURRENT.get()
    budget = MAX_STEPS if outer is None else min(MAX_STEPS, outer.budget - outer.used)
    if budget <= 0:
        raise StepLimitError(f"too many evaluation steps (more than {outer.budget})")
    meter = Meter(budget)
    try:
        with _installed(meter):
            yield meter
    finally:
        if outer is not None:
            outer.charge(meter.used)


def charge(steps: int = 1) -> None:
    """Add ``steps`` to the running evaluation's meter (no-op outside an evaluation)."""
    meter = _CURRENT.get()
    if meter is not None:
        meter.charge(steps)


def bits(value: Any) -> int:
    """Size of an exact number in bits (the larger of numerator and denominator); 0 for anything else."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return value.bit_length()
    if isinstance(value, Fraction):
        return max(value.numerator.bit_length(), value.denominator.bit_length())
    return 0


_SEQUENCES = (list, tuple)
_NESTED = (str, range, list, tuple)


def weight(value: Any) -> int:
    """Elements of a sequence counted recursively (shared sub-lists once per reference), text length for text.

    Cost is linear in the number of distinct objects: a sub-list referenced many times is measured once.
    """
    return _weight(value, {})


def _weight(value: Any, seen: dict[int, int]) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, range):
        return len(value)
    if not isinstance(value, _SEQUENCES):
        return 1
    known = seen.get(id(value))
    if known is not None:
        return known
    total = len(value)
    # set(map(type, ...)) runs at C speed: flat lists of numbers (the common case) are measured by len alone.
    if any(issubclass(kind, _NESTED) for kind in set(map(type, value))):
        total += sum(_weight(item, seen) for item in value if isinstance(item, _NESTED))
    seen[id(value)] = total
    return total


def check_value(value: Any) -> Any:
    """Return ``value`` when it is within every bound, else raise :class:`ExpressionError` saying which."""
    if isinstance(value, (int, Fraction)):
        size = bits(value)
        if size > MAX_BITS:
            raise LimitError(f"number too large ({size} bits, the limit is {MAX_BITS})")
    elif isinstance(value, str):
        if len(value) > MAX_ITEMS:
            raise LimitError(f"text too long ({len(value)} characters, the limit is {MAX_ITEMS})")
    elif isinstance(value, (*_SEQUENCES, range)):
        size = weight(value)
        if size > MAX_ITEMS:
            raise LimitError(f"too many items ({size}, the limit is {MAX_ITEMS})")
    elif isinstance(value, complex):
        raise ExpressionError(f"{value!r} is not a real number")
    return value
