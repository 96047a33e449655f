"""The restricted expression language: refuses unsafe code, keeps arithmetic exact."""

from fractions import Fraction

import pytest

from optimize.data.expressions import evaluate
from optimize.data.functions import sampling_functions
from optimize.data.limits import ExpressionError
from optimize.data.values import DecimalValue, format_value, to_answer


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('echo hi')",
        "x.__class__",
        "(1).real",
        "(lambda: 1)()",
        "[y for y in x]",
        "open('/etc/passwd')",
        "eval('1')",
        "getattr(x, 'a')",
        "_h_div(1, 2)",
        "x := 3",
    ],
)
def test_unsafe_expressions_are_refused(source):
    with pytest.raises(ExpressionError) as error:
        evaluate(source, {"x": [1, 2]})
    assert repr(source)[1:-1] in str(error.value) or source in str(error.value)


def test_error_names_the_expression_and_problem():
    with pytest.raises(ExpressionError, match=r"'1 / 0'.*ZeroDivisionError"):
        evaluate("1 / 0", {})
    with pytest.raises(ExpressionError, match="missing"):
        evaluate("missing + 1", {})


def test_division_is_exact():
    assert evaluate("x / 3", {"x": 7}) == Fraction(7, 3)
    assert evaluate("is_int(x / 3)", {"x": 9}) is True
    assert evaluate("is_int(x / 3)", {"x": 10}) is False
    assert evaluate("0.1 + 0.2 == 0.3", {}) is True
    assert evaluate("(k - k * frac) * 3", {"k": 10, "frac": Fraction(1, 2)}) == 15


def test_operators_and_functions():
    assert evaluate("1 < x <= 5 and not x == 4", {"x": 5}) is True
    assert evaluate("7 // 2 + 7 % 2 + 2 ** 3", {}) == 3 + 1 + 8
    assert evaluate("-x if x > 0 else x", {"x": 2}) == -2
    assert evaluate("divides(12, 4) and not divides(12, 5)", {}) is True
    assert evaluate("max([1, 5, 3]) + min(2, 4) + len((1, 2)) + abs(-3)", {}) == 5 + 2 + 2 + 3
    assert evaluate("round(2.675, 2)", {}) == Fraction(2675, 1000).__round__(2)
    assert evaluate("math.floor(7 / 2) + math.ceil(7 / 2)", {}) == 7
    assert evaluate("gcd(12, 18) + lcm(4, 6)", {}) == 18
    assert evaluate("Fraction(3, 4) * 4", {}) == 3
    assert evaluate("[1, 2, 3][-1] + (x)[0]", {"x": [10]}) == 13
    assert evaluate("sum([0.5, 0.25])", {}) == Fraction(3, 4)


def test_huge_repetition_is_refused():
    with pytest.raises(ExpressionError, match="too large"):
        evaluate("[1] * 10 ** 9", {})
    with pytest.raises(ExpressionError, match="too large"):
        evaluate("2 ** 100000", {})


def test_answers_and_display():
    assert to_answer(Fraction(90, 2)) == 45 and isinstance(to_answer(Fraction(90, 2)), int)
    assert to_answer(Fraction(7, 4)) == 1.75
    assert to_answer(45.0) == 45 and isinstance(to_answer(45.0), int)
    assert format_value(Fraction(5, 2)) == "2.5"
    assert format_value(12) == "12"
    assert format_value(DecimalValue("0.30")) == "0.30"
    assert [format_value(v) for v in evaluate("[0.25, 0.30, 2.0]", {})] == ["0.25", "0.30", "2.0"]
    with pytest.raises(ExpressionError):
        to_answer("twelve")


def test_sampling_functions_are_deterministic_per_rng():
    import random

    first = sampling_functions(random.Random(3))
    second = sampling_functions(random.Random(3))
    assert first["sample"](list(range(100)), 5) == second["sample"](list(range(100)), 5)
    picked = first["sample"](["a", "b", "c", "d"], 4)
    assert sorted(picked) == ["a", "b", "c", "d"]  # k distinct values
    run = first["sample_sequential"](["Mon", "Tue", "Wed", "Thu", "Fri"], 3)
    days = ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert days[days.index(run[0]) : days.index(run[0]) + 3] == run
    assert evaluate("numbers_within(2, 5)", {}) == [2, 3, 4, 5]
    assert [format_value(v) for v in evaluate("frange(2.25, 3, 0.25)", {})] == ["2.25", "2.5", "2.75"]
