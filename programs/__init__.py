"""Sleep-time compute as DSPy programs: the library users import.

    >>> import programs
    >>> budget = programs.Budget(test_verbosity=0, sleep_samples=1)
    >>> program = programs.build_program(budget)            # or programs.load("compiled/NAME")
    >>> # program(context=..., question=...).answer

The LM layer (one factory, one ledger, the embedded local model) lives in :mod:`programs.lm`.
"""

import os as _os

# Offline-friendly defaults: without these, first use of litellm/mlflow stalls on network retries.
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")
_os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")

from programs.answers import extract_number, is_correct  # noqa: E402
from programs.api import build_program, load  # noqa: E402
from programs.budget import Budget, BudgetError  # noqa: E402

__all__ = ["Budget", "BudgetError", "build_program", "load", "extract_number", "is_correct"]
