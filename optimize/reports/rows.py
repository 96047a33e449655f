"""Result rows on disk: the JSONL files ``evaluate`` writes, one answered question per line."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path


def read_results(path: str | os.PathLike) -> list[dict]:
    """Rows already written to a results JSONL file (a torn last line from an interrupted run is skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                warnings.warn(f"{path}:{number} is not a complete JSON row (interrupted write?); it will be "
                              "redone", stacklevel=2)
    return rows
