"""The one scoring function: number extraction and numeric comparison."""

import pytest

from programs.answers import extract_number, is_correct


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("First 12, then 30, so 45", 45),
        ("work...\n#### 72", 72),
        ("#### 1,234", 1234),
        ("The answer is 18. (I checked 20 twice)", 18),
        ("so \\boxed{42} and 7 other things", 42),
        ("\\boxed{\\frac{3}{4}}", 0.75),
        ("It costs $1,234.50.", 1234.5),
        ("It costs €7 or £8", 8),
        ("The rate is 45%.", 45),
        ("The temperature is -12 degrees", -12),
        ("She ate 3/4 of the pie", 0.75),
        ("The total is 45.", 45),
        ("That is 0.5", 0.5),
    ],
)
def test_extract_number(text, expected):
    assert extract_number(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "no numbers here", None, "\\boxed{}", "####"])
def test_text_without_numbers_gives_none(text):
    assert extract_number(text) is None
    assert is_correct(text, 3) is False


def test_is_correct_compares_numerically():
    assert is_correct("45.0", 45)
    assert is_correct(45, "45.0")
    assert is_correct("1/2", 0.5)
    assert is_correct("The answer is $1,000.", 1000)
    assert is_correct("#### 2.5", 2.5000000001)
    assert not is_correct("44", 45)
    assert not is_correct("45", "46.0")
    assert not is_correct("45", None)
