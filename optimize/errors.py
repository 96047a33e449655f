"""The errors a user can fix: the CLI prints them as one ``error: ...`` line, never a traceback.

Raise :class:`UserError` (or a ``ValueError`` subclass) with a message that names the problem and the fix.
``optimize.cli.app.main`` prints it redacted and exits with :data:`USER_ERROR_STATUS`; ``--debug`` shows the
traceback instead.

Example:
    >>> try:
    ...     raise ResumeMismatchError("results.jsonl was written by another configuration; use a new --out")
    ... except UserError as exc:
    ...     print(f"error: {exc}")
    error: results.jsonl was written by another configuration; use a new --out
"""

from __future__ import annotations

USER_ERROR_STATUS = 2
"""Exit status of a user mistake (bad flag, missing file, ...), as argparse uses for a bad flag."""

FAILED_ROWS_STATUS = 3
"""Exit status of a run that finished but recorded failed rows (and the user did not tolerate them)."""


class UserError(Exception):
    """A mistake the user can fix (a flag, a file, a model spec); the message names the problem and the fix.

    Example:
        >>> str(UserError("no examples in --data x.jsonl --split test; pick another --split"))
        'no examples in --data x.jsonl --split test; pick another --split'
    """


class ResumeMismatchError(UserError):
    """A results file being resumed was written under another configuration (budget, models, prompts, data).

    Example:
        >>> issubclass(ResumeMismatchError, UserError)
        True
    """


class FailedRowsError(UserError):
    """A run finished, but some of its rows failed (after retries) and the user did not tolerate that.

    Example:
        >>> FailedRowsError("2 of 10 rows failed").exit_status
        3
    """

    exit_status = FAILED_ROWS_STATUS


OTHER_USER_ERRORS = (("programs.lm", "LMSetupError"), ("programs.persistence", "PersistenceError"))
"""Errors of ``programs/`` that are a user's to fix (a model spec, an endpoint, a saved program's path)."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exception types ``cli.main`` reports as one line: ours, bad values, missing/unwritable files, and
    :data:`OTHER_USER_ERRORS` where they exist (``BudgetError`` is a ``ValueError``)."""
    import importlib

    types: list[type[BaseException]] = [UserError, ValueError, FileNotFoundError, PermissionError,
                                        IsADirectoryError, NotADirectoryError]
    for module, name in OTHER_USER_ERRORS:
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(found, type) and issubclass(found, BaseException):
            types.append(found)
    return tuple(types)
