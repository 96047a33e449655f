"""What learned contexts hold: how often they state the gold number, and how often those are read right."""

from __future__ import annotations

import math

import pandas as pd

from optimize.reports.analysis import bool_column


def notes_coverage(rows: pd.DataFrame) -> float:
    """The share of questions whose learned context states the gold number (``notes_state_gold``, which
    ``evaluate`` writes); NaN for rows without notes (test-time only, or made before the column existed).

    Example:
        >>> notes_coverage(pd.DataFrame({"notes_state_gold": [True, False, None, True]}))
        0.6666666666666666
        >>> import math; math.isnan(notes_coverage(pd.DataFrame({"correct": [True]})))
        True
    """
    stated = rows["notes_state_gold"].dropna() if "notes_state_gold" in rows else pd.Series(dtype=bool)
    return float(stated.astype(bool).mean()) if len(stated) else math.nan


def covered_reading(rows: pd.DataFrame) -> dict[str, int]:
    """How many questions' learned contexts state the gold number (``covered``), how many of those the
    answerer got right (``covered_right``), and how many it got wrong with a number the notes state too
    (``covered_wrong_stated``: it chose a rival value over the gold one, rather than computing its own): the
    reading half of accuracy, apart from coverage.

    Example:
        >>> notes = ["- a = 5", "- a = 5; b = 7", "- a = 5", None]
        >>> covered_reading(pd.DataFrame({"notes_state_gold": [True, True, True, False],
        ...                               "learned_context": notes, "correct": [True, False, False, True],
        ...                               "extracted": [5, 7, 9, 1]}))
        {'covered': 3, 'covered_right': 1, 'covered_wrong': 2, 'covered_wrong_stated': 1}
    """
    from programs.answers import states_number

    if "notes_state_gold" not in rows:
        return {"covered": 0, "covered_right": 0, "covered_wrong": 0, "covered_wrong_stated": 0}
    covered = rows[bool_column(rows["notes_state_gold"].fillna(False))]
    right = bool_column(covered["correct"])
    wrong = covered[~right]
    notes = wrong["learned_context"] if "learned_context" in wrong else [None] * len(wrong)
    answers = wrong["extracted"] if "extracted" in wrong else [None] * len(wrong)
    stated = [bool(states_number(text, answer)) for text, answer in zip(notes, answers, strict=True)
              if answer is not None and answer == answer]  # NaN: nothing extracted
    return {"covered": len(covered), "covered_right": int(right.sum()), "covered_wrong": int((~right).sum()),
            "covered_wrong_stated": sum(stated)}
