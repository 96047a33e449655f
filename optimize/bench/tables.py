"""The benchmark's question tables, built from one finished part (a dataset and a test model).

Every accuracy comparison is paired on shared questions with context- and template-clustered intervals
(:func:`optimize.reports.analysis.paired_row`); every table names its configurations, so
:func:`optimize.reports.analysis.with_failure_columns` adds their truncation rates and parse failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from optimize.bench.selection import pick_today, strategy_defaults, with_strategy_columns
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
    model_dir: Path | None = None  # the part's folder (rows/, latency/, reruns/)
    dataset: str | None = None


RERUN_SETTINGS = {"slots": 1, "speculative": "none"}
"""The settings a missing rerun is asked for: the server's defaults, under which greedy answers repeat."""


def _runs_of(part: PartResults, config_id: str) -> list[tuple[str, dict | None, pd.DataFrame]]:
    """``(where its rows are, server settings, rows)`` of every run of one configuration on file: its
    grid rows first, then its reruns."""
    runs = [("rows", part.server.get(config_id), part.frames[config_id])] if config_id in part.frames else []
    return runs + [(r["label"], r["server"], r["frame"]) for r in part.reruns if r["config_id"] == config_id]


def rerun_command(part: PartResults, config_id: str) -> str:
    """The command that re-runs one configuration of ``part`` at :data:`RERUN_SETTINGS` into its
    ``reruns/`` folder (which :func:`optimize.bench.repeats.runs_on_file` reads), with the Budget recorded
    beside its rows.

    Example:
        >>> rerun_command(PartResults(pd.DataFrame(), frames={}, preset=None), "31aa6e03d1bd")[:60]
        'SLEEPTIME_LOCAL_SLOTS=1 python3 -m optimize evaluate --split'
    """
    import json

    model_dir = Path(part.model_dir) if part.model_dir is not None else Path("<dataset>/<test model>")
    budget: dict[str, Any] = {}
    try:
        config = json.loads((model_dir / "rows" / f"{config_id}.jsonl.config.json").read_text())
        budget = config.get("budget") or {}
    except (OSError, ValueError):
        pass
    data = "" if part.dataset in (None, "ours") else f" --data {part.dataset}"
    budget_flag = f" --budget-json '{json.dumps(budget, sort_keys=True)}'" if budget else ""
    return (f"SLEEPTIME_LOCAL_SLOTS={RERUN_SETTINGS['slots']} python3 -m optimize evaluate"
            f" --split test{data} --threads 1 --store mlruns/store.sqlite{budget_flag}"
            f" --out {model_dir / 'reruns'}/{config_id}.jsonl")


def same_server_rows(part: PartResults, a_id: str, b_id: str) -> dict[str, Any]:
    """Rows of configurations ``a_id`` and ``b_id`` made under the same server settings
    (:mod:`optimize.reports.server_settings`): both grid runs when their settings are equal, else a
    rerun of either (or both) at the other's settings. Returns ``a``, ``b`` (the frames), ``a_rows_from``,
    ``b_rows_from`` and ``server``; when no two runs match, only ``note``: why, and the command of each run
    that would have to be made. Two runs neither of which recorded its settings pair as before.

    Example:
        >>> frame = pd.DataFrame({"question_id": [1, 2], "context_id": ["x", "y"], "correct": [1, 0]})
        >>> part = PartResults(pd.DataFrame(), frames={"s": frame, "t": frame}, preset=None,
        ...     server={"s": {"slots": 4}, "t": {"slots": 1}})
        >>> same_server_rows(part, "s", "t")["note"][:45]
        'not paired: t ran at 1 slot, speculative none'
        >>> part.reruns = [{"config_id": "s", "label": "latency/s-warm.jsonl", "server": {"slots": 1},
        ...                 "frame": frame}]
        >>> found = same_server_rows(part, "s", "t")
        >>> found["a_rows_from"], found["b_rows_from"], found["server"]
        ('latency/s-warm.jsonl', 'rows', '1 slot, speculative none')
    """
    from optimize.reports.server_settings import comparable, describe

    runs_a, runs_b = _runs_of(part, a_id), _runs_of(part, b_id)
    for where_a, settings_a, frame_a in runs_a:
        for where_b, settings_b, frame_b in runs_b:
            unrecorded = settings_a is None and settings_b is None and where_a == where_b == "rows"
            if comparable(settings_a, settings_b) or unrecorded:
                return {"a": frame_a, "b": frame_b, "a_rows_from": where_a, "b_rows_from": where_b,
                        "server": describe(settings_a)}
    if not runs_a or not runs_b:
        return {"note": "one side did not run"}
    missing = [config_id for config_id, runs in ((b_id, runs_b), (a_id, runs_a))
               if not any(comparable(settings, RERUN_SETTINGS) for _, settings, _ in runs)]
    commands = "; ".join(f"`{rerun_command(part, config_id)}`" for config_id in missing)
    return {"note": f"not paired: {b_id} ran at {describe(runs_b[0][1])}, {a_id} at "
                    f"{describe(runs_a[0][1])}, and no rerun of either matches the other; the pair needs "
                    f"{' and '.join(missing)} at {describe(RERUN_SETTINGS)}: {commands}"}


def paired_same_server(part: PartResults, a: dict | None, b: dict | None, **extra: Any) -> dict[str, Any]:
    """``a`` minus ``b`` (:func:`optimize.reports.analysis.paired_row`) on rows made under the same server
    settings (:func:`same_server_rows`; ``a_rows_from``/``b_rows_from`` say which rows); without two such
    runs the pair is refused: no difference, and a note saying why and which run would have to be made.

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
    if a is None or b is None:
        return paired_row(part.frames, a, b, **extra)
    found = same_server_rows(part, a["config_id"], b["config_id"])
    if "note" in found:
        return {**extra, "n": 0, "difference": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "significant": False, "server": None, "a_rows_from": None, "b_rows_from": None,
                "note": found["note"]}
    frames = {a["config_id"]: found["a"], b["config_id"]: found["b"]}
    return paired_row(frames, a, b, **extra, server=found["server"], a_rows_from=found["a_rows_from"],
                      b_rows_from=found["b_rows_from"])


def _plain(configs: pd.DataFrame) -> pd.DataFrame:
    return configs[configs["compiled"].isna()] if "compiled" in configs else configs


def _pareto(part: PartResults) -> pd.DataFrame:
    configs = part.configs
    return configs[configs["config_id"].isin(part.pareto_ids)] if len(configs) else configs


def q1_table(part: PartResults) -> pd.DataFrame:
    """Question 1: the token ratio at equal accuracy for each sleep-time config of the pareto group, with
    the paired difference against its matched baseline made under the same server settings
    (:func:`paired_same_server`: ``paired_note`` says why a pair was refused)."""
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
        d = paired_same_server(part, a, b)
        paired.append({f"paired_{k}": d.get(k, math.nan) for k in
                       ("n", "n_contexts", "n_templates", "difference", "ci_low", "ci_high",
                        "ci_low_template", "ci_high_template", "significant", "unmatched_a",
                        "unmatched_b", "accuracy_a", "accuracy_b", "server", "a_rows_from",
                        "b_rows_from", "note")})
    return pd.concat([table, pd.DataFrame(paired)], axis=1)


def q3_table(part: PartResults) -> pd.DataFrame:
    grid = _pareto(part)
    return amortization_table(grid) if len(grid) else pd.DataFrame()


Q2_REFERENCE = "sleep k=1, rounds=0"
"""Question 2's reference: today's notes, one sample, no rethink, at the same verbosity."""


def q2_table(part: PartResults) -> pd.DataFrame:
    """Question 2: every (k, rounds) config of today's notes at the fixed verbosity, then every sleep
    strategy of the size (``preset.sleep_strategies``), each paired against notes k=1/no rethink and against
    test-time only at the same verbosity, each pair made under the same server settings
    (:func:`paired_same_server`). A strategy with no rows yet gets one line, ``versus`` "not run"."""
    preset = part.preset
    if part.configs.empty:
        return pd.DataFrame()
    v = preset.k_verbosity
    plain = _plain(part.configs)
    reference = pick_today(plain, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0)
    test_only = pick_today(plain, use_sleep=False, test_verbosity=v)
    notes = strategy_defaults()["sleep_strategy"]
    rows = []
    for k in preset.k_values:
        for r in preset.rounds:
            config = pick_today(plain, use_sleep=True, test_verbosity=v, sleep_samples=k, sleep_rounds=r)
            if config is not None:
                # Notes samples are concatenated whatever the Budget's combine rule says: no rule to name.
                rows += _q2_pairs(part, config, reference, test_only, sleep_strategy=notes,
                                  sleep_combine=None)
    for strategy in preset.sleep_strategies:
        wanted = {"test_verbosity": v, "sleep_rounds": 0, **strategy.budget_fields()}
        config = pick(with_strategy_columns(plain), use_sleep=True,
                      test_strategy=strategy_defaults()["test_strategy"], **wanted)
        if config is None:
            rows.append({**wanted, "versus": "not run", "n": 0,
                         "note": f"not run: no rows of {strategy.label} at verbosity {v} on file"})
            continue
        rows += _q2_pairs(part, config, reference, test_only, sleep_strategy=strategy.strategy,
                          sleep_combine=strategy.combine)
    return pd.DataFrame(rows)


def _q2_pairs(part: PartResults, config, reference, test_only, **strategy: Any) -> list[dict[str, Any]]:
    """One q2 config's two lines: minus the reference (:data:`Q2_REFERENCE`), minus test-time only."""
    base = {
        "config_id": config["config_id"],
        "test_verbosity": int(config["test_verbosity"]),
        "sleep_samples": int(config["sleep_samples"]),
        "sleep_rounds": int(config["sleep_rounds"]),
        **strategy,
        "accuracy": config["accuracy"],
        "accuracy_ci_low": config.get("accuracy_ci_low_context", config.get("accuracy_ci_low")),
        "accuracy_ci_high": config.get("accuracy_ci_high_context", config.get("accuracy_ci_high")),
        "mean_test_tokens": config["mean_test_tokens"],
        "sleep_tokens_per_context": config.get("sleep_tokens_per_context"),
    }
    return [paired_same_server(part, config, reference, **base, versus=Q2_REFERENCE),
            paired_same_server(part, config, test_only, **base, versus="test-time only")]


def q4_table(part: PartResults) -> pd.DataFrame:
    """Question 4: sleep (k=1) minus test-only at the same verbosity, per predictability label, at every
    verbosity both ran under the same server settings (:func:`same_server_rows`; a refused verbosity gets
    one row with its ``note``); also pooled over the paired verbosities (a question then counts once per
    verbosity, in the same context cluster, so the clustered interval stays honest)."""
    plain = _plain(part.configs) if len(part.configs) else part.configs
    rows, pooled_a, pooled_b = [], [], []
    for v in part.preset.sleep_grid:
        sleep = pick_today(plain, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0)
        test = pick_today(plain, use_sleep=False, test_verbosity=v)
        if sleep is None or test is None or {sleep["config_id"], test["config_id"]} - set(part.frames):
            continue
        ids = {"sleep_config_id": sleep["config_id"], "test_config_id": test["config_id"]}
        found = same_server_rows(part, sleep["config_id"], test["config_id"])
        if "note" in found:
            rows.append({"test_verbosity": str(v), **ids, "predictability": "all", "n": 0,
                         "difference": math.nan, "note": found["note"]})
            continue
        a, b = found["a"], found["b"]
        if "predictability" not in a:
            continue
        gap = predictability_gap(a, b)
        where = {"server": found["server"], "a_rows_from": found["a_rows_from"],
                 "b_rows_from": found["b_rows_from"]}
        rows += [{"test_verbosity": str(v), **ids, **r, **where} for r in gap.to_dict("records")]
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
        plain = pick_today(part.configs, **fields, compiled=None)
        compiled = pick_today(part.configs, **fields, compiled="any")
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
