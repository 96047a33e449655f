"""The benchmark's question tables, built from one finished part (a dataset and a test model).

Every accuracy comparison is paired on shared questions with context- and template-clustered intervals
(:func:`optimize.reports.analysis.paired_row`); every table names its configurations, so
:func:`optimize.reports.analysis.with_failure_columns` adds their truncation rates and parse failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from optimize.reports.analysis import (
    PREDICTABILITY_ORDER,
    amortization_table,
    front_table,
    paired_row,
    pick,
    predictability_gap,
    token_ratio_table,
)
from optimize.reports.metrics import as_bool


@dataclass
class PartResults:
    """What one (dataset, test model) part has measured so far: the table builders read only this.

    Example:
        >>> configs = pd.DataFrame({"config_id": ["s", "t"], "use_sleep": [True, False],
        ...     "test_verbosity": [0, 3], "accuracy": [0.5, 0.5], "mean_test_tokens": [10.0, 50.0],
        ...     "sleep_tokens_per_context": [300.0, 0]})
        >>> part = PartResults(configs, frames={}, preset=None, pareto_ids={"s", "t"})
        >>> q3_table(part)["test_config_id"].unique().tolist()  # sleep config "s" against its baseline "t"
        ['t']
        >>> q3_table(PartResults(configs, frames={}, preset=None)).empty  # no config of the pareto group yet
        True
    """

    configs: pd.DataFrame  # every configuration that ran (grid and search), one row each
    frames: dict[str, pd.DataFrame]  # per-example rows by config id
    preset: Any
    pareto_ids: set[str] = field(default_factory=set)  # the configs of the pareto group
    grid: pd.DataFrame = field(default_factory=pd.DataFrame)
    search: pd.DataFrame = field(default_factory=pd.DataFrame)
    base: Any = None
    measured: dict[str, tuple] = field(default_factory=dict)  # latency mode -> (config id, calls)
    server: dict[str, Any] = field(default_factory=dict)  # config id -> server settings of its rows
    reruns: list[dict] = field(default_factory=list)  # config_id, label, server, frame of reruns


def paired_same_server(part: PartResults, a: dict | None, b: dict | None, **extra: Any) -> dict[str, Any]:
    """``a`` minus ``b`` (:func:`optimize.reports.analysis.paired_row`) only when both runs were made under
    the same
    server settings (:mod:`optimize.experiments.server_settings`). When they were not, ``b``'s rerun at
    ``a``'s settings
    is used (``versus`` names it); without one the pair is refused (no difference, a note saying why).
    Runs neither of which recorded its settings pair as before, flagged "unrecorded".

    Example:
        >>> frame = pd.DataFrame({"question_id": [1, 2], "context_id": ["x", "y"], "correct": [1, 0]})
        >>> part = PartResults(pd.DataFrame(), frames={"k4": frame, "k1": frame}, preset=None,
        ...     server={"k4": {"slots": 1}, "k1": {"slots": 4}})
        >>> paired_same_server(part, {"config_id": "k4"}, {"config_id": "k1"})["note"][:28]
        'not paired: k1 ran at 4 slot'
        >>> part.reruns = [{"config_id": "k1", "label": "latency/k1-warm", "server": {"slots": 1},
        ...                 "frame": frame}]
        >>> r = paired_same_server(part, {"config_id": "k4"}, {"config_id": "k1"})
        >>> r["n"], r["server"], r["b_rows_from"]
        (2, '1 slot, speculative none', 'latency/k1-warm')
    """
    from optimize.experiments.server_settings import comparable, describe

    if a is None or b is None:
        return paired_row(part.frames, a, b, **extra)
    mine, theirs = part.server.get(a["config_id"]), part.server.get(b["config_id"])
    if comparable(mine, theirs) or (mine is None and theirs is None):
        return paired_row(part.frames, a, b, **extra, server=describe(mine), b_rows_from="rows")
    for rerun in part.reruns:
        if rerun["config_id"] == b["config_id"] and comparable(mine, rerun["server"]):
            frames = {**part.frames, b["config_id"]: rerun["frame"]}
            return paired_row(frames, a, b, **extra, server=describe(mine), b_rows_from=rerun["label"])
    return {**extra, "n": 0, "difference": math.nan, "ci_low": math.nan, "ci_high": math.nan,
            "significant": False, "server": describe(mine), "b_rows_from": None,
            "note": f"not paired: {b['config_id']} ran at {describe(theirs)}, {a['config_id']} at "
                    f"{describe(mine)}; re-run {b['config_id']} at the same server settings"}


def _plain(configs: pd.DataFrame) -> pd.DataFrame:
    return configs[configs["compiled"].isna()] if "compiled" in configs else configs


def _pareto(part: PartResults) -> pd.DataFrame:
    configs = part.configs
    return configs[configs["config_id"].isin(part.pareto_ids)] if len(configs) else configs


def q1_table(part: PartResults) -> pd.DataFrame:
    """Question 1: the token ratio at equal accuracy for each sleep-time config of the pareto group, with
    the paired difference against its matched baseline."""
    grid = _pareto(part)
    if grid.empty:
        return pd.DataFrame()
    table = token_ratio_table(grid)
    by_id = grid.set_index("config_id")
    paired = []
    for _, row in table.iterrows():
        a = by_id.loc[row["sleep_config_id"]].to_dict() | {"config_id": row["sleep_config_id"]}
        b = None
        if row["test_config_id"] is not None and not pd.isna(row["test_config_id"]):
            b = by_id.loc[row["test_config_id"]].to_dict() | {"config_id": row["test_config_id"]}
        d = paired_row(part.frames, a, b)
        paired.append({f"paired_{k}": d.get(k, math.nan) for k in
                       ("n", "n_contexts", "n_templates", "difference", "ci_low", "ci_high",
                        "ci_low_template", "ci_high_template", "significant", "unmatched_a",
                        "unmatched_b")})
    return pd.concat([table, pd.DataFrame(paired)], axis=1)


def q3_table(part: PartResults) -> pd.DataFrame:
    grid = _pareto(part)
    return amortization_table(grid) if len(grid) else pd.DataFrame()


def q2_table(part: PartResults) -> pd.DataFrame:
    """Question 2: every (k, rounds) sleep config at the fixed verbosity, paired against k=1/no rethink and
    against test-time only at the same verbosity, each pair made under the same server settings
    (:func:`paired_same_server`)."""
    preset = part.preset
    if part.configs.empty:
        return pd.DataFrame()
    v = preset.k_verbosity
    plain = _plain(part.configs)
    reference = pick(plain, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0)
    test_only = pick(plain, use_sleep=False, test_verbosity=v)
    rows = []
    for k in preset.k_values:
        for r in preset.rounds:
            config = pick(plain, use_sleep=True, test_verbosity=v, sleep_samples=k, sleep_rounds=r)
            if config is None:
                continue
            base = {
                "config_id": config["config_id"],
                "test_verbosity": v,
                "sleep_samples": k,
                "sleep_rounds": r,
                "accuracy": config["accuracy"],
                "accuracy_ci_low": config.get("accuracy_ci_low_context", config.get("accuracy_ci_low")),
                "accuracy_ci_high": config.get("accuracy_ci_high_context", config.get("accuracy_ci_high")),
                "mean_test_tokens": config["mean_test_tokens"],
                "sleep_tokens_per_context": config.get("sleep_tokens_per_context"),
            }
            rows.append(paired_same_server(part, config, reference, **base, versus="sleep k=1, rounds=0"))
            rows.append(paired_same_server(part, config, test_only, **base, versus="test-time only"))
    return pd.DataFrame(rows)


def q4_table(part: PartResults) -> pd.DataFrame:
    """Question 4: sleep (k=1) minus test-only at the same verbosity, per predictability label, at every
    verbosity both ran; also pooled over those verbosities (a question then counts once per verbosity, in
    the same context cluster, so the clustered interval stays honest)."""
    plain = _plain(part.configs) if len(part.configs) else part.configs
    rows, pooled_a, pooled_b = [], [], []
    for v in part.preset.sleep_grid:
        sleep = pick(plain, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0)
        test = pick(plain, use_sleep=False, test_verbosity=v)
        if sleep is None or test is None or {sleep["config_id"], test["config_id"]} - set(part.frames):
            continue
        a, b = part.frames[sleep["config_id"]], part.frames[test["config_id"]]
        if "predictability" not in a:
            continue
        gap = predictability_gap(a, b)
        ids = {"sleep_config_id": sleep["config_id"], "test_config_id": test["config_id"]}
        rows += [{"test_verbosity": str(v), **ids, **r} for r in gap.to_dict("records")]
        tag = f"@v{v}"
        pooled_a.append(a.assign(question_id=a["question_id"].astype(str) + tag))
        pooled_b.append(b.assign(question_id=b["question_id"].astype(str) + tag))
    if len(pooled_a) > 1:
        gap = predictability_gap(pd.concat(pooled_a), pd.concat(pooled_b))
        rows += [{"test_verbosity": "pooled", **r} for r in gap.to_dict("records")]
    return pd.DataFrame(rows)


def q5_table(part: PartResults) -> pd.DataFrame:
    rows = []
    if part.configs.empty:
        return pd.DataFrame()
    for v in part.preset.compile_verbosities:
        fields = {"use_sleep": True, "test_verbosity": v, "sleep_samples": 1, "sleep_rounds": 0}
        plain = pick(part.configs, **fields, compiled=None)
        compiled = pick(part.configs, **fields, compiled="any")
        extra: dict[str, Any] = {"test_verbosity": v}
        for name, row in (("compiled", compiled), ("uncompiled", plain)):
            if row is not None:
                extra.update({
                    f"{name}_accuracy": row["accuracy"],
                    f"{name}_ci_low": row.get("accuracy_ci_low_context", row.get("accuracy_ci_low")),
                    f"{name}_ci_high": row.get("accuracy_ci_high_context", row.get("accuracy_ci_high")),
                    f"{name}_test_tokens": row["mean_test_tokens"],
                })
        rows.append(paired_row(part.frames, compiled, plain, **extra))
    return pd.DataFrame(rows)


def canonical_budget(budget, base):
    """What a Budget actually runs: without sleep time its sleep fields are irrelevant, so they are set to
    ``base``'s; a search trial's test-time-only Budget and the grid's one are then the same Budget."""
    if budget.use_sleep:
        return budget
    return budget.replace(
        sleep_samples=base.sleep_samples,
        sleep_rounds=base.sleep_rounds,
        sleep_max_tokens=base.sleep_max_tokens,
        sleep_model=base.sleep_model,
    )


def canonical_id(budget, base) -> str:
    """The id of :func:`canonical_budget` (the name of its rows file)."""
    from optimize.experiments.runner import budget_id

    return budget_id(canonical_budget(budget, base))


INT_FIELDS = ("test_verbosity", "test_max_tokens", "sleep_samples", "sleep_rounds", "sleep_max_tokens")


def q6_table(part: PartResults) -> pd.DataFrame:
    rates = (part.configs.drop_duplicates("config_id").set_index("config_id")["truncation_rate"]
             if "truncation_rate" in part.configs else None)

    def with_rates(table: pd.DataFrame) -> pd.DataFrame:
        if rates is None or table.empty or "truncation_rate" in table:
            return table
        return table.assign(truncation_rate=table["config_id"].map(rates))

    return search_table(with_rates(part.grid), with_rates(part.search), part.base)


def search_table(grid_configs: pd.DataFrame, search_configs: pd.DataFrame, base=None) -> pd.DataFrame:
    """Question 6: the combined (grid + search) distinct-budget Pareto front; which search configs are on it
    but not in the grid (compared by :func:`canonical_id`, so an equivalent test-time-only trial is not
    'new', and with the test cap left out where no answer reached it: a cap that never bound is not a new
    configuration)."""
    from programs.budget import Budget

    grid = grid_configs.assign(origin="grid")
    search = search_configs.assign(origin="search") if len(search_configs) else pd.DataFrame()
    both = pd.concat([grid, search], ignore_index=True)
    if both.empty:
        return both
    fields = set(Budget().to_dict())

    def key(row) -> str:
        if base is None:
            return row["config_id"]
        values = {k: row[k] for k in fields if k in row and pd.notna(row[k])}
        values["use_sleep"] = as_bool(values.get("use_sleep", True))
        for name in INT_FIELDS:
            if name in values:
                values[name] = int(values[name])
        return canonical_id(Budget.from_dict(values), base)

    def effective_key(row) -> str:
        # A test cap no answer reached changes nothing the model wrote: such a budget is the grid's one
        # with the cap left out, not a new configuration (its rows may still differ by re-made notes).
        uncapped = row.copy()
        if not _ever_cut_off(row):
            uncapped["test_max_tokens"] = None
        return key(uncapped)

    both["canonical_id"] = both.apply(key, axis=1)
    both["effective_id"] = both.apply(effective_key, axis=1)
    both = both.drop_duplicates(subset=["config_id", "origin"])
    front = front_table(both, key="canonical_id")
    on_front = set(front.loc[front["on_front"], "canonical_id"])
    grid_ids = set(both.loc[both["origin"] == "grid", "effective_id"])
    both["on_combined_front"] = both["canonical_id"].isin(on_front)
    both["in_grid"] = both["effective_id"].isin(grid_ids)
    both["found_by_search_only"] = (both["origin"] == "search") & ~both["in_grid"] & both["on_combined_front"]
    return both


def _ever_cut_off(row) -> bool:
    """Whether any answer of this configuration stopped at its test cap (unknown counts as cut off)."""
    rate = row.get("truncation_rate")
    return rate is None or pd.isna(rate) or float(rate) > 0


def q7_table(part: PartResults) -> pd.DataFrame:
    from optimize.bench.latency import latency_table

    return latency_table(_plain(part.configs) if len(part.configs) else part.configs, part.frames,
                         part.preset, part.measured)


__all__ = ["PREDICTABILITY_ORDER", "PartResults", "canonical_id", "pick", "search_table"]
