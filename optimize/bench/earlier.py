"""What one invocation of ``benchmark`` keeps of the earlier ones that wrote the same results folder.

A folder's tables can come from several invocations (``--only``, a resumed run, ``--test-models`` of one
model, a run without ``--heldout``): each rewrites the lines of the parts it answered and keeps the rest,
and ``meta.json`` lists every invocation and names every part the tables hold.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def concat_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The non-empty ``frames`` stacked (an empty frame when there are none)."""
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def earlier_meta(results: Path) -> dict[str, Any]:
    """The folder's ``meta.json`` as an earlier invocation wrote it (empty when missing or unreadable)."""
    try:
        meta = json.loads((results / "meta.json").read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def invocations(run: Any, earlier: dict[str, Any]) -> list[dict[str, Any]]:
    """Every invocation whose answers are in this folder, oldest first: a summary's tables can come from
    several (``--only``, a resumed run), so one command line would misstate where they came from. A meta
    without this list contributes its single command."""
    keys = ("command", "started_at", "finished_at")
    mine = {key: (run.meta or {}).get(key) for key in keys}
    mine |= {"questions": list(run.only), "id": run.invocation}
    history = list(earlier.get("invocations") or [])
    if not history and earlier.get("command"):
        history = [{key: earlier.get(key) for key in keys}
                   | {"questions": list(earlier.get("only") or []), "earlier_unrecorded": True}]
    if history and history[-1].get("id") == run.invocation:
        history = history[:-1]  # the same invocation writing its tables again
    return [*history, mine]


def _lines_without(table: pd.DataFrame, columns: list[str], keys: set[tuple[str, ...]]) -> pd.DataFrame:
    """The lines of ``table`` whose ``columns`` (as text) are none of ``keys``; empty when it lacks them."""
    if table.empty or not set(columns) <= set(table.columns):
        return pd.DataFrame()
    return table[[tuple(row) not in keys for row in table[columns].astype(str).to_numpy()]]


def other_parts(table: pd.DataFrame, parts: set[tuple[str, str]]) -> pd.DataFrame:
    """The lines of ``table`` that belong to none of ``parts`` ((dataset, test model) pairs)."""
    return _lines_without(table, ["dataset", "test_model"], parts)


def in_part_order(table: pd.DataFrame, earlier: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its parts in the order ``earlier`` had them (new parts after), each part's lines in
    their own order: a partial invocation does not move the summary's sections."""
    if table.empty or not {"dataset", "test_model"} <= set(table.columns):
        return table
    key = table["dataset"].astype(str) + "\0" + table["test_model"].astype(str)
    seen = [] if earlier.empty or "dataset" not in earlier else \
        list(earlier["dataset"].astype(str) + "\0" + earlier["test_model"].astype(str))
    rank = {part: i for i, part in enumerate(dict.fromkeys([*seen, *key]))}
    return table.iloc[key.map(rank).argsort(kind="stable")].reset_index(drop=True)


def with_earlier_parts(meta: dict[str, Any], earlier: dict[str, Any]) -> dict[str, Any]:
    """``meta`` still naming the test models and datasets of earlier invocations, whose lines the tables
    keep: the summary's header describes every part its tables hold, not only this invocation's."""
    models = list(dict.fromkeys([*(earlier.get("test_models") or []), *meta["test_models"]]))
    datasets = {**(earlier.get("datasets") or {}), **meta["datasets"]}
    merged = meta | {"test_models": models, "datasets": datasets}
    if set(datasets) - set(meta["datasets"]) and earlier.get("data"):
        merged["data"] = earlier["data"]  # it names the held-out file this invocation was not given
    return merged


def configs_on_file(results: Path) -> pd.DataFrame:
    """The folder's ``configs.csv`` (empty when missing or unreadable), as ``report --results`` reads it."""
    try:
        return table_on_file(results / "configs.csv")
    except pd.errors.ParserError:
        return pd.DataFrame()


def table_on_file(path: Path) -> pd.DataFrame:
    """A table the folder holds (empty when missing or empty; a malformed one raises)."""
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def earlier_configs(results: Path, configs: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Rows of an earlier ``configs.csv`` that this run did not measure again (same dataset, model, id)."""
    key = ["dataset", "test_model", "config_id"]
    now = concat_frames(list(configs))
    seen = set() if now.empty else set(map(tuple, now[key].astype(str).to_numpy()))
    return _lines_without(configs_on_file(results), key, seen)
