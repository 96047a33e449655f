"""The two calls most users need: build a program for a Budget, and load a saved one."""

from __future__ import annotations

import os

from programs.budget import Budget
from programs.lm.ledger import TokenLedger
from programs.store import InMemoryStore

BASELINES = ("pass-at-k", "majority")


def build_program(budget: Budget, *, ledger: TokenLedger | None = None, store: InMemoryStore | None = None,
                  api_base: str | None = None, adapter: str = "chat", baseline: str | None = None,
                  k: int = 5, **settings):
    """The program a Budget describes: ``SleepTimeProgram`` when ``use_sleep`` else ``TestTimeOnly``.

    ``baseline="majority"`` or ``"pass-at-k"`` builds that k-sample baseline instead. When
    ``budget.compiled`` names a saved program directory, its compiled prompts are loaded (see
    :func:`programs.persistence.load_compatible_state`).

    Example:
        >>> program = build_program(Budget(use_sleep=False, test_model="openai/m@http://127.0.0.1:9/v1"))
        >>> type(program).__name__
        'TestTimeOnly'
    """
    from programs.baselines import MajorityVote, PassAtK, TestTimeOnly
    from programs.program import SleepTimeProgram

    common = dict(ledger=ledger, store=store, api_base=api_base, adapter=adapter, **settings)
    if baseline == "majority":
        program = MajorityVote(budget, k=k, **common)
    elif baseline == "pass-at-k":
        program = PassAtK(budget, k=k, **common)
    elif baseline is not None:
        raise ValueError(f"unknown baseline {baseline!r}; use one of {BASELINES} or None")
    elif budget.use_sleep:
        program = SleepTimeProgram(budget, **common)
    else:
        program = TestTimeOnly(budget, **common)
    if budget.compiled:
        from programs.persistence import load_compatible_state

        load_compatible_state(program, budget.compiled)
    return program


def load(path: str | os.PathLike, *, ledger: TokenLedger | None = None, store: InMemoryStore | None = None,
         api_base: str | None = None, lm_options: dict | None = None):
    """Load a program saved with ``program.save(path)``: the right class, its budget and its prompts.

    Example:
        >>> import tempfile
        >>> directory = tempfile.mkdtemp()
        >>> build_program(Budget(sleep_model="openai/m@http://127.0.0.1:9/v1",
        ...                      test_model="openai/m@http://127.0.0.1:9/v1")).save(directory)
        >>> type(load(directory)).__name__
        'SleepTimeProgram'
    """
    from programs.persistence import load_program

    return load_program(path, ledger=ledger, store=store, api_base=api_base, lm_options=lm_options)
