"""The one list of program classes: by class name (saved in a bundle's manifest) and by baseline name.

It sits above ``program.py`` and ``baselines.py`` (it imports them; they never import it), so building a
program by name and loading a bundle need no import cycle.

Example:
    >>> program_class("MajorityVote").__name__, sorted(BASELINES)
    ('MajorityVote', ['majority', 'pass-at-k'])
"""

from __future__ import annotations

from programs.baselines import MajorityVote, PassAtK, TestTimeOnly
from programs.budget import Budget
from programs.program import BudgetedProgram, SleepTimeProgram

PROGRAM_CLASSES: dict[str, type[BudgetedProgram]] = {
    cls.__name__: cls for cls in (SleepTimeProgram, TestTimeOnly, MajorityVote, PassAtK)}
BASELINES: dict[str, type[BudgetedProgram]] = {"majority": MajorityVote, "pass-at-k": PassAtK}


def program_class(name: str) -> type[BudgetedProgram]:
    """The program class saved under ``name`` in a manifest."""
    if name not in PROGRAM_CLASSES:
        raise ValueError(f"unknown program class {name!r}; known: {sorted(PROGRAM_CLASSES)}")
    return PROGRAM_CLASSES[name]


def class_for(budget: Budget, baseline: str | None = None) -> type[BudgetedProgram]:
    """The class a Budget describes (``SleepTimeProgram`` / ``TestTimeOnly``), or the named baseline's."""
    if baseline is None:
        return SleepTimeProgram if budget.use_sleep else TestTimeOnly
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; use one of {sorted(BASELINES)} or None")
    return BASELINES[baseline]
