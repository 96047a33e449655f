"""Every docstring example written as a doctest in programs/ and optimize/ runs offline and passes."""

from __future__ import annotations

import doctest
import importlib
import inspect
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


def test_every_public_class_has_a_runnable_example():
    """Project rule: every public class (bar exceptions, and DSPy signatures, whose docstring is their prompt)
    has a docstring with a short runnable (doctest) example."""
    import dspy

    offenders = []
    for name in modules():
        for obj in vars(importlib.import_module(name)).values():
            if not inspect.isclass(obj) or obj.__module__ != name or obj.__name__.startswith("_"):
                continue
            if issubclass(obj, (Exception, dspy.Signature)):
                continue
            if ">>>" not in (obj.__doc__ or ""):  # a class's own: __doc__ is never inherited from a base
                offenders.append(f"{name}.{obj.__name__}")
    assert not offenders, "public classes without a '>>>' example in their docstring: " + ", ".join(offenders)
