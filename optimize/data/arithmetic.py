"""Exact, bounded operators of the template language (``+ - * / // % **`` and decimal literals).

``7 / 2`` is ``Fraction(7, 2)``; a result that would exceed a bound of :mod:`optimize.data.limits` is refused
before it is computed where it could be huge (powers, products, repetition, concatenation), else right after.

Example:
    >>> divide(7, 2), multiply([0], 3), power(2, 10)
    (Fraction(7, 2), [0, 0, 0], 1024)
    >>> try:
    ...     power(10 ** 6, 64 ** 3)
    ... except ValueError as error:
    ...     print(error)
    exponent 262144 is too large (the limit is 4096)
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from optimize.data.limits import (
    MAX_BITS,
    MAX_EXPONENT,
    MAX_ITEMS,
    ExpressionError,
    LimitError,
    bits,
    charge,
    check_value,
    weight,
)
from optimize.data.values import DecimalValue, exact, is_number

__all__ = ["add", "subtract", "multiply", "divide", "floor_divide", "modulo", "power", "decimal", "OPERATORS"]

_TEXTS_AND_SEQUENCES = (str, list, tuple)


def _result(value: Any) -> Any:
    return check_value(exact(value) if isinstance(value, Fraction) else value)


def add(a: Any, b: Any) -> Any:
    """``a + b``; joined sequences and texts are measured before they are built."""
    if isinstance(a, _TEXTS_AND_SEQUENCES) and isinstance(b, _TEXTS_AND_SEQUENCES):
        size = weight(a) + weight(b)
        if size > MAX_ITEMS:
            raise LimitError(f"joined sequence too large ({size} items, the limit is {MAX_ITEMS})")
        charge(len(a) + len(b))
    else:
        charge()
    return _result(a + b)


def subtract(a: Any, b: Any) -> Any:
    charge()
    return _result(a - b)


def multiply(a: Any, b: Any) -> Any:
    """``a * b``: repetition of a sequence or text, or an exact product, both refused when too large."""
    charge()
    for sequence, count in ((a, b), (b, a)):
        if isinstance(sequence, _TEXTS_AND_SEQUENCES) and isinstance(count, int):
            size = weight(sequence) * max(count, 0)
            if size > MAX_ITEMS:
                raise LimitError(f"repetition too large ({size} items, the limit is {MAX_ITEMS})")
            charge(len(sequence) * max(count, 0))
            return sequence * count
    if bits(a) + bits(b) > MAX_BITS + 1:
        raise LimitError(f"product too large (more than {MAX_BITS} bits)")
    return _result(a * b)


def divide(a: Any, b: Any) -> Any:
    """Exact division of exact numbers (``7 / 2 -> Fraction(7, 2)``); floats divide as floats."""
    charge()
    if is_number(a) and is_number(b):
        if b == 0:
            raise ZeroDivisionError("division by zero")
        if isinstance(a, float) or isinstance(b, float):
            return a / b
        return _result(Fraction(a) / Fraction(b))
    return _result(a / b)


def floor_divide(a: Any, b: Any) -> Any:
    charge()
    return _result(a // b)


def modulo(a: Any, b: Any) -> Any:
    """``a % b`` for numbers only (``%`` on text is string formatting, which can build any size of text)."""
    charge()
    if isinstance(a, str):
        raise ExpressionError("'%' formatting of text is not allowed; use str() and +")
    return _result(a % b)


def power(a: Any, b: Any) -> Any:
    """``a ** b`` whose result size is estimated from the operands before anything is computed."""
    charge()
    if is_number(b) and abs(b) > MAX_EXPONENT:
        shown = b if bits(b) <= 64 else f"of {bits(b)} bits"
        raise LimitError(f"exponent {shown} is too large (the limit is {MAX_EXPONENT})")
    if isinstance(b, Fraction) and b.denominator != 1:
        return _result(float(a) ** float(b))
    if isinstance(b, Fraction):
        b = int(b)
    if isinstance(b, int) and isinstance(a, (int, Fraction)):
        # |a| ** b has at least (bits(a) - 1) * |b| bits: refuse before Python spends minutes building it.
        if (bits(a) - 1) * abs(b) > MAX_BITS:
            raise LimitError(f"power too large (more than {MAX_BITS} bits)")
    return _result(a**b)


def decimal(text: str) -> Any:
    """A decimal literal as written (``0.30`` keeps its two digits); integral text becomes an int."""
    return DecimalValue(text) if "." in text else exact(Fraction(text))


OPERATORS: dict[str, Any] = {
    "Add": add,
    "Sub": subtract,
    "Mult": multiply,
    "Div": divide,
    "FloorDiv": floor_divide,
    "Mod": modulo,
    "Pow": power,
}
