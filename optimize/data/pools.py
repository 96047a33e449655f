"""Named value pools for template `#init` lines (``sample(names)``, ``sample(multiple_ice + multi_times)``).

Apple's GSM-Symbolic release references these pools without defining them, so these are our own.
A pool item is either plain text, a number, or a ``(display_text, value)`` pair: the text goes into the
question, the value into the arithmetic. Fraction values are written as ``"p/q"`` strings and turned into
exact :class:`fractions.Fraction` values by :func:`get_pool`.

Example:
    >>> get_pool("fractions")[0]
    ('half', Fraction(1, 2))
    >>> "Monday" in get_pool("weekdays")
    True
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

__all__ = ["POOLS", "NUMBER_WORDS", "get_pool", "pool_names", "pool_namespace"]

# fmt: off
_NAMES_MALE = [
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
    "Daniel", "Matthew", "Anthony", "Mark", "Steven", "Paul", "Andrew", "Joshua", "Kevin", "Brian",
    "George", "Ethan", "Jacob", "Ryan", "Gary", "Eric", "Jonathan", "Nathan", "Samuel", "Benjamin",
    "Liam", "Noah", "Lucas", "Mason", "Logan", "Oliver", "Elijah", "Aiden", "Carlos", "Diego",
    "Mateo", "Hiroshi", "Kenji", "Ravi", "Arjun", "Omar", "Yusuf", "Malik", "Tariq", "Ivan",
    "Dmitri", "Luca", "Marco", "Pierre", "Hans", "Sven", "Kofi", "Jamal", "Wei", "Chen",
]
_NAMES_FEMALE = [
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
    "Nancy", "Lisa", "Betty", "Sandra", "Ashley", "Emily", "Donna", "Michelle", "Carol", "Amanda",
    "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura", "Sharon", "Cynthia", "Kathleen", "Amy", "Anna",
    "Emma", "Olivia", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Amelia", "Harper", "Evelyn",
    "Valeria", "Camila", "Lucia", "Sofia", "Priya", "Aisha", "Fatima", "Leila", "Yuki", "Mei",
    "Hana", "Ingrid", "Astrid", "Elena", "Natasha", "Chloe", "Zoe", "Nadia", "Amara", "Keisha",
]

# Fractions people write in words or digits; values are exact.
_FRACTION_WORDS = [
    ("half", "1/2"), ("a third", "1/3"), ("a quarter", "1/4"), ("a fifth", "1/5"), ("two-thirds", "2/3"),
    ("three quarters", "3/4"), ("two-fifths", "2/5"), ("three-fifths", "3/5"), ("one-tenth", "1/10"),
]

POOLS: dict[str, list[Any]] = {
    "names_male": _NAMES_MALE,
    "names_female": _NAMES_FEMALE,
    "names": [name for pair in zip(_NAMES_MALE, _NAMES_FEMALE, strict=True) for name in pair],
    "fractions": [("half", "1/2"), ("a third", "1/3"), ("a quarter", "1/4"), ("a fifth", "1/5")],
    "fraction_alph": _FRACTION_WORDS,
    "fraction_nums": [
        ("1/2", "1/2"), ("1/3", "1/3"), ("1/4", "1/4"), ("1/5", "1/5"),
        ("2/3", "2/3"), ("3/4", "3/4"), ("2/5", "2/5"), ("3/5", "3/5"), ("1/10", "1/10"),
    ],
    "fraction_alnum": [
        ("half", "1/2"), ("1/2", "1/2"), ("a third", "1/3"), ("1/3", "1/3"), ("a quarter", "1/4"),
        ("1/4", "1/4"), ("one-fifth", "1/5"), ("1/5", "1/5"), ("two-thirds", "2/3"), ("2/3", "2/3"),
        ("three quarters", "3/4"), ("3/4", "3/4"), ("three-fifths", "3/5"), ("1/8", "1/8"),
        ("1/10", "1/10"), ("1/16", "1/16"),
    ],
    "fraction_decimals": [
        ("0.1", "1/10"), ("0.2", "1/5"), ("0.25", "1/4"), ("0.3", "3/10"), ("0.4", "2/5"), ("0.5", "1/2"),
        ("0.6", "3/5"), ("0.75", "3/4"), ("0.8", "4/5"),
    ],
    "multiple_ice": [("twice", 2), ("thrice", 3)],
    "multi_times": [("twice", 2), ("three times", 3), ("four times", 4), ("five times", 5), ("six times", 6)],
    "multiple": [("double", 2), ("triple", 3), ("quadruple", 4)],
    "currencies_sym": ["$", "€", "£", "¥", "₹"],
    "weekdays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "months": [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ],
    "fruits": [
        "apple", "banana", "orange", "pear", "peach", "mango", "plum", "kiwi", "lemon", "pineapple",
        "apricot", "grapefruit",
    ],
    "sports": ["basketball", "soccer", "tennis", "volleyball", "baseball", "hockey", "badminton", "rugby"],
    "colors": ["red", "blue", "green", "yellow", "orange", "purple", "pink", "white", "black", "teal"],
    "cities": [
        "Los Angeles", "Chicago", "Houston", "Phoenix", "Seattle", "Denver", "Boston", "Miami", "Atlanta",
        "Toronto", "London", "Paris", "Berlin", "Madrid", "Tokyo", "Sydney", "Mumbai", "Cairo",
    ],
    "weights_sm": ["ounce", "gram"],
    "weights_med": ["pound", "kilogram"],
    "length_lg": ["mile", "kilometer"],
    "length_sm": ["inch", "centimeter"],
    # Used by our own multi-query templates.
    "family": [
        "mother", "father", "sister", "brother", "aunt", "uncle", "cousin", "grandmother", "grandfather",
    ],
    "vehicles": ["car", "van", "truck", "bus", "minivan", "pickup truck"],
    "baked_goods": ["muffins", "cookies", "cupcakes", "brownies", "croissants", "scones", "bagels", "donuts"],
    "animals": ["dogs", "cats", "rabbits", "chickens", "goats", "sheep", "ducks", "horses"],
    "items": ["pencils", "notebooks", "stickers", "marbles", "erasers", "markers", "postcards", "buttons"],
    "toys": ["toy cars", "puzzles", "dolls", "kites", "yo-yos", "board games"],
    "vegetables": ["carrots", "tomatoes", "potatoes", "cucumbers", "peppers", "onions"],
    "flowers": ["roses", "tulips", "daisies", "lilies", "sunflowers", "orchids"],
    "drinks": ["lemonade", "iced tea", "orange juice", "apple juice", "smoothies"],
    "stores": ["bakery", "grocery store", "bookstore", "hardware store", "toy shop", "flower shop"],
    "jobs": ["babysitting", "dog walking", "tutoring", "lawn mowing", "car washing"],
    "school_subjects": ["math", "history", "science", "art", "music", "geography"],
}

# Words a `{var,default}` placeholder may use for a number (resolving defaults for the default instance).
NUMBER_WORDS: dict[str, Fraction] = {
    "half": Fraction(1, 2), "a half": Fraction(1, 2), "one half": Fraction(1, 2), "one-half": Fraction(1, 2),
    "third": Fraction(1, 3), "a third": Fraction(1, 3), "one third": Fraction(1, 3),
    "one-third": Fraction(1, 3),
    "quarter": Fraction(1, 4), "a quarter": Fraction(1, 4), "one quarter": Fraction(1, 4),
    "one-quarter": Fraction(1, 4), "fourth": Fraction(1, 4), "a fourth": Fraction(1, 4),
    "fifth": Fraction(1, 5), "a fifth": Fraction(1, 5), "one-fifth": Fraction(1, 5),
    "one fifth": Fraction(1, 5),
    "two-thirds": Fraction(2, 3), "two thirds": Fraction(2, 3), "three quarters": Fraction(3, 4),
    "three-quarters": Fraction(3, 4), "three-fourths": Fraction(3, 4), "two-fifths": Fraction(2, 5),
    "three-fifths": Fraction(3, 5), "four-fifths": Fraction(4, 5), "one-tenth": Fraction(1, 10),
    "a tenth": Fraction(1, 10), "one-sixth": Fraction(1, 6), "a sixth": Fraction(1, 6),
    "one-eighth": Fraction(1, 8), "an eighth": Fraction(1, 8),
    "twice": Fraction(2), "double": Fraction(2), "thrice": Fraction(3), "triple": Fraction(3),
    "quadruple": Fraction(4), "two times": Fraction(2), "three times": Fraction(3), "four times": Fraction(4),
    "five times": Fraction(5), "six times": Fraction(6), "ten times": Fraction(10),
    "zero": Fraction(0), "one": Fraction(1), "two": Fraction(2), "three": Fraction(3), "four": Fraction(4),
    "five": Fraction(5), "six": Fraction(6), "seven": Fraction(7), "eight": Fraction(8), "nine": Fraction(9),
    "ten": Fraction(10), "eleven": Fraction(11), "twelve": Fraction(12), "fifteen": Fraction(15),
    "twenty": Fraction(20), "thirty": Fraction(30), "a dozen": Fraction(12), "dozen": Fraction(12),
}

# fmt: on


def _item(item: Any) -> Any:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str):
        value = Fraction(item[1])
        return (item[0], int(value) if value.denominator == 1 else value)
    return item


def pool_names() -> list[str]:
    """All defined pool names, sorted."""
    return sorted(POOLS)


def get_pool(name: str) -> list[Any]:
    """A fresh copy of one pool with exact values; ``KeyError`` lists what exists.

    Example:
        >>> get_pool("multiple_ice")
        [('twice', 2), ('thrice', 3)]
    """
    if name not in POOLS:
        raise KeyError(f"unknown pool {name!r}; defined pools: {', '.join(pool_names())}")
    return [_item(item) for item in POOLS[name]]


def pool_namespace() -> dict[str, list[Any]]:
    """Every pool by name, ready to be the variables of an `#init` expression."""
    return {name: get_pool(name) for name in POOLS}
