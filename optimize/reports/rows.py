"""Result rows on disk: the JSONL files ``evaluate`` writes, one answered question per line."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path


def read_results(path: str | os.PathLike, *, strict: bool = False) -> list[dict]:
    """Rows already written to a results JSONL file, one per question: a question answered again (a failed
    row retried on resume) is its later row, in the first one's place. A torn last line from an interrupted
    run is skipped; ``strict`` refuses a line that is not JSON instead, naming it (for a copy that must not
    lose a row).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "rows.jsonl"
        ...     _ = path.write_text('{"question_id": "q1", "error": "timeout"}\\n{"question_id": "q2"}\\n'
        ...                         '{"question_id": "q1", "error": null}\\n')
        ...     read_results(path)
        [{'question_id': 'q1', 'error': None}, {'question_id': 'q2'}]
    """
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
            except json.JSONDecodeError as exc:
                if strict:
                    from optimize.errors import UserError

                    raise UserError(f"{path}:{number} is not a JSON row ({exc.msg}); finish or resume the "
                                    "run that writes it (an interrupted write leaves a partial last line), "
                                    "then try again") from exc
                warnings.warn(f"{path}:{number} is not a complete JSON row (interrupted write?); it will be "
                              "redone", stacklevel=2)
    latest: dict[object, dict] = {}
    for index, row in enumerate(rows):
        latest[row.get("question_id", ("row", index))] = row
    return list(latest.values())


# Fields that quote a question's instance: its text, the reply (which restates it), the notes made from it.
INSTANCE_FIELDS = ("question", "context", "prediction", "learned_context")


def public_row(row: dict) -> dict:
    """``row`` without the text that quotes its instance, for data whose licence forbids sharing instances
    (GSM-Symbolic): ids, gold, the extracted answer, scores, tokens and seconds stay, so every table and
    claim recomputes from the copy and ``evaluate`` resumes from it (it skips the ids a file holds). An
    error keeps its kind, not its message (a parse error quotes the reply).

    Example:
        >>> row = {"question_id": "q1", "question": "How many?", "prediction": "so 42", "gold": 42,
        ...        "correct": True, "error": "AdapterParseError: LM Response: so 42", "parse_error": True}
        >>> public = public_row(row)
        >>> sorted(public)
        ['correct', 'error', 'gold', 'parse_error', 'question_id']
        >>> public["error"]
        'AdapterParseError (message withheld: it quotes the instance)'
    """
    public = {key: value for key, value in row.items() if key not in INSTANCE_FIELDS}
    if public.get("error"):
        kind = str(public["error"]).split(":", 1)[0].strip() or "error"
        public["error"] = f"{kind} (message withheld: it quotes the instance)"
    return public


def publish_rows(source: str | os.PathLike, target: str | os.PathLike) -> int:
    """Write :func:`public_row` of every row of ``source`` to ``target`` (its configuration beside it, as
    ``evaluate`` writes it) and return the number of rows."""
    rows = read_results(source, strict=True)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(public_row(row), default=str) + "\n" for row in rows)
    target.write_text(text, encoding="utf-8")
    config = Path(f"{source}.config.json")
    if config.exists():
        Path(f"{target}.config.json").write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    return len(rows)


