"""The folder tree states the architecture: ``optimize/``'s folders form layers, each importing only from
its own layer or below, and no two folders import each other (directly or round a loop).

The import graph is read statically (tests/test_imports.py), every import counted, also those inside
functions. ``programs/`` is the library underneath all of it (it never imports ``optimize/``).
"""

from __future__ import annotations

import pytest
from test_imports import cycles, import_graph

# Lowest first. A module may import from its own level and the levels before it, never from a later one.
LEVELS: tuple[tuple[str, ...], ...] = (
    ("optimize", "optimize.errors", "optimize.markdown"),
    ("optimize.data", "optimize.tracking"),
    ("optimize.reports",),
    ("optimize.experiments",),
    ("optimize.bench", "optimize.deploy"),
    ("optimize.cli", "optimize.__main__"),
)


def folder(module: str) -> str | None:
    """The unit of ``LEVELS`` a module belongs to (its folder, or the top-level module itself)."""
    if not module.startswith("optimize"):
        return None
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def level(unit: str) -> int:
    for rank, units in enumerate(LEVELS):
        if unit in units:
            return rank
    raise AssertionError(f"{unit} is in no level of tests/test_layout.py's LEVELS: add it where it belongs")


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    folders: dict[str, set[str]] = {}
    for name, deps in graph.items():
        source = folder(name)
        if source is None:
            continue
        targets = {folder(dep) for dep in deps} - {None, source}
        folders.setdefault(source, set()).update(targets)
    return folders


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{name} -> {dep}" for name, deps in graph.items() if folder(name)
                  for dep in deps if folder(dep) and level(folder(dep)) > level(folder(name)))


def test_the_checks_catch_an_upward_import_and_a_folder_loop():
    graph = {"optimize.reports.figures": {"optimize.experiments.search"},
             "optimize.experiments.search": {"optimize.reports.pareto"}, "optimize.reports.pareto": set()}
    assert upward_imports(graph) == ["optimize.reports.figures -> optimize.experiments.search"]
    assert cycles(folder_graph(graph)) == [["optimize.experiments", "optimize.reports"]]
    assert cycles(folder_graph({"optimize.bench.a": {"optimize.deploy.b"},
                                "optimize.deploy.b": {"optimize.bench.c"}})) == [["optimize.bench",
                                                                                 "optimize.deploy"]]


def test_every_folder_has_a_level():
    for unit in folder_graph(import_graph()):
        level(unit)


def test_no_import_runs_from_a_lower_level_to_a_higher_one():
    assert upward_imports(import_graph()) == []


def test_no_two_folders_import_each_other():
    assert cycles(folder_graph(import_graph())) == []


@pytest.mark.parametrize("unit", [unit for units in LEVELS for unit in units if unit.count(".") == 1
                                  and not unit.endswith("__main__")])
def test_each_folder_docstring_says_what_it_may_import(unit):
    import importlib

    module = importlib.import_module(unit)
    if not module.__file__.endswith("__init__.py"):
        return
    assert "May import" in (module.__doc__ or ""), f"{unit}: say what it holds, what it imports"
