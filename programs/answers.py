"""The project's one scoring function: pull the final number out of model text and compare it to gold.

Example:
    >>> extract_number("So she pays $1,234.50 in total. The answer is 1,234.5.")
    1234.5
    >>> is_correct("#### 45", 45.0), is_correct("1/2", "0.5"), is_correct("no idea", 3)
    (True, True, False)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["extract_number", "is_correct", "numbers_in", "states_number", "ABS_TOLERANCE", "REL_TOLERANCE"]

ABS_TOLERANCE = 1e-6
REL_TOLERANCE = 1e-6

# A number as people write it: optional sign, optional currency, 1,234 groups or plain digits, decimals,
# a simple fraction a/b, optional percent sign.
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-−–]?)\s?(?:[$€£¥₹]\s?)?"
    r"(?P<body>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s?/\s?(?P<den>\d+(?:\.\d+)?)(?![\d,]))?"
    r"(?:\s?%)?"
)
_BOXED = re.compile(r"\\boxed\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?", re.IGNORECASE)


def _to_float(match: re.Match[str]) -> float | None:
    body = match.group("body").replace(",", "")
    try:
        value = float(body)
        if match.group("den"):
            denominator = float(match.group("den"))
            if denominator == 0:
                return None
            value /= denominator
    except ValueError:
        return None
    if match.group("sign"):
        value = -value
    return value


def numbers_in(text: str) -> Iterator[float]:
    """Every number in ``text``, in order, read as scoring reads one (1,234 / $ / 45% / -3 / 3/4).

    Example:
        >>> list(numbers_in("Total: $1,234.5 for 3/4 of the 12 boxes."))
        [1234.5, 0.75, 12.0]
    """
    for match in _NUMBER.finditer(text):
        value = _to_float(match)
        if value is not None:
            yield value


def _last_number(text: str) -> float | None:
    values = list(numbers_in(text))
    return values[-1] if values else None


def _first_number(text: str) -> float | None:
    return next(numbers_in(text), None)


def extract_number(text: Any) -> float | None:
    """The final answer number in ``text``, or ``None`` when there is none.

    Looks, in order, at the last ``\\boxed{...}``, the text after the last ``####``, the text after the last
    "The answer is", then the last number anywhere. Handles 1,234 / $ € £ / 45% / -3 / 3/4 / "45.".
    """
    if text is None:
        return None
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text) if math.isfinite(text) else None
    text = str(text)
    boxed = _BOXED.findall(text)
    if boxed:
        value = _last_number(boxed[-1].replace("\\frac{", "").replace("}{", "/"))
        if value is not None:
            return value
    if "####" in text:
        value = _first_number(text.rsplit("####", 1)[1])
        if value is not None:
            return value
    answer_is = list(_ANSWER_IS.finditer(text))
    if answer_is:
        value = _first_number(text[answer_is[-1].end() :])
        if value is not None:
            return value
    return _last_number(text)


def is_correct(prediction: Any, gold: Any) -> bool:
    """True when the prediction's number equals gold within a small tolerance (never raises).

    Example:
        >>> is_correct("The answer is 45.", 45), is_correct(45.0, "45"), is_correct("", 0)
        (True, True, False)
    """
    try:
        predicted = extract_number(prediction)
        expected = extract_number(gold)
    except Exception:  # noqa: BLE001 - scoring must never crash an evaluation run
        return False
    if predicted is None or expected is None:
        return False
    return math.isclose(predicted, expected, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)


def states_number(text: Any, gold: Any) -> bool | None:
    """Whether any number in ``text`` equals gold (e.g. do the notes state the answer?); None without text.

    Example:
        >>> states_number("- scones left = 98 - 56 = 42", 42), states_number("- total = 98", 42)
        (True, False)
    """
    if not isinstance(text, str):
        return None
    expected = extract_number(gold)
    if expected is None:
        return False
    return any(math.isclose(value, expected, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)
               for value in numbers_in(text))
