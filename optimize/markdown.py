"""The one markdown table writer: a data frame as a GitHub table, without the optional ``tabulate``."""

from __future__ import annotations

from typing import Any


def markdown_table(df: Any, float_digits: int | None = 4, *, missing: str | None = None,
                   empty: str | None = None) -> str:
    """``df`` as a GitHub markdown table, ending in a newline.

    Floats are written to ``float_digits`` significant digits (``None``: as ``str`` writes them), missing
    values (NaN, None) as ``missing`` when given, and a frame without rows as ``empty`` when given.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"a": [1.23456, None], "b": ["x|y", "z"]})
        >>> print(markdown_table(frame, 3, missing=""), end="")
        | a | b |
        |---|---|
        | 1.23 | x\\|y |
        |  | z |
    """
    if empty is not None and not len(df):
        return empty + "\n"

    def cell(value: Any) -> str:
        if missing is not None and _is_missing(value):
            return missing
        if isinstance(value, float) and float_digits is not None:
            return f"{value:.{float_digits}g}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    columns = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _is_missing(value: Any) -> bool:
    try:
        return value is None or bool(value != value)  # NaN is the one float unequal to itself
    except TypeError:  # pandas.NA refuses to be a bool
        return True
