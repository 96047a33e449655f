"""Every docstring example written as a doctest in programs/ and optimize/ runs offline and passes."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import optimize
import programs

SKIP = ("programs.lm._serve", "optimize.__main__")  # entry points that act on import


def modules() -> list[str]:
    names = []
    for package in (programs, optimize):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name not in SKIP:
                names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", modules())
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
