"""DSPy's truncation warnings are counted, not printed in the middle of progress bars."""

import logging

import dspy  # noqa: F401 - installs its own handler, which the context manager must put back

from optimize.cli.console import library_logs_through_tqdm


def test_dspy_warnings_go_through_one_handler_and_truncations_are_summarised(capsys):
    before = list(logging.getLogger("dspy").handlers)
    with library_logs_through_tqdm() as handler:
        lm_logger = logging.getLogger("dspy.clients.lm")
        lm_logger.warning("LM response was truncated; increase max_tokens or inspect history.")
        lm_logger.warning("LM response was truncated; increase max_tokens or inspect history.")
        lm_logger.warning("something else")
    err = capsys.readouterr().err
    assert handler.truncated == 2
    assert err.count("LM response was truncated") == 0
    assert "warning: dspy.clients.lm: something else" in err
    assert "note: 2 LM replies were cut off" in err
    assert logging.getLogger("dspy").handlers == before  # restored for whatever runs next
