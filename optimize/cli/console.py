"""Library log lines that never break a progress bar.

DSPy logs a warning for every reply cut off at its token cap, straight to stderr, in the middle of the
``evaluate`` bars. While a command runs, :func:`library_logs_through_tqdm` sends the warnings of the chosen
loggers through ``tqdm.write`` (above the bars) and counts the truncation warnings instead of printing each:
one line at the end says how many there were (each results table has the per-configuration rate).

Example:
    >>> import logging
    >>> with library_logs_through_tqdm(("demo.lib",), summary=False) as handler:
    ...     logging.getLogger("demo.lib").warning("LM response was truncated; increase max_tokens")
    >>> handler.truncated
    1
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

TRUNCATION_MESSAGE = "LM response was truncated"
LIBRARY_LOGGERS = ("dspy",)


class TqdmLogHandler(logging.Handler):
    """Writes warnings with ``tqdm.write`` and counts the token-cap truncation warnings.

    Example:
        >>> handler = TqdmLogHandler()
        >>> handler.emit(logging.makeLogRecord({"msg": "LM response was truncated; increase max_tokens"}))
        >>> handler.truncated  # counted, not printed
        1
    """

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.truncated = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if TRUNCATION_MESSAGE in message:
            self.truncated += 1
            return
        from tqdm.auto import tqdm

        tqdm.write(f"{record.levelname.lower()}: {record.name}: {message}", file=sys.stderr)


@contextmanager
def library_logs_through_tqdm(loggers: Sequence[str] = LIBRARY_LOGGERS, *,
                              summary: bool = True) -> Iterator[TqdmLogHandler]:
    """Route ``loggers`` through one :class:`TqdmLogHandler` for the duration; restore them afterwards."""
    if "dspy" in loggers:
        import dspy  # noqa: F401 - its import installs its own handler; ours must replace it, not sit beside it

    handler = TqdmLogHandler()
    saved = {}
    for name in loggers:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.propagate)
        logger.handlers, logger.propagate = [handler], False
    try:
        yield handler
    finally:
        for name, (handlers, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers, logger.propagate = handlers, propagate
        if summary and handler.truncated:
            print(f"note: {handler.truncated} LM replies were cut off at their token cap (the tables' "
                  "truncation columns say which configurations)", file=sys.stderr)
