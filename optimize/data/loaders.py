"""Load Stateful GSM data as ``dspy.Example`` objects, one per (context, question).

``load_examples`` accepts our generated JSONL, Letta's published Stateful GSM-Symbolic JSONL, Apple's
GSM-Symbolic JSONL (the flavour is detected from each row's fields), a dataset name (``"ours"`` is
``data/stateful_gsm.jsonl``; any ``data/<name>.jsonl`` is ``<name>``) or a Hugging Face hub name.

Example:
    >>> examples = load_examples("data/stateful_gsm.jsonl")  # doctest: +SKIP
    >>> examples[0].context, examples[0].question, examples[0].answer  # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from optimize.data.sentences import split_context_question

__all__ = [
    "DataError",
    "load_examples",
    "read_jsonl",
    "numbered_rows",
    "rows_to_examples",
    "available_datasets",
    "REPO_ROOT",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
DEFAULT_DATASET = "ours"
_NAMED = {"ours": "stateful_gsm.jsonl"}


class DataError(ValueError):
    """A dataset cannot be found or read; the message names the file (and 1-based line) and the fix."""


def available_datasets(data_dir: Path = DATA_DIR) -> dict[str, Path]:
    """Named datasets: ``ours`` plus every ``data/*.jsonl`` by file stem."""
    named = {stem: data_dir / file for stem, file in _NAMED.items() if (data_dir / file).exists()}
    if data_dir.is_dir():
        for path in sorted(data_dir.glob("*.jsonl")):
            named.setdefault(path.stem, path)
    return named


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; blank lines are skipped, a malformed line raises naming file and line."""
    return [row for _, row in numbered_rows(path)]


def numbered_rows(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """``(1-based line number, row)`` for every non-blank line of a UTF-8 JSONL file (a leading BOM is fine).

    Invalid UTF-8 and malformed JSON raise :class:`DataError` naming the file and line.
    """
    path = Path(path)
    rows = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    f"{path}:{number}: not valid UTF-8 (byte {error.start + 1} of the line); "
                    "fix: save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path}:{number}: malformed JSON ({error.msg} at column {error.colno}); "
                    "fix: each line must be one complete JSON object"
                ) from None
            except RecursionError:
                raise DataError(
                    f"{path}:{number}: JSON nested too deeply; fix: one flat JSON object per line"
                ) from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            rows.append((number, row))
    return rows


def _flavour(row: Mapping[str, Any]) -> str | None:
    if "questions" in row and "context" in row:
        return "ours"
    if "stateful_gsm_symbolic_context" in row or "stateful_gsm_symbolic_question" in row:
        return "letta"
    if "question" in row and "answer" in row:
        return "gsm-symbolic"
    return None


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _number(value: Any, where: str) -> int | float:
    """The one finite number an answer holds; anything else (two numbers, NaN, none) names the row."""
    if isinstance(value, bool):
        raise DataError(f"{where}: answer {value!r} is not a number; fix: write the answer as one number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(f"{where}: answer {value!r} is not a finite number; fix: write the exact answer")
        return int(value) if value.is_integer() else value
    text = str(value)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    numbers = _NUMBER.findall(text)
    if not numbers:
        raise DataError(
            f"{where}: no numeric answer in {str(value)[-80:]!r}; fix: end the answer with '#### <number>'"
        )
    if len(numbers) > 1:
        raise DataError(
            f"{where}: answer {text.strip()[-80:]!r} holds {len(numbers)} numbers, not exactly one number; "
            "fix: end the answer with '#### <number>'"
        )
    number = float(numbers[0].replace(",", ""))
    return int(number) if number.is_integer() else number


def _level_from_name(path: Path | str) -> str:
    name = str(path).lower()
    for level in ("p2", "p1"):
        if re.search(rf"(?<![a-z0-9]){level}(?![0-9])", name):
            return level
    return "base"


def rows_to_examples(
    rows: Iterable[Mapping[str, Any]],
    *,
    origin: str = "<rows>",
    default_level: str = "base",
    lines: Sequence[int] | None = None,
) -> list:
    """Flatten rows of any supported flavour into ``dspy.Example`` objects (inputs: context, question).

    Errors name ``origin:<line>``: the row's position, or its file line when ``lines`` gives them.
    """
    import dspy

    examples = []
    rows = list(rows)
    numbers = list(lines) if lines is not None else range(1, len(rows) + 1)
    for number, row in zip(numbers, rows, strict=True):
        where = f"{origin}:{number}"
        flavour = _flavour(row)
        if flavour is None:
            raise DataError(
                f"{where}: unrecognised row (fields {sorted(row)}); "
                "expected our format (context, questions), "
                "Letta's (stateful_gsm_symbolic_context, ...) or Apple's GSM-Symbolic (question, answer)"
            )
        for fields in _rows_for(row, flavour, where, default_level):
            examples.append(dspy.Example(**fields).with_inputs("context", "question"))
    return examples


def _rows_for(row: Mapping[str, Any], flavour: str, where: str, default_level: str) -> list[dict[str, Any]]:
    if flavour == "ours":
        try:
            return [
                {
                    "context": row["context"],
                    "question": question["question"],
                    "answer": _number(question["answer"], where),
                    "context_id": row.get("context_id"),
                    "question_id": question.get("question_id"),
                    "template_id": row.get("template_id"),
                    "level": row.get("level", default_level),
                    "predictability": question.get("predictability"),
                    "source": row.get("source", "ours"),
                }
                for question in row["questions"]
            ]
        except (KeyError, TypeError) as error:
            raise DataError(f"{where}: missing field {error} in a row of our format") from None
    # Apple's fields: the full problem is `question`; re-split it so decimals ($0.7) and "Dr." survive.
    full = str(row["question"])
    context, question = split_context_question(full)
    if flavour == "letta" and not context:
        context = str(row.get("stateful_gsm_symbolic_context", ""))
        question = str(row.get("stateful_gsm_symbolic_question", question))
    template_number = row.get("id", row.get("original_id"))
    prefix = "letta" if flavour == "letta" else "gsm-symbolic"
    context_id = f"{prefix}-{template_number}-{row.get('instance', 0)}"
    return [
        {
            "context": context,
            "question": question,
            "answer": _number(row["answer"], where),
            "context_id": context_id,
            "question_id": f"{context_id}-q1",
            "template_id": f"{prefix}-{template_number}",
            "level": row.get("level", default_level),
            "predictability": None,
            "source": prefix,
        }
    ]


def _unzip(numbered: list[tuple[int, dict[str, Any]]]) -> tuple[list[int], list[dict[str, Any]]]:
    return [number for number, _ in numbered], [row for _, row in numbered]


def _load_hub(name: str, split: str | None) -> list[dict[str, Any]]:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import datasets

        loaded = datasets.load_dataset(name, split=split or "train")
    except Exception as error:  # noqa: BLE001 - offline/hub failures all mean the same fix
        raise DataError(
            f"could not load Hugging Face dataset {name!r} ({type(error).__name__}: {str(error)[:200]}); "
            "this machine may be offline: download the JSONL and pass its local path instead"
        ) from None
    return [dict(row) for row in loaded]


def load_examples(
    source: str | Path = DEFAULT_DATASET,
    *,
    split: str | None = None,
    limit: int | None = None,
    split_sizes: Mapping[str, int | float] | None = None,
    seed: int = 0,
    hub_split: str | None = None,
) -> list:
    """Load a dataset as ``dspy.Example`` objects, optionally one template-disjoint ``split``.

    ``source``: a JSONL path (ours / Letta / Apple flavour, detected per row), a dataset name (``ours`` or
    any ``data/<name>.jsonl``) or a Hugging Face hub name (``owner/name``). ``split`` ("train", "dev",
    "test") uses :func:`optimize.data.splits.split_by_template` with ``split_sizes`` (default 60/20/20 %
    of templates) and ``seed``. ``limit`` keeps the first N examples after splitting.

    Example:
        >>> train = load_examples("ours", split="train", seed=0)  # doctest: +SKIP
    """
    path = Path(source)
    rows: list[dict[str, Any]]
    lines: list[int] | None = None
    if not path.is_file() and str(source) in available_datasets():
        path = available_datasets()[str(source)]
    if path.is_file():
        origin = str(path)
        lines, rows = _unzip(numbered_rows(path))
        default_level = _level_from_name(path.name)
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)) and not str(source).endswith((".jsonl", ".json")):
        origin = str(source)
        rows = _load_hub(str(source), hub_split)
        default_level = _level_from_name(str(source) + (hub_split or ""))
    else:
        names = ", ".join(sorted(available_datasets())) or "none yet (run `sleeptime data generate`)"
        raise DataError(
            f"unknown dataset {str(source)!r}: not a file, not a named dataset (available: {names}) "
            "and not a "
            "Hugging Face name (owner/name); fix: pass a JSONL path or one of the names"
        )
    examples = rows_to_examples(rows, origin=origin, default_level=default_level, lines=lines)
    if split is not None:
        from optimize.data.splits import split_by_template

        sizes = dict(split_sizes or {"train": 0.6, "dev": 0.2, "test": 0.2})
        parts = split_by_template(examples, seed=seed, **sizes)
        if split not in parts:
            raise DataError(f"unknown split {split!r}; available: {', '.join(parts)}")
        examples = parts[split]
    if limit is not None:
        examples = examples[:limit]
    return examples
