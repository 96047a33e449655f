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
    """How many questions' learned contexts state the gold number (``covered``) and how many of those the
    answerer got right (``covered_right``): the reading half of accuracy, apart from coverage.

    Example:
        >>> covered_reading(pd.DataFrame({"notes_state_gold": [True, True, False, None],
        ...                               "correct": [True, False, True, True]}))
        {'covered': 2, 'covered_right': 1}
    """
    if "notes_state_gold" not in rows:
        return {"covered": 0, "covered_right": 0}
    covered = rows[bool_column(rows["notes_state_gold"].fillna(False))]
    return {"covered": len(covered), "covered_right": int(bool_column(covered["correct"]).sum())}
