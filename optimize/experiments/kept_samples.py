"""The sleep samples a Budget's program kept in a store, written to a file and read back into another store.

A computed strategy keeps each program it samples in the store (:mod:`programs.strategies.sample_cache`), so
a larger ``k`` reads the programs a smaller one made. The store is a local file and is not committed; on a
new machine a run would write every program again. :func:`export_samples` writes the samples ``0..k-1`` of
the given contexts (only those, so a store that also holds third-party contexts exports none of them) to a
JSONL file that can be committed beside the rows; :func:`import_samples` puts them into a store, where the
next run finds them under the same keys (each key hashes the context, the module's prompts and settings,
the sample index and the model, so an entry is used only by the program that would make it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from optimize.errors import UserError
from programs.files import replace_text


def check_keeps_samples(budget) -> None:
    """Refuse (:class:`UserError`) a Budget whose sleep phase keeps no samples by context alone: only the
    ``compute`` strategy does (``anticipate+compute`` keys its samples by the questions it anticipated).

    Example:
        >>> from programs.budget import Budget
        >>> check_keeps_samples(Budget(sleep_strategy="compute"))
        >>> check_keeps_samples(Budget())
        Traceback (most recent call last):
        ...
        optimize.errors.UserError: the Budget's sleep phase (notes) keeps no samples by context alone; ...
    """
    if not budget.use_sleep or budget.sleep_strategy != "compute":
        raise UserError(f"the Budget's sleep phase ({budget.sleep_strategy if budget.use_sleep else 'none'}) "
                        "keeps no samples by context alone; export samples of --sleep-strategy compute")


def sample_keys(program, contexts: Iterable[str]) -> list[tuple[str, int, str]]:
    """``(context, index, key)`` of every sample ``program``'s sleep module keeps for ``contexts``: its
    ``budget.sleep_samples`` samples of each. Raises :class:`UserError` for a program whose sleep module
    keeps no samples (only computed strategies without anticipated questions do).

    Example:
        >>> from programs import build_program
        >>> from programs.budget import Budget
        >>> program = build_program(Budget(sleep_strategy="compute", sleep_samples=2))
        >>> [(index, len(key)) for _, index, key in sample_keys(program, ["3 boxes of 4 apples."])]
        [(0, 64), (1, 64)]
    """
    from programs.store import learned_context_key
    from programs.strategies.sample_cache import keeps_samples

    rewriter = getattr(program, "rewriter", None)
    budget = program.budget
    check_keeps_samples(budget)
    if not keeps_samples(rewriter):
        raise UserError(f"{type(rewriter).__name__} keeps no samples; export samples of "
                        "--sleep-strategy compute")
    model = program._sleep_model_label()
    return [(context, index, learned_context_key(context, rewriter._sample_fingerprint([], index),
                                                 json.dumps({"sample": index}), model))
            for context in dict.fromkeys(contexts) for index in range(budget.sleep_samples)]


def export_samples(program, contexts: Iterable[str], out: str | os.PathLike) -> tuple[int, int]:
    """Write the samples of ``contexts`` that ``program.store`` holds to ``out`` (JSONL, one sample per line,
    sorted by key so a re-export diffs cleanly); returns ``(written, not in the store)``. Samples already in
    ``out`` are kept, so exporting k=8 after k=16 loses nothing."""
    keys = sample_keys(program, contexts)
    kept = {row["key"]: row for row in _read(out)} if Path(out).exists() else {}
    missing = 0
    for _, index, key in keys:
        stored = program.store.get(key)
        if stored is None:
            missing += 1
            continue
        kept[key] = {"key": key, "sample": index, "learned_context": stored.learned_context,
                     "prompt_tokens": stored.prompt_tokens, "completion_tokens": stored.completion_tokens,
                     "seconds": stored.seconds, "model": stored.model}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    replace_text(out, "".join(json.dumps(kept[k], sort_keys=True) + "\n" for k in sorted(kept)))
    return len(keys) - missing, missing


def import_samples(path: str | os.PathLike, store) -> int:
    """Put every sample of an exported file into ``store`` (a key it already holds keeps its entry);
    returns how many were new. A malformed line is refused with its file and line number."""
    new = 0
    for row in _read(path):
        if store.get(row["key"]) is None:
            store.put(row["key"], row["learned_context"], prompt_tokens=row["prompt_tokens"],
                      completion_tokens=row["completion_tokens"], seconds=row["seconds"], model=row["model"],
                      spender="import")
            new += 1
    return new


FIELDS = ("key", "learned_context", "prompt_tokens", "completion_tokens", "seconds", "model")


def _read(path: str | os.PathLike) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{number}: not JSON ({exc.msg}); re-export the file") from exc
            absent = [name for name in FIELDS if name not in row]
            if absent:
                raise UserError(f"{path}:{number}: a sample needs {', '.join(absent)}; re-export the file")
            rows.append(row)
    return rows


__all__ = ["check_keeps_samples", "export_samples", "import_samples", "sample_keys"]
