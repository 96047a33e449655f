"""A restricted, exact expression language for template `#init`, `#conditions` and answers.

Expressions are parsed with :mod:`ast`, checked against a whitelist of node types and function names,
rewritten so that arithmetic stays exact (``7 / 2`` is ``Fraction(7, 2)``, ``0.1`` is ``Fraction(1, 10)``),
then compiled and run with no builtins. File content is never handed to ``eval`` unchecked.

Example:
    >>> evaluate("is_int(x / 3) and x > 2", {"x": 9})
    True
    >>> evaluate("x / 4", {"x": 10})
    Fraction(5, 2)
    >>> to_answer(evaluate("x / 4", {"x": 10}))
    2.5
"""

from __future__ import annotations

import ast
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

__all__ = [
    "ExpressionError",
    "DecimalValue",
    "Expression",
    "compile_expression",
    "evaluate",
    "exact",
    "format_value",
    "to_answer",
    "safe_functions",
    "sampling_functions",
]

MAX_SEQUENCE = 200_000
MAX_EXPONENT = 4096


class ExpressionError(ValueError):
    """An expression is not allowed or failed to evaluate; the message names the expression.

    Example:
        >>> try:
        ...     evaluate("__import__('os')", {})
        ... except ExpressionError as error:
        ...     print("refused")
        refused
    """


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


# ---------------------------------------------------------------- exact arithmetic helpers


def exact(value: Any) -> Any:
    """Normalise a number: integral Fractions become ints, floats become exact decimal Fractions."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return value
        value = Fraction(repr(value))
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value.numerator)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Fraction, float)) and not isinstance(value, bool)


def _div(a: Any, b: Any) -> Any:
    if _is_number(a) and _is_number(b):
        if b == 0:
            raise ZeroDivisionError("division by zero")
        if isinstance(a, float) or isinstance(b, float):
            return a / b
        return exact(Fraction(a) / Fraction(b))
    return a / b


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, (list, tuple, str)) and isinstance(b, int):
        if len(a) * max(b, 0) > MAX_SEQUENCE:
            raise ValueError(f"sequence repetition too large (more than {MAX_SEQUENCE} items)")
    elif isinstance(b, (list, tuple, str)) and isinstance(a, int):
        if len(b) * max(a, 0) > MAX_SEQUENCE:
            raise ValueError(f"sequence repetition too large (more than {MAX_SEQUENCE} items)")
    result = a * b
    return exact(result) if isinstance(result, Fraction) else result


def _pow(a: Any, b: Any) -> Any:
    if _is_number(b) and abs(b) > MAX_EXPONENT:
        raise ValueError(f"exponent {b} is too large (limit {MAX_EXPONENT})")
    if _is_number(a) and abs(a) > 10**6 and _is_number(b) and b > 64:
        raise ValueError("power result would be too large")
    if isinstance(b, Fraction) and b.denominator != 1:
        return float(a) ** float(b)
    result = a**b
    return exact(result) if isinstance(result, Fraction) else result


def _mod(a: Any, b: Any) -> Any:
    result = a % b
    return exact(result) if isinstance(result, Fraction) else result


def _decimal(text: str) -> Any:
    return DecimalValue(text) if "." in text else exact(Fraction(text))


# ---------------------------------------------------------------- whitelisted functions


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
    return is_int(_div(a, b))


def _int(value: Any = 0, *args: Any) -> int:
    if isinstance(value, str) and not args:
        value = value.strip().replace(",", "")
        try:
            return int(value)
        except ValueError:
            return int(Fraction(value))
    return int(value, *args)


def _float(value: Any = 0) -> Any:
    # Keep exactness: float() of an exact number stays exact; display code prints it as a decimal.
    if isinstance(value, (int, Fraction)) and not isinstance(value, bool):
        return exact(Fraction(value))
    if isinstance(value, str):
        return exact(Fraction(value.strip().replace(",", "")))
    return float(value)


def _round(value: Any, ndigits: int | None = None) -> Any:
    if ndigits is None:
        return round(value)
    result = round(value, ndigits)
    return exact(result) if isinstance(result, Fraction) else result


def _fraction(numerator: Any = 0, denominator: Any = None) -> Any:
    if denominator is None:
        return exact(Fraction(numerator) if not isinstance(numerator, float) else Fraction(repr(numerator)))
    return _div(exact(Fraction(numerator)), exact(Fraction(denominator)))


def _sum(values: Any, start: Any = 0) -> Any:
    total = start
    for value in values:
        total = total + value
    return exact(total) if isinstance(total, Fraction) else total


def _gcd(*values: Any) -> int:
    return math.gcd(*(int(v) for v in values))


def _lcm(*values: Any) -> int:
    return math.lcm(*(int(v) for v in values))


def _range(*args: Any) -> range:
    ints = [int(a) if is_int(a) else a for a in args]
    if not all(isinstance(a, int) for a in ints):
        raise ValueError(f"range() needs whole numbers, got {args}")
    span = range(*ints)
    if len(span) > MAX_SEQUENCE:
        raise ValueError(f"range{tuple(args)} is too large (more than {MAX_SEQUENCE} items)")
    return span


def frange(start: Any, stop: Any, step: Any = 1) -> list:
    """Exact decimal range: ``frange(2.25, 3, 0.25) -> [2.25, 2.5, 2.75]`` as exact values."""
    start, stop, step = (
        Fraction(str(x)) if isinstance(x, float) else Fraction(x) for x in (start, stop, step)
    )
    if step == 0:
        raise ValueError("frange() step must not be zero")
    count = math.ceil((stop - start) / step)
    if count > MAX_SEQUENCE:
        raise ValueError(f"frange() is too large (more than {MAX_SEQUENCE} items)")
    return [_display_decimal(start + i * step) for i in range(max(count, 0))]


def _display_decimal(value: Fraction) -> Any:
    value = exact(value)
    if isinstance(value, Fraction) and _terminates(value):
        return DecimalValue(format_value(value))
    return value


def numbers_within(low: Any, high: Any) -> list[int]:
    """Whole numbers from ``low`` to ``high`` inclusive."""
    return list(_range(low, int(high) + 1))


def fix_floats(values: Any) -> Any:
    """Exact values need no float clean-up; kept so templates written for floats still run."""
    if isinstance(values, (list, tuple, range)):
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


def _sorted(values: Any, reverse: bool = False) -> list:
    return sorted(values, reverse=reverse)


def _list(values: Any = ()) -> list:
    if isinstance(values, range) and len(values) > MAX_SEQUENCE:
        raise ValueError("list() argument too large")
    return list(values)


def _str(value: Any = "") -> str:
    return format_value(value)


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
    "min": min,
    "max": max,
    "sum": _sum,
    "len": len,
    "str": _str,
    "list": _list,
    "tuple": tuple,
    "sorted": _sorted,
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

_CONSTANTS: dict[str, Any] = {"True": True, "False": False, "None": None, "math.pi": math.pi}


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
        return rng.sample(items, k)

    def sample_sequential(pool: Any, k: Any) -> list:
        items = _as_pool(pool, "sample_sequential")
        k = int(k)
        if k > len(items):
            raise ValueError(f"sample_sequential() asked for {k} items from a pool of {len(items)}")
        start = rng.randrange(len(items) - k + 1)
        return items[start : start + k]

    def shuffle_list(values: Any) -> list:
        items = list(values)
        rng.shuffle(items)
        return items

    def randint(low: Any, high: Any = None, size: Any = None) -> Any:
        if high is None:
            low, high = 0, low
        if size is None:
            return rng.randrange(int(low), int(high))
        size = int(size)
        if size > MAX_SEQUENCE:
            raise ValueError("np.random.randint() size too large")
        return [rng.randrange(int(low), int(high)) for _ in range(size)]

    return {
        "sample": sample,
        "sample_sequential": sample_sequential,
        "shuffle_list": shuffle_list,
        "np.random.randint": randint,
        "np.random.shuffle": shuffle_list,
        "np.random.choice": sample,
    }


def _as_pool(pool: Any, function: str) -> list:
    if isinstance(pool, (list, tuple, range)):
        items = list(pool)
    else:
        raise ValueError(f"{function}() needs a list/pool, got {type(pool).__name__}")
    if not items:
        raise ValueError(f"{function}() got an empty pool")
    return items


# ---------------------------------------------------------------- validation + rewriting

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Tuple,
    ast.List,
    ast.Subscript,
    ast.Slice,
    ast.Call,
    ast.Attribute,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.And,
    ast.Or,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)

_DOTTED_SAFE = re.compile(r"^[A-Za-z]\w*$")


def _dotted_name(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _mangle(dotted: str) -> str:
    return "_fn_" + dotted.replace(".", "__")


class _Rewriter(ast.NodeTransformer):
    """Exact arithmetic: `/`, `*`, `**`, `%` become helper calls; float literals become exact decimals."""

    _helpers = {ast.Div: "_h_div", ast.Mult: "_h_mul", ast.Pow: "_h_pow", ast.Mod: "_h_mod"}

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        helper = self._helpers.get(type(node.op))
        if helper is None:
            return node
        return ast.copy_location(
            ast.Call(func=ast.Name(id=helper, ctx=ast.Load()), args=[node.left, node.right], keywords=[]),
            node,
        )

    def __init__(self, source: str) -> None:
        self._source = source

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float):
            # Keep the literal as written ("0.30" stays "0.30" when shown in a question).
            written = ast.get_source_segment(self._source, node) or repr(node.value)
            if not re.fullmatch(r"\d+\.\d+", written):
                written = format_value(exact(node.value))
            return ast.copy_location(
                ast.Call(
                    func=ast.Name(id="_h_decimal", ctx=ast.Load()),
                    args=[ast.Constant(value=written)],
                    keywords=[],
                ),
                node,
            )
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        dotted = _dotted_name(node)
        assert dotted is not None  # validated before rewriting
        return ast.copy_location(ast.Name(id=_mangle(dotted), ctx=ast.Load()), node)


def _validate(tree: ast.AST, source: str, allowed_calls: set[str]) -> set[str]:
    """Check every node; return the free variable names the expression reads."""
    names: set[str] = set()
    attribute_children: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"expression {source!r}: {type(node).__name__} is not allowed "
                "(only arithmetic, comparisons, and/or/not, conditionals, lists, subscripts and "
                "calls to whitelisted functions)"
            )
        if isinstance(node, ast.Attribute):
            if id(node) in attribute_children:
                continue
            dotted = _dotted_name(node)
            if dotted is None or (dotted not in allowed_calls and dotted not in _CONSTANTS):
                raise ExpressionError(
                    f"expression {source!r}: attribute access {ast.unparse(node)!r} is not allowed "
                    f"(allowed dotted names: {', '.join(sorted(n for n in allowed_calls if '.' in n))})"
                )
            inner = node.value
            while isinstance(inner, ast.Attribute):
                attribute_children.add(id(inner))
                inner = inner.value
            attribute_children.add(id(inner))
        elif isinstance(node, ast.Name):
            if id(node) in attribute_children:
                continue
            if node.id.startswith("_"):
                raise ExpressionError(
                    f"expression {source!r}: names starting with '_' ({node.id}) are not allowed"
                )
            names.add(node.id)
        elif isinstance(node, ast.Call):
            dotted = _dotted_name(node.func)
            if dotted is None or dotted not in allowed_calls:
                shown = dotted or ast.unparse(node.func)
                raise ExpressionError(
                    f"expression {source!r}: calling {shown!r} is not allowed "
                    f"(allowed: {', '.join(sorted(allowed_calls))})"
                )
            for keyword in node.keywords:
                if keyword.arg is None:
                    raise ExpressionError(f"expression {source!r}: **kwargs are not allowed")
        elif isinstance(node, ast.Constant) and not isinstance(
            node.value, (int, float, str, bool, type(None))
        ):
            raise ExpressionError(f"expression {source!r}: constant {node.value!r} is not allowed")
    return names


class Expression:
    """A validated, compiled expression; ``names`` are the variables it reads.

    Example:
        >>> Expression("a + b * 2").evaluate({"a": 1, "b": 3})
        7
    """

    def __init__(self, source: str, extra_functions: Sequence[str] = ()) -> None:
        self.source = source
        text = _clean_source(source)
        if not text:
            raise ExpressionError(f"expression {source!r}: it is empty")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as error:
            raise ExpressionError(f"expression {source!r}: syntax error ({error.msg})") from None
        allowed = set(_BASE_FUNCTIONS) | set(sampling_functions(random.Random(0))) | set(extra_functions)
        self.names = frozenset(_validate(tree, source, allowed) - allowed - set(_CONSTANTS))
        tree = ast.fix_missing_locations(_Rewriter(text).visit(tree))
        self._code = compile(tree, "<template expression>", "eval")

    def evaluate(
        self, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] | None = None
    ) -> Any:
        namespace = dict(_BASE_NAMESPACE)
        namespace.update(variables)
        if functions:
            for name, function in functions.items():
                namespace[_mangle(name) if "." in name else name] = function
        # Helpers last so no variable can shadow them.
        namespace.update(_HELPERS)
        try:
            return eval(self._code, namespace)  # noqa: S307 - validated, rewritten AST; no builtins
        except NameError as error:
            raise ExpressionError(
                f"expression {self.source!r}: {error} (define it in #init or a pool)"
            ) from None
        except RecursionError:
            raise ExpressionError(f"expression {self.source!r}: too deeply nested") from None
        except Exception as error:  # noqa: BLE001 - any runtime failure becomes a named ExpressionError
            raise ExpressionError(f"expression {self.source!r}: {type(error).__name__}: {error}") from None


_HELPERS: dict[str, Any] = {
    "__builtins__": {},
    "_h_div": _div,
    "_h_mul": _mul,
    "_h_pow": _pow,
    "_h_mod": _mod,
    "_h_decimal": _decimal,
}
_BASE_NAMESPACE: dict[str, Any] = {
    **{(_mangle(name) if "." in name else name): function for name, function in _BASE_FUNCTIONS.items()},
    _mangle("math.pi"): math.pi,
    "True": True,
    "False": False,
    "None": None,
}


def _clean_source(source: str) -> str:
    # Templates write numeric variables as `$x` in a few places (e.g. `#answer: $ans`).
    return re.sub(r"\$(?=[A-Za-z_])", "", source.strip())


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Expression:
    """Parse + validate once, cached by source text."""
    return Expression(source)


def evaluate(
    source: str, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] | None = None
) -> Any:
    """Evaluate one restricted expression against ``variables``; raises :class:`ExpressionError`."""
    return compile_expression(source).evaluate(variables, functions)


# ---------------------------------------------------------------- formatting


def _terminates(value: Fraction) -> bool:
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


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
        return str(value)
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        if _terminates(value):
            sign = "-" if value < 0 else ""
            value = abs(value)
            digits = 0
            while (value * 10**digits).denominator != 1:
                digits += 1
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
    if isinstance(value, bool) or not _is_number(value):
        raise ExpressionError(f"answer {value!r} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(f"answer {value!r} is not finite")
        return int(value) if value.is_integer() else value
    value = Fraction(value)
    if value.denominator == 1:
        return int(value.numerator)
    return float(value)
