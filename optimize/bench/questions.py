"""The benchmark's seven questions, one registry: id, title, the paper's claim, the evaluation groups each
needs, its table file, how the table is built and how its summary section reads it.

Everything that iterates over questions (the run order, the estimate, the tables, ``summary.md``) reads
:data:`QUESTIONS`; nothing else lists them.

Example:
    >>> [q.id for q in QUESTIONS]
    ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7']
    >>> BY_ID["q3"].groups, BY_ID["q3"].table
    (('pareto',), 'q3_amortization.csv')
    >>> groups_for(["q1", "q7"])
    ('pareto', 'latency')
    >>> BY_ID["q2"].groups  # today's notes at k samples, and the size's other sleep strategies beside them
    ('scaling', 'strategies')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from optimize.bench import sections, tables

GROUPS = ("pareto", "scaling", "strategies", "compiled", "search", "latency")
"""Evaluation groups, in the order a run evaluates them (``search`` and ``latency`` are not sweeps)."""


@dataclass(frozen=True)
class Question:
    """One of the paper's questions as the benchmark measures it.

    Example:
        >>> import pandas as pd
        >>> question = BY_ID["q1"]
        >>> question.groups, question.table
        (('pareto',), 'q1_pareto.csv')
        >>> question.build(tables.PartResults(pd.DataFrame(), frames={}, preset=None)).empty  # nothing ran
        True
    """

    id: str
    title: str
    paper: str
    groups: tuple[str, ...]
    table: str
    build: Callable[[tables.PartResults], object]
    section: Callable[[object], list[str]]


QUESTIONS: tuple[Question, ...] = (
    Question("q1", "Q1. Does sleep time shift the accuracy vs test-time-tokens Pareto front?",
             "paper: ~5x fewer test-time tokens at equal accuracy at low budgets", ("pareto",),
             "q1_pareto.csv", tables.q1_table, sections.q1),
    Question("q2", "Q2. Does scaling sleep-time compute (k samples, rethink rounds) move it further?",
             "paper: up to +13% accuracy at a fixed test budget", ("scaling", "strategies"),
             "q2_sleep_scaling.csv", tables.q2_table, sections.q2),
    Question("q3", "Q3. With N questions per context, how much lower is the average cost per query?",
             "paper: 2.5x lower average cost per query at N=10, t=10", ("pareto",),
             "q3_amortization.csv", tables.q3_table, sections.q3),
    Question("q4", "Q4. Is the gain larger for more predictable questions?",
             "paper: the gain grows with predictability", ("pareto",),
             "q4_predictability.csv", tables.q4_table, sections.q4),
    Question("q5", "Q5. How much do compiled prompts add over hand-written ones at the same budgets?",
             "no paper number (this project's addition)", ("compiled",),
             "q5_compiled.csv", tables.q5_table, sections.q5),
    Question("q6", "Q6. What does Optuna's search find that the fixed grid missed?",
             "no paper number (this project's addition)", ("pareto", "scaling", "search"),
             "q6_search.csv", tables.q6_table, sections.q6),
    Question("q7", "Q7. Test-time latency with and without sleep time; what the prompt cache saves",
             "no paper number (this project's addition)", ("pareto", "latency"),
             "q7_latency.csv", tables.q7_table, sections.q7),
)
BY_ID = {q.id: q for q in QUESTIONS}
QUESTION_IDS = tuple(BY_ID)


def groups_for(ids: Iterable[str]) -> tuple[str, ...]:
    """The evaluation groups the given questions need, in :data:`GROUPS` order."""
    needed = {g for q in ids for g in BY_ID[q].groups}
    return tuple(g for g in GROUPS if g in needed)


def parse_only(text: str) -> tuple[str, ...]:
    """``--only q1,q3``: the questions to answer, in the order given (the run answers them in that order).

    Example:
        >>> parse_only("q3, q1")
        ('q3', 'q1')
    """
    from optimize.bench.errors import BenchmarkError

    items = tuple(dict.fromkeys(x.strip().lower() for x in text.split(",") if x.strip()))
    unknown = sorted(set(items) - set(QUESTION_IDS))
    if unknown or not items:
        raise BenchmarkError(
            f"--only {text!r} names unknown question(s) {unknown}; use e.g. --only q1,q3,q7 "
            f"(known: {','.join(QUESTION_IDS)})"
        )
    return items
