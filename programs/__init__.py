"""Sleep-time compute as DSPy programs: the library users import.

    >>> import programs
    >>> budget = programs.Budget(test_verbosity=0, sleep_samples=1)
    >>> program = programs.build_program(budget)     # or programs.load("<model>/<name>") / programs.load(dir)
    >>> # program(context=..., question=...).answer; programs.save_bundle(program, dir) saves it

The LM layer (one factory, one ledger, the embedded local model) lives in :mod:`programs.lm`.
Names are imported on first use: the local model server's child process imports this package and
must not pay for DSPy at start-up.
"""

import importlib as _importlib
import os as _os

# Offline-friendly defaults: without these, first use of litellm/mlflow stalls on network retries.
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")
_os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")

_EXPORTS = {
    "Budget": "programs.budget",
    "BudgetError": "programs.budget",
    "build_program": "programs.api",
    "load": "programs.api",
    "save_bundle": "programs.persistence",
    "shipped_programs": "programs.persistence",
    "TruncatedReplyError": "programs.adapter",
    "extract_number": "programs.answers",
    "is_correct": "programs.answers",
    "SleepTimeSession": "programs.session",
    "SleepScheduler": "programs.scheduler",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'programs' has no attribute {name!r}")
    return getattr(_importlib.import_module(_EXPORTS[name]), name)
