"""Exact values of the template language and how they are shown: decimals as written, pool pairs, answers.

Example:
    >>> format_value(DecimalValue("0.30")), to_answer(Fraction(7, 4))
    ('0.30', 1.75)
    >>> twice = worded("twice", 2)
    >>> twice * 5, twice[0], twice[1]
    (10, 'twice', 2)
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

from optimize.data.limits import ExpressionError, LimitError

__all__ = [
    "DecimalValue",
    "WordedInt",
    "WordedFraction",
    "worded",
    "exact",
    "is_number",
    "is_exact_number",
    "terminates",
    "format_value",
    "to_answer",
    "number_from_text",
]

_MAX_EXPONENT_TEXT = 1000
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?|[+-]?\d+\s*/\s*\d+")


class DecimalValue(Fraction):
    """An exact decimal that remembers how it was written (``0.30`` displays as ``0.30``).

    Example:
        >>> value = DecimalValue("0.30")
        >>> value == Fraction(3, 10), str(value)
        (True, '0.30')
    """

    _text: str

    def __new__(cls, text: str | int | float | Fraction) -> DecimalValue:
        source = text if isinstance(text, str) else format_value(text)
        self = super().__new__(cls, source)
        self._text = source
        return self

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"DecimalValue({self._text!r})"


class _Worded:
    """A number drawn from a ``(text, value)`` pool pair: arithmetic sees the value, ``x[0]`` / ``x[1]``
    give the text / the plain value (GSM-Symbolic templates use both)."""

    text: str

    def __getitem__(self, index: int) -> Any:
        return (self.text, self._plain())[index]

    def _plain(self) -> Any:
        raise NotImplementedError

    # Immutable, like the numbers themselves; pickling rebuilds it through worded().
    def __reduce__(self) -> tuple[Any, ...]:
        return (worded, (self.text, self._plain()))

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


class WordedInt(_Worded, int):
    """A whole number with the words it was drawn as (``worded("twice", 2)``).

    Example:
        >>> dozen = WordedInt("a dozen", 12)
        >>> dozen + 1, dozen[0], dozen[1], str(dozen)
        (13, 'a dozen', 12, '12')
    """

    def __new__(cls, text: str, value: int) -> WordedInt:
        self = super().__new__(cls, value)
        self.text = text
        return self

    def _plain(self) -> int:
        return int(self)

    def __str__(self) -> str:
        return str(int(self))

    def __repr__(self) -> str:
        return f"worded({self.text!r}, {int(self)})"


class WordedFraction(_Worded, Fraction):
    """A fraction with the words it was drawn as (``worded("half", Fraction(1, 2))``).

    Example:
        >>> half = WordedFraction("half", Fraction(1, 2))
        >>> half * 3, half[0], half
        (Fraction(3, 2), 'half', worded('half', Fraction(1, 2)))
    """

    def __new__(cls, text: str, value: Fraction) -> WordedFraction:
        self = super().__new__(cls, value)
        self.text = text
        return self

    def _plain(self) -> Fraction:
        return Fraction(self)

    def __repr__(self) -> str:
        return f"worded({self.text!r}, {Fraction(self)!r})"


def worded(text: str, value: Any) -> Any:
    """``value`` remembering ``text`` (ints and Fractions; other values are returned unchanged)."""
    value = exact(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return WordedInt(text, value)
    if isinstance(value, Fraction) and not isinstance(value, DecimalValue):
        return WordedFraction(text, value)
    return value


def exact(value: Any) -> Any:
    """Normalise a number: integral Fractions become ints, floats become exact decimal Fractions."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return value
        value = Fraction(repr(value))
    if isinstance(value, Fraction) and value.denominator == 1 and not isinstance(value, _Worded):
        return int(value.numerator)
    return value


def is_number(value: Any) -> bool:
    """True for ints, Fractions and floats (not bools)."""
    return isinstance(value, (int, Fraction, float)) and not isinstance(value, bool)


def terminates(value: Fraction) -> bool:
    """True when ``value`` has a finite decimal expansion (its denominator has only the factors 2 and 5)."""
    return _decimal_digits(value) is not None


def _decimal_digits(value: Fraction) -> int | None:
    """Digits after the point of a terminating fraction (None when it does not terminate)."""
    denominator = value.denominator
    twos = (denominator & -denominator).bit_length() - 1
    denominator >>= twos
    fives = 0
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


def is_exact_number(value: Any) -> bool:
    """A number an answer can be: an int, a terminating fraction or a finite float."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, Fraction):
        return terminates(value)
    if isinstance(value, float):
        return math.isfinite(value)
    return False


def format_value(value: Any) -> str:
    """Text for a value inside a question: ints without ``.0``, exact decimals as decimals.

    Example:
        >>> format_value(Fraction(5, 2)), format_value(12.0), format_value(DecimalValue("0.30"))
        ('2.5', '12', '0.30')
    """
    if isinstance(value, DecimalValue):
        return str(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        digits = _decimal_digits(value)
        if digits is not None:
            sign = "-" if value < 0 else ""
            value = abs(value)
            whole, rest = divmod(int(value * 10**digits), 10**digits)
            return f"{sign}{whole}.{rest:0{digits}d}"
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def to_answer(value: Any) -> int | float:
    """A JSON-friendly answer: an int when whole, else the float nearest the exact value.

    Example:
        >>> to_answer(Fraction(90, 2)), to_answer(Fraction(7, 4)), to_answer(45.0)
        (45, 1.75, 45)
    """
    if isinstance(value, bool) or not is_number(value):
        raise ExpressionError(f"answer {value!r} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(f"answer {value!r} is not finite")
        return int(value) if value.is_integer() else value
    value = Fraction(value)
    if value.denominator == 1:
        return int(value.numerator)
    return float(value)


def number_from_text(text: str) -> Fraction:
    """The exact number a text spells in digits (``"1,250"``, ``"0.3"``, ``"3/4"``, ``"2e3"``).

    Raises ``ValueError`` for other text and :class:`~optimize.data.limits.LimitError` for an exponent over
    1000 (``Fraction("1e1000000000")`` would spend minutes building the number).

    Example:
        >>> number_from_text("1,250"), number_from_text(" 3 / 4 ")
        (Fraction(1250, 1), Fraction(3, 4))
    """
    cleaned = text.strip().replace(",", "")
    match = _NUMBER_TEXT.fullmatch(cleaned)
    if len(cleaned) > 1000 or match is None:
        raise ValueError(f"{text[:40]!r} is not a number")
    if match.group(1) is not None and abs(int(match.group(1))) > _MAX_EXPONENT_TEXT:
        raise LimitError(f"number text {text[:40]!r} is too large (exponent over {_MAX_EXPONENT_TEXT})")
    return Fraction(cleaned.replace(" ", ""))
