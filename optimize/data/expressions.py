"""A restricted, exact, bounded expression language for template `#init`, `#conditions` and answers.

Expressions are parsed with :mod:`ast`, checked against a whitelist of node types and function names and
against the size bounds of :mod:`optimize.data.limits` (source length, nesting depth), then rewritten so that
every operator runs through the exact, bounded helpers of :mod:`optimize.data.arithmetic` and every value an
expression builds is measured, then compiled and run with no builtins. File content is never handed to
``eval`` unchecked; no expression can hang or exhaust memory: each failure is one :class:`ExpressionError`.

Example:
    >>> evaluate("is_int(x / 3) and x > 2", {"x": 9})
    True
    >>> evaluate("x / 4", {"x": 10})
    Fraction(5, 2)
    >>> from optimize.data.values import to_answer
    >>> to_answer(evaluate("x / 4", {"x": 10}))
    2.5
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from optimize.data.arithmetic import OPERATORS, decimal
from optimize.data.functions import CONSTANTS, safe_functions, sampling_functions
from optimize.data.limits import (
    MAX_DEPTH,
    MAX_SOURCE,
    ExpressionError,
    LimitError,
    charge,
    check_value,
    evaluation_meter,
)
from optimize.data.values import exact, format_value

__all__ = ["Expression", "compile_expression", "evaluate"]

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


def _validate(tree: ast.AST, source: str, allowed_calls: set[str]) -> set[str]:
    """Check every node; return the free variable names the expression reads."""
    names: set[str] = set()
    attribute_children: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"expression {_shown(source)}: {type(node).__name__} is not allowed "
                "(only arithmetic, comparisons, and/or/not, conditionals, lists, subscripts and "
                "calls to whitelisted functions)"
            )
        if isinstance(node, ast.Attribute):
            if id(node) in attribute_children:
                continue
            dotted = _dotted_name(node)
            if dotted is None or (dotted not in allowed_calls and dotted not in CONSTANTS):
                raise ExpressionError(
                    f"expression {_shown(source)}: attribute access {ast.unparse(node)!r} is not allowed "
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
                    f"expression {_shown(source)}: names starting with '_' ({node.id}) are not allowed"
                )
            names.add(node.id)
        elif isinstance(node, ast.Call):
            dotted = _dotted_name(node.func)
            if dotted is None or dotted not in allowed_calls:
                shown = dotted or ast.unparse(node.func)
                raise ExpressionError(
                    f"expression {_shown(source)}: calling {shown!r} is not allowed "
                    f"(allowed: {', '.join(sorted(allowed_calls))})"
                )
            for keyword in node.keywords:
                if keyword.arg is None:
                    raise ExpressionError(f"expression {_shown(source)}: **kwargs are not allowed")
        elif isinstance(node, ast.Constant) and not isinstance(
            node.value, (int, float, str, bool, type(None))
        ):
            raise ExpressionError(f"expression {_shown(source)}: constant {node.value!r} is not allowed")
    return names


def _shown(source: str) -> str:
    text = repr(source)
    return text if len(text) <= 120 else text[:100] + "...'"


def _depth(tree: ast.AST) -> int:
    """Nesting depth of a syntax tree, measured without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _call(helper: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=helper, ctx=ast.Load()), args=list(args), keywords=[])


class _Rewriter(ast.NodeTransformer):
    """Operators become bounded helper calls, built values are measured, float literals become exact decimals.

    ``a + b`` -> ``_h_Add(a, b)``; calls, subscripts, lists and tuples -> ``_h_guard(...)`` (checks the
    result's size and counts a step); comparison operands -> ``_h_operand(x)`` (counts the items compared).
    """

    def __init__(self, source: str) -> None:
        self._source = source

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(_call(f"_h_{type(node.op).__name__}", node.left, node.right), node)

    def _guarded(self, node: ast.expr) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(_call("_h_guard", node), node)

    visit_Call = visit_Subscript = visit_List = visit_Tuple = _guarded

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        node.left = _call("_h_operand", node.left)
        node.comparators = [_call("_h_operand", item) for item in node.comparators]
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float):
            # Keep the literal as written ("0.30" stays "0.30" when shown in a question).
            written = ast.get_source_segment(self._source, node) or repr(node.value)
            if not re.fullmatch(r"\d+\.\d+", written):
                written = format_value(exact(node.value))
            return ast.copy_location(_call("_h_decimal", ast.Constant(value=written)), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        dotted = _dotted_name(node)
        assert dotted is not None  # validated before rewriting
        return ast.copy_location(ast.Name(id=_mangle(dotted), ctx=ast.Load()), node)


def _parse(source: str) -> ast.Expression:
    text = _clean_source(source)
    if not text:
        raise ExpressionError(f"expression {_shown(source)}: it is empty")
    if len(text) > MAX_SOURCE:
        raise LimitError(
            f"expression {_shown(source)}: too long ({len(text)} characters, the limit is {MAX_SOURCE}); "
            "fix: compute parts on separate #init lines"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"expression {_shown(source)}: syntax error ({error.msg})") from None
    except (RecursionError, MemoryError):
        tree = None
    depth = _depth(tree) if tree is not None else MAX_DEPTH + 1
    if depth > MAX_DEPTH:
        raise LimitError(
            f"expression {_shown(source)}: nested too deeply (more than {MAX_DEPTH} levels); "
            "fix: compute parts on separate #init lines"
        )
    return tree


class Expression:
    """A validated, compiled expression; ``names`` are the variables it reads.

    Example:
        >>> Expression("a + b * 2").evaluate({"a": 1, "b": 3})
        7
    """

    def __init__(self, source: str, extra_functions: Sequence[str] = ()) -> None:
        self.source = source
        tree = _parse(source)
        allowed = set(_BASE_FUNCTIONS) | set(_SAMPLING_NAMES) | set(extra_functions)
        self.names = frozenset(_validate(tree, source, allowed) - allowed - set(CONSTANTS))
        tree = ast.fix_missing_locations(_Rewriter(_clean_source(source)).visit(tree))
        self._code = compile(tree, "<template expression>", "eval")

    def evaluate(
        self, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] | None = None
    ) -> Any:
        """The value for ``variables``; every failure (a bound included) is one :class:`ExpressionError`."""
        namespace = dict(_BASE_NAMESPACE)
        namespace.update(variables)
        if functions:
            for name, function in functions.items():
                namespace[_mangle(name) if "." in name else name] = function
        # Helpers last so no variable can shadow them.
        namespace.update(_HELPERS)
        try:
            with evaluation_meter():
                return eval(self._code, namespace)  # noqa: S307 - validated, rewritten AST; no builtins
        except ExpressionError as error:  # keeps its class: a LimitError stays one
            raise type(error)(f"expression {_shown(self.source)}: {error}") from None
        except NameError as error:
            raise ExpressionError(
                f"expression {_shown(self.source)}: {error} (define it in #init or a pool)"
            ) from None
        except RecursionError:
            raise LimitError(f"expression {_shown(self.source)}: nested too deeply") from None
        except MemoryError:
            raise LimitError(f"expression {_shown(self.source)}: ran out of memory") from None
        except Exception as error:  # noqa: BLE001 - any runtime failure becomes a named ExpressionError
            message = str(error).splitlines()[0] if str(error) else ""
            raise ExpressionError(
                f"expression {_shown(self.source)}: {type(error).__name__}: {message[:200]}"
            ) from None


def _guard(value: Any) -> Any:
    charge()
    return check_value(value)


def _operand(value: Any) -> Any:
    charge(len(value) if isinstance(value, (str, list, tuple, range)) else 1)
    return value


_BASE_FUNCTIONS = safe_functions()
_SAMPLING_NAMES = frozenset(sampling_functions(random.Random(0)))
_HELPERS: dict[str, Any] = {
    "__builtins__": {},
    **{f"_h_{name}": operator for name, operator in OPERATORS.items()},
    "_h_decimal": decimal,
    "_h_guard": _guard,
    "_h_operand": _operand,
}
_BASE_NAMESPACE: dict[str, Any] = {
    **{(_mangle(name) if "." in name else name): function for name, function in _BASE_FUNCTIONS.items()},
    **{_mangle(name) if "." in name else name: value for name, value in CONSTANTS.items()},
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
