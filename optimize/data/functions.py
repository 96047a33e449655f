"""The whitelisted functions a template expression may call: pure ones and ones that draw from an rng.

Each function keeps arithmetic exact and its work bounded (:mod:`optimize.data.limits`): sequences it builds
are charged by length, texts are built with a length budget, number texts with huge exponents are refused.

Example:
    >>> import random
    >>> safe_functions()["frange"](2.25, 3, 0.25)
    [DecimalValue('2.25'), DecimalValue('2.5'), DecimalValue('2.75')]
    >>> sampling_functions(random.Random(0))["sample"](["a", "b", "c"], 2)
    ['b', 'c']
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from optimize.data.arithmetic import add, divide
from optimize.data.limits import MAX_ITEMS, LimitError, charge, check_value
from optimize.data.values import DecimalValue, exact, format_value, number_from_text, terminates

__all__ = ["safe_functions", "sampling_functions", "is_int", "divides", "frange", "text_of", "CONSTANTS"]

_MAX_ROUND_DIGITS = 1000


def is_int(value: Any) -> bool:
    """True when ``value`` is a whole number (exactly for ints/Fractions, within 1e-9 for floats)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, Fraction):
        return value.denominator == 1
    if isinstance(value, float):
        return math.isfinite(value) and abs(value - round(value)) < 1e-9
    return False


def divides(a: Any, b: Any) -> bool:
    """True when ``b`` divides ``a`` exactly (GSM-Symbolic's meaning: ``a / b`` is a whole number)."""
    if b == 0:
        return False
    return is_int(divide(a, b))


def _int(value: Any = 0, *args: Any) -> int:
    if isinstance(value, str) and not args:
        return int(number_from_text(value))
    if isinstance(value, str):
        return int(value[:MAX_ITEMS], *args)
    return int(value, *args)


def _float(value: Any = 0) -> Any:
    # Keep exactness: float() of an exact number stays exact; display code prints it as a decimal.
    if isinstance(value, (int, Fraction)) and not isinstance(value, bool):
        return exact(Fraction(value))
    if isinstance(value, str):
        return exact(number_from_text(value))
    return float(value)


def _round(value: Any, ndigits: int | None = None) -> Any:
    if ndigits is None:
        return round(value)
    if abs(ndigits) > _MAX_ROUND_DIGITS:
        raise LimitError(f"round() precision {ndigits} is too large (the limit is {_MAX_ROUND_DIGITS})")
    result = round(value, ndigits)
    return exact(result) if isinstance(result, Fraction) else result


def _fraction(numerator: Any = 0, denominator: Any = None) -> Any:
    def to_fraction(value: Any) -> Fraction:
        if isinstance(value, str):
            return number_from_text(value)
        return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)

    if denominator is None:
        return exact(to_fraction(numerator))
    return divide(exact(to_fraction(numerator)), exact(to_fraction(denominator)))


def _sum(values: Any, start: Any = 0) -> Any:
    total = start
    for value in values:
        total = add(total, value)
    return total


def _gcd(*values: Any) -> int:
    return math.gcd(*(int(v) for v in values))


def _lcm(*values: Any) -> int:
    result = 1
    for value in values:
        result = check_value(math.lcm(result, int(value)))
    return result


def _range(*args: Any) -> range:
    ints = [int(a) if is_int(a) else a for a in args]
    if not all(isinstance(a, int) for a in ints):
        raise ValueError(f"range() needs whole numbers, got {args}")
    span = range(*ints)
    if len(span) > MAX_ITEMS:
        raise LimitError(f"range{tuple(args)} is too large (more than {MAX_ITEMS} items)")
    return span


def frange(start: Any, stop: Any, step: Any = 1) -> list:
    """Exact decimal range: ``frange(2.25, 3, 0.25) -> [2.25, 2.5, 2.75]`` as exact values."""
    start, stop, step = (
        Fraction(str(x)) if isinstance(x, float) else Fraction(x) for x in (start, stop, step)
    )
    if step == 0:
        raise ValueError("frange() step must not be zero")
    count = math.ceil((stop - start) / step)
    if count > MAX_ITEMS:
        raise LimitError(f"frange() is too large (more than {MAX_ITEMS} items)")
    charge(max(count, 0))
    return [_display_decimal(start + i * step) for i in range(max(count, 0))]


def _display_decimal(value: Fraction) -> Any:
    value = exact(value)
    if isinstance(value, Fraction) and terminates(value):
        return DecimalValue(format_value(value))
    return value


def numbers_within(low: Any, high: Any) -> list[int]:
    """Whole numbers from ``low`` to ``high`` inclusive."""
    return _list(_range(low, int(high) + 1))


def fix_floats(values: Any) -> Any:
    """Exact values need no float clean-up; kept so templates written for floats still run."""
    if isinstance(values, (list, tuple, range)):
        charge(len(values))
        return [_display_decimal(Fraction(v)) if isinstance(v, Fraction) else v for v in values]
    return values


def format_frac(value: Any) -> str:
    """A number as a mixed fraction string (``7/2 -> '3 1/2'``)."""
    value = Fraction(value)
    whole, rest = divmod(value.numerator, value.denominator)
    if rest == 0:
        return str(whole)
    if whole == 0:
        return f"{rest}/{value.denominator}"
    return f"{whole} {rest}/{value.denominator}"


def _sized(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function(values, ...)`` charged by the length of ``values`` (it reads every item)."""

    def sized(values: Any = (), *args: Any, **kwargs: Any) -> Any:
        charge(len(values) if hasattr(values, "__len__") else 1)
        return function(values, *args, **kwargs)

    sized.__name__ = getattr(function, "__name__", "function")
    return sized


def _sorted(values: Any, reverse: bool = False) -> list:
    return sorted(values, reverse=reverse)


def _list(values: Any = ()) -> list:
    charge(len(values) if hasattr(values, "__len__") else 1)
    return check_value(list(values))


def text_of(value: Any) -> str:
    """``str(value)`` built piece by piece and refused once longer than the text bound.

    Example:
        >>> text_of([1, (2,), "a"]), text_of(Fraction(5, 2))
        ("[1, (2,), 'a']", '2.5')
    """
    if not isinstance(value, (list, tuple)):
        return check_value(format_value(value))
    parts: list[str] = []
    size = 0

    def emit(piece: str) -> None:
        nonlocal size
        size += len(piece)
        if size > MAX_ITEMS:
            raise LimitError(f"text too long (more than {MAX_ITEMS} characters)")
        parts.append(piece)

    def walk(item: Any) -> None:
        if isinstance(item, (list, tuple)):
            closing = "]" if isinstance(item, list) else (",)" if len(item) == 1 else ")")
            opening = "[" if isinstance(item, list) else "("
            emit(opening)
            for position, element in enumerate(item):
                if position:
                    emit(", ")
                walk(element)
            emit(closing)
        else:
            emit(repr(item))

    walk(value)
    charge(len(parts))
    return "".join(parts)


def _sqrt(value: Any) -> Any:
    if is_int(value) and value >= 0:
        root = math.isqrt(int(value))
        if root * root == value:
            return root
    return math.sqrt(value)


_BASE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "int": _int,
    "float": _float,
    "round": _round,
    "abs": abs,
    "min": _sized(min),
    "max": _sized(max),
    "sum": _sum,
    "len": len,
    "str": text_of,
    "list": _list,
    "tuple": _sized(tuple),
    "sorted": _sized(_sorted),
    "range": _range,
    "is_int": is_int,
    "divides": divides,
    "gcd": _gcd,
    "lcm": _lcm,
    "Fraction": _fraction,
    "frange": frange,
    "numbers_within": numbers_within,
    "fix_floats": fix_floats,
    "format_frac": format_frac,
    "math.floor": math.floor,
    "math.ceil": math.ceil,
    "math.sqrt": _sqrt,
    "math.gcd": _gcd,
    "math.lcm": _lcm,
    "math.isqrt": math.isqrt,
    "floor": math.floor,
    "ceil": math.ceil,
    "sqrt": _sqrt,
    "np.arange": frange,
    "np.floor": math.floor,
    "np.ceil": math.ceil,
}

CONSTANTS: dict[str, Any] = {"True": True, "False": False, "None": None, "math.pi": math.pi}


def safe_functions() -> dict[str, Callable[..., Any]]:
    """The whitelisted pure functions, keyed by the (possibly dotted) name used in templates."""
    return dict(_BASE_FUNCTIONS)


def sampling_functions(rng: random.Random) -> dict[str, Callable[..., Any]]:
    """Functions that draw from ``rng`` (``sample``, ``sample_sequential``, ``shuffle_list``, ...).

    Example:
        >>> functions = sampling_functions(random.Random(0))
        >>> functions["sample"](["a", "b", "c"], 2)
        ['b', 'c']
    """

    def sample(pool: Any, k: Any = None) -> Any:
        items = _as_pool(pool, "sample")
        if k is None:
            return rng.choice(items)
        k = int(k)
        if k > len(items):
            raise ValueError(f"sample() asked for {k} distinct items from a pool of {len(items)}")
        charge(k)
        return rng.sample(items, k)

    def sample_sequential(pool: Any, k: Any) -> list:
        items = _as_pool(pool, "sample_sequential")
        k = int(k)
        if k > len(items):
            raise ValueError(f"sample_sequential() asked for {k} items from a pool of {len(items)}")
        start = rng.randrange(len(items) - k + 1)
        charge(k)
        return list(items[start : start + k])

    def shuffle_list(values: Any) -> list:
        items = _list(values)
        rng.shuffle(items)
        return items

    def randint(low: Any, high: Any = None, size: Any = None) -> Any:
        if high is None:
            low, high = 0, low
        if size is None:
            return rng.randrange(int(low), int(high))
        size = int(size)
        if size > MAX_ITEMS:
            raise LimitError(f"np.random.randint() size {size} is too large (the limit is {MAX_ITEMS})")
        charge(size)
        return [rng.randrange(int(low), int(high)) for _ in range(size)]

    return {
        "sample": sample,
        "sample_sequential": sample_sequential,
        "shuffle_list": shuffle_list,
        "np.random.randint": randint,
        "np.random.shuffle": shuffle_list,
        "np.random.choice": sample,
    }


def _as_pool(pool: Any, function: str) -> list | tuple | range:
    # A range is drawn from directly: random.choice/sample index it exactly as they would its list.
    if not isinstance(pool, (list, tuple, range)):
        raise ValueError(f"{function}() needs a list/pool, got {type(pool).__name__}")
    if not pool:
        raise ValueError(f"{function}() got an empty pool")
    return pool

