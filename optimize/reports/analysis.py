"""The tables every report needs, computed once: the distinct-budget Pareto front, the matched baseline,
amortized cost at N questions per context and price ratio t, the predictability gap and paired differences
with clustered intervals, plus the truncation and parse-failure rates that sit beside every accuracy.

Inputs are a configs table (one row per configuration: ``config_id``, ``use_sleep``, ``test_verbosity``,
``accuracy``, ``mean_test_tokens``, ``sleep_tokens_per_context``, ...) and per-configuration example frames
(evaluate's rows: ``question_id``, ``context_id``, ``template_id``, ``correct``, ``predictability``,
``truncated``, ``parse_error``). The report, the benchmark and the demo all read these functions.

Example:
    >>> import pandas as pd
    >>> configs = pd.DataFrame({"config_id": ["s", "t0", "t3"], "use_sleep": ["True", "False", "False"],
    ...     "test_verbosity": [0, 0, 3], "accuracy": [0.5, 0.3, 0.6], "mean_test_tokens": [10.0, 8.0, 80.0],
    ...     "sleep_tokens_per_context": [300.0, 0.0, 0.0]})
    >>> sleep, test_only = split_by_sleep(configs)
    >>> baseline, matched = matched_baseline(sleep.iloc[0], test_only)
    >>> baseline["config_id"], matched
    ('t3', True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from optimize.reports.metrics import as_bool, paired_bootstrap
from optimize.reports.pareto import OBJECTIVES, hypervolume, pareto_front

PRICE_RATIO = 10.0
AMORTIZATION_N = tuple(range(1, 11))
"""The one N grid (questions per context) of every amortization table and figure."""
PREDICTABILITY_ORDER = ("high", "medium", "low")
"""The natural order of predictability labels (most predictable first), in tables and figures."""


# -- columns ------------------------------------------------------------------------------------------------
def bool_column(values: pd.Series) -> pd.Series:
    """A column of booleans read from CSV text, JSON or numpy (``"True"``, ``1``, ``1.0`` are True)."""
    return values.map(as_bool).astype(bool)


def split_by_sleep(configs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(sleep-time configs, test-time-only configs)``, with ``use_sleep`` read as a boolean."""
    df = configs.copy()
    df["use_sleep"] = bool_column(df["use_sleep"]) if "use_sleep" in df else False
    return df[df["use_sleep"]], df[~df["use_sleep"]]


def ordered_labels(labels: Sequence[Any], order: Sequence[str] = PREDICTABILITY_ORDER) -> list[str]:
    """Labels in their natural order (``high, medium, low``), unknown ones after, sorted.

    Example:
        >>> ordered_labels(["low", "high", "x", "medium", "low"])
        ['high', 'medium', 'low', 'x']
    """
    present = list(dict.fromkeys(str(x) for x in labels))
    return [x for x in order if x in present] + sorted(x for x in present if x not in order)


# -- the matched baseline -----------------------------------------------------------------------------------
def matched_baseline(sleep_row: Mapping[str, Any], test_only: pd.DataFrame, *,
                     cost: str = "mean_test_tokens") -> tuple[pd.Series | None, bool]:
    """The cheapest test-time-only configuration at least as accurate as ``sleep_row`` (``matched`` True),
    else the most accurate one (cheapest among equals; ``matched`` False); ``(None, False)`` if none ran.

    Ties in cost go to the more accurate configuration.
    """
    if test_only is None or len(test_only) == 0:
        return None, False
    as_good = test_only[test_only["accuracy"] >= sleep_row["accuracy"]]
    if len(as_good):
        return as_good.sort_values([cost, "accuracy"], ascending=[True, False]).iloc[0], True
    return test_only.sort_values(["accuracy", cost], ascending=[False, True]).iloc[0], False


def _sleep_fields(s: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sleep_config_id": s["config_id"],
        "sleep_verbosity": int(s["test_verbosity"]),
        "sleep_samples": int(s.get("sleep_samples", 1) or 1),
        "sleep_rounds": int(s.get("sleep_rounds", 0) or 0),
        "sleep_accuracy": s["accuracy"],
    }


TOTAL = "_total"
"""Suffix of a column that counts prompt tokens too (``mean_test_tokens_total``); the plain column counts
generated tokens only, the paper's convention."""


def with_total_tokens(configs: pd.DataFrame, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``configs`` with ``mean_test_tokens_total`` and ``sleep_tokens_per_context_total``: the same means
    counting prompt and generated tokens (:func:`optimize.reports.metrics.summarize`, ``tokens="total"``),
    from each configuration's rows; NaN where its rows are not at hand.

    Example:
        >>> configs = pd.DataFrame({"config_id": ["a"], "mean_test_tokens": [10.0]})
        >>> frame = pd.DataFrame({"context_id": ["x", "x"], "correct": [1, 0], "test_tokens": [300, 320],
        ...     "sleep_tokens": [500, 500]})
        >>> out = with_total_tokens(configs, {"a": frame}).iloc[0]
        >>> float(out["mean_test_tokens_total"]), float(out["sleep_tokens_per_context_total"])
        (310.0, 500.0)
    """
    from optimize.reports.metrics import summarize

    if configs.empty:
        return configs
    test, sleep = [], []
    for config_id in configs["config_id"]:
        frame = frames.get(str(config_id))
        if frame is None or "test_tokens" not in frame:
            test.append(math.nan)
            sleep.append(math.nan)
            continue
        s = summarize(frame, tokens="total")
        test.append(s["mean_test_tokens"])
        sleep.append(s["sleep_tokens_per_context"])
    return configs.assign(**{f"mean_test_tokens{TOTAL}": test, f"sleep_tokens_per_context{TOTAL}": sleep})


def token_ratio_table(configs: pd.DataFrame) -> pd.DataFrame:
    """Question 1: for each sleep-time config, its matched baseline and the test-token ratio.

    ``token_ratio`` = baseline mean test tokens / sleep-time mean test tokens, counting generated tokens (the
    paper's convention); ``token_ratio_total`` counts prompt tokens too, when the configs carry
    :func:`with_total_tokens`' columns (the matching is by accuracy either way); when no test-only config
    reaches the sleep config's accuracy, ``matched`` is False, the ratio is NaN and ``note`` says so (the
    most accurate test-only config is named for reference).

    Example:
        >>> rows = pd.DataFrame({"config_id": ["s0", "t0", "t4"], "use_sleep": [True, False, False],
        ...     "test_verbosity": [0, 0, 4], "accuracy": [0.6, 0.4, 0.7], "mean_test_tokens": [20, 18, 200],
        ...     "accuracy_ci_low": [0.3, 0.2, 0.4], "accuracy_ci_high": [0.8, 0.6, 0.9]})
        >>> token_ratio_table(rows)["token_ratio"].tolist()
        [10.0]
    """
    sleep, test = split_by_sleep(configs)
    rows = []
    # Ties (equal test tokens) are broken by verbosity, then id, so the first row does not depend on the order
    # in which a run's configurations finished.
    order = [c for c in ("mean_test_tokens", "test_verbosity", "config_id") if c in sleep]
    for _, s in sleep.sort_values(order, kind="stable").iterrows():
        t, matched = matched_baseline(s, test)
        row = {**_sleep_fields(s), "sleep_ci_low": s.get("accuracy_ci_low"),
               "sleep_ci_high": s.get("accuracy_ci_high"), "sleep_test_tokens": s["mean_test_tokens"]}
        ratio = math.nan
        if t is None:
            note = "no test-time-only configs ran"
        elif matched:
            ratio = t["mean_test_tokens"] / s["mean_test_tokens"] if s["mean_test_tokens"] > 0 else math.nan
            note = (f"test-time only needs {t['mean_test_tokens']:.0f} tokens (verbosity "
                    f"{int(t['test_verbosity'])}, accuracy {t['accuracy']:.2f}) to match {s['accuracy']:.2f}")
        else:
            note = (f"no test-time-only config reached accuracy {s['accuracy']:.2f}; the most accurate has "
                    f"{t['accuracy']:.2f} at {t['mean_test_tokens']:.0f} tokens")
        row.update({
            "test_config_id": None if t is None else t["config_id"],
            "test_verbosity": None if t is None else int(t["test_verbosity"]),
            "test_accuracy": None if t is None else t["accuracy"],
            "test_ci_low": None if t is None else t.get("accuracy_ci_low"),
            "test_ci_high": None if t is None else t.get("accuracy_ci_high"),
            "test_test_tokens": None if t is None else t["mean_test_tokens"],
            "matched": matched,
            "token_ratio": ratio,
            "note": note,
        })
        if f"mean_test_tokens{TOTAL}" in s:
            mine, theirs = s[f"mean_test_tokens{TOTAL}"], None if t is None else t[f"mean_test_tokens{TOTAL}"]
            row.update({f"sleep_test_tokens{TOTAL}": mine, f"test_test_tokens{TOTAL}": theirs,
                        f"token_ratio{TOTAL}": theirs / mine if matched and mine and mine > 0 else math.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def plain_reading(configs: pd.DataFrame, examples: pd.DataFrame | None = None) -> str:
    """One sentence a newcomer can read off a comparison: what the cheapest sleep-time config reached, what
    test-time only needed for the same accuracy, and (given the per-question ``examples``) the paired
    difference against test-time only at the same verbosity with its context-clustered interval.

    Example:
        >>> rows = pd.DataFrame({"config_id": ["s0", "t0", "t1"], "use_sleep": [True, False, False],
        ...     "test_verbosity": [0, 0, 1], "accuracy": [0.3, 0.1, 0.5], "mean_test_tokens": [15, 15, 150]})
        >>> import textwrap
        >>> print(textwrap.fill(plain_reading(rows), 100))
        Sleep time reached 30% at 15 test tokens per question; test-time only needed 150 tokens (verbosity
        1, 50%) for the same accuracy, 10.0x as many.
    """
    ratios = token_ratio_table(configs)
    if ratios.empty:
        return "No sleep-time configuration ran, so there is nothing to compare."
    r = ratios.iloc[0]
    text = (f"Sleep time reached {r['sleep_accuracy']:.0%} at {r['sleep_test_tokens']:.0f} test tokens per "
            "question")
    if r["test_config_id"] is None:
        text += " (no test-time-only configuration ran)"
    elif r["matched"]:
        text += (f"; test-time only needed {r['test_test_tokens']:.0f} tokens (verbosity "
                 f"{int(r['test_verbosity'])}, {r['test_accuracy']:.0%}) for the same accuracy")
        if not math.isnan(r["token_ratio"]):
            text += f", {r['token_ratio']:.1f}x as many"
    else:
        text += (f"; no test-time-only budget reached that accuracy (the best: {r['test_accuracy']:.0%} at "
                 f"{r['test_test_tokens']:.0f} tokens, verbosity {int(r['test_verbosity'])})")
    text += "."
    _, test = split_by_sleep(configs)
    same = test[test["test_verbosity"].astype(int) == int(r["sleep_verbosity"])]
    if examples is not None and len(examples) and len(same) and "config_id" in examples:
        a = examples[examples["config_id"] == r["sleep_config_id"]]
        b = examples[examples["config_id"] == same.iloc[0]["config_id"]]
        if len(a) and len(b):
            d = paired_bootstrap(a, b, unmatched="report")
            verdict = "the interval excludes zero" if d["significant"] else "the interval includes zero"
            text += (f" Against test-time only at the same verbosity: {100 * d['difference']:+.0f} points "
                     f"(95% interval by context {100 * d['ci_low']:+.0f} to {100 * d['ci_high']:+.0f}, "
                     f"{d['n']} questions in {d['n_contexts']} contexts; {verdict}"
                     f"{unmatched_note(d)}).")
    return text


# -- amortization -------------------------------------------------------------------------------------------
def cost_per_query(mean_test_tokens: float, sleep_tokens_per_context: float, n: float,
                   price_ratio: float = PRICE_RATIO) -> float:
    """``t * test tokens + sleep tokens per context / N``, in sleep-token units.

    Example:
        >>> cost_per_query(10, 300, 10, 10)
        130.0
    """
    return price_ratio * float(mean_test_tokens) + float(sleep_tokens_per_context or 0.0) / n


def amortization_table(configs: pd.DataFrame, *, price_ratio: float = PRICE_RATIO,
                       questions: Sequence[int] = AMORTIZATION_N) -> pd.DataFrame:
    """Question 3: cost per query as N grows, for every sleep-time config against its matched baseline,
    counting generated tokens (the paper's convention) and, when the configs carry :func:`with_total_tokens`'
    columns, prompt tokens too (``cost_sleep_total``, ``cost_test_only_total``, ``cost_ratio_total``).

    Example:
        >>> rows = pd.DataFrame({"config_id": ["s", "t"], "use_sleep": [True, False],
        ...     "test_verbosity": [0, 3], "accuracy": [0.5, 0.5], "mean_test_tokens": [10.0, 50.0],
        ...     "sleep_tokens_per_context": [300.0, 0]})
        >>> table = amortization_table(rows, questions=(1, 10))
        >>> table["cost_sleep"].tolist(), table["cost_ratio"].tolist()
        ([400.0, 130.0], [1.25, 3.8461538461538463])
    """
    sleep, test = split_by_sleep(configs)
    rows = []
    for _, s in sleep.iterrows():
        t, matched = matched_baseline(s, test)
        if t is None:
            continue
        per_context = float(s.get("sleep_tokens_per_context", 0.0) or 0.0)
        cost_test = cost_per_query(t["mean_test_tokens"], 0.0, 1, price_ratio)
        for n in questions:
            cost_sleep = cost_per_query(s["mean_test_tokens"], per_context, n, price_ratio)
            rows.append({
                **_sleep_fields(s),
                "test_config_id": t["config_id"],
                "test_verbosity": int(t["test_verbosity"]),
                "test_accuracy": t["accuracy"],
                "matched": matched,
                "questions_per_context": n,
                "price_ratio": price_ratio,
                "sleep_test_tokens": float(s["mean_test_tokens"]),
                "sleep_tokens_per_context": per_context,
                "test_test_tokens": float(t["mean_test_tokens"]),
                "cost_sleep": cost_sleep,
                "cost_test_only": cost_test,
                "cost_ratio": cost_test / cost_sleep if cost_sleep else math.nan,
                **_total_costs(s, t, n, price_ratio),
            })
    return pd.DataFrame(rows)


def _total_costs(s: Mapping[str, Any], t: Mapping[str, Any], n: int, price_ratio: float) -> dict[str, float]:
    """Question 3's costs counting prompt tokens too (empty when the configs do not carry them)."""
    if f"mean_test_tokens{TOTAL}" not in s:
        return {}
    sleep = cost_per_query(s[f"mean_test_tokens{TOTAL}"], s.get(f"sleep_tokens_per_context{TOTAL}") or 0.0, n,
                           price_ratio)
    test = cost_per_query(t[f"mean_test_tokens{TOTAL}"], 0.0, 1, price_ratio)
    return {f"cost_sleep{TOTAL}": sleep, f"cost_test_only{TOTAL}": test,
            f"cost_ratio{TOTAL}": test / sleep if sleep and not math.isnan(sleep) else math.nan}


# -- Pareto front -------------------------------------------------------------------------------------------
def front_table(configs: pd.DataFrame, objectives: Sequence[tuple[str, str]] = OBJECTIVES, *,
                key: str = "config_id") -> pd.DataFrame:
    """One row per distinct configuration (``key``) with ``on_front``: no other distinct configuration is at
    least as good on every objective and better on one. A configuration listed twice is one point.

    Example:
        >>> configs = pd.DataFrame({"config_id": ["a", "a", "b", "c"], "accuracy": [0.5, 0.5, 0.6, 0.4],
        ...     "mean_test_tokens": [10, 10, 20, 30], "cost_per_query": [100, 100, 200, 300]})
        >>> front_table(configs).set_index("config_id")["on_front"].to_dict()
        {'a': True, 'b': True, 'c': False}
    """
    distinct = configs.drop_duplicates(subset=[key]).reset_index(drop=True)
    if distinct.empty:
        return distinct.assign(on_front=pd.Series(dtype=bool))
    names = [name for name, _ in objectives]
    front = set(pareto_front(distinct[names].astype(float).to_numpy().tolist(), [d for _, d in objectives]))
    return distinct.assign(on_front=[i in front for i in range(len(distinct))])


def hypervolume_curves(table: pd.DataFrame, objectives: Sequence[tuple[str, str]] = OBJECTIVES, *,
                       origin: str = "origin", order: str = "trial") -> dict[str, list[float]]:
    """Per ``origin``, the share of the best known hypervolume (every row's front together) after each
    evaluated configuration, in ``order``: the curves :func:`hypervolume_race` reads (reference point there).

    Example:
        >>> t = pd.DataFrame({"origin": ["grid", "grid", "search"], "trial": [0, 1, 0],
        ...     "accuracy": [0.2, 0.5, 0.5], "mean_test_tokens": [10, 50, 12],
        ...     "cost_per_query": [100, 500, 120]})
        >>> {k: [round(v, 2) for v in c] for k, c in hypervolume_curves(t).items()}
        {'grid': [0.42, 0.43], 'search': [0.96]}
    """
    names = [name for name, _ in objectives]
    directions = [d for _, d in objectives]
    values = table[names].astype(float)
    reference = [min(0.0, values[n].min()) if d == "maximize" else values[n].max() * 1.1 + 1e-9
                 for n, d in zip(names, directions, strict=True)]
    best = hypervolume(values.to_numpy().tolist(), directions, reference)
    curves = {}
    for name, group in table.groupby(origin, sort=False):
        group = group.sort_values(order, kind="stable") if order in group else group
        points = group[names].astype(float).to_numpy().tolist()
        curves[str(name)] = [hypervolume(points[: k + 1], directions, reference) / best if best else math.nan
                             for k in range(len(points))]
    return curves


def hypervolume_race(table: pd.DataFrame, objectives: Sequence[tuple[str, str]] = OBJECTIVES, *,
                     within: Sequence[float] = (0.01, 0.05, 0.10), origin: str = "origin",
                     order: str = "trial") -> pd.DataFrame:
    """Search against grid: how many evaluated configurations each ``origin`` needed before its front's
    hypervolume came within each share of ``within`` of the best known (the front of every row together).

    Rows are taken per origin in ``order`` (then table order); the reference point is 10% worse than the
    worst value of each minimized objective and 0 (or the worst, if lower) for a maximized one, so a point
    at zero accuracy adds nothing. ``<NA>`` means the origin never came that close.

    Example:
        >>> t = pd.DataFrame({"origin": ["grid", "grid", "search", "search"], "trial": [0, 1, 0, 1],
        ...     "accuracy": [0.2, 0.5, 0.5, 0.6], "mean_test_tokens": [10, 50, 12, 40],
        ...     "cost_per_query": [100, 500, 120, 400]})
        >>> print(hypervolume_race(t, within=(0.05,)).to_string(index=False))
        origin  evaluated  hypervolume_share  configs_to_within_5%
          grid          2              0.420                  <NA>
        search          2              0.964                     2
    """
    rows = []
    for name, shares in hypervolume_curves(table, objectives, origin=origin, order=order).items():
        row: dict[str, Any] = {"origin": name, "evaluated": len(shares),
                               "hypervolume_share": round(shares[-1], 3) if shares else math.nan}
        for share in within:
            reached = next((k + 1 for k, v in enumerate(shares) if v >= 1 - share), None)
            row[f"configs_to_within_{share:.0%}"] = reached
        rows.append(row)
    race = pd.DataFrame(rows)
    for share in within:
        race[f"configs_to_within_{share:.0%}"] = race[f"configs_to_within_{share:.0%}"].astype("Int64")
    return race


# -- paired differences and the predictability gap ----------------------------------------------------------
PAIRED_COLUMNS = ("n", "n_contexts", "n_templates", "accuracy_a", "accuracy_b", "difference", "ci_low",
                  "ci_high", "ci_low_template", "ci_high_template", "significant", "significant_template",
                  "a_only", "b_only", "unmatched_a", "unmatched_b")


def unmatched_note(d: Mapping[str, Any], a: str = "the first", b: str = "the second") -> str:
    """``"; N questions of ... left out, unpaired"`` when a pairing left questions out, else ``""``.

    Example:
        >>> unmatched_note({"unmatched_a": 2, "unmatched_b": 0}, "sleep time", "test-time only")
        '; 2 questions only sleep time answered and 0 only test-time only answered are left out, unpaired'
        >>> unmatched_note({"unmatched_a": 0, "unmatched_b": 0})
        ''
    """
    only_a, only_b = int(d.get("unmatched_a") or 0), int(d.get("unmatched_b") or 0)
    if not (only_a or only_b):
        return ""
    return (f"; {only_a} questions only {a} answered and {only_b} only {b} answered are left out, "
            "unpaired")


def paired_row(frames: Mapping[str, pd.DataFrame], a: Mapping[str, Any] | None,
               b: Mapping[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """Config ``a`` minus config ``b`` on their shared questions
    (:func:`optimize.reports.metrics.paired_bootstrap`, context- and template-clustered), with ``extra``
    columns; ``n`` 0 and a note when one side is missing."""
    if a is None or b is None or a["config_id"] not in frames or b["config_id"] not in frames:
        return {**extra, "n": 0, "difference": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "significant": False, "note": "one side did not run"}
    d = paired_bootstrap(frames[a["config_id"]], frames[b["config_id"]], unmatched="report")
    return {**extra, "config_a": a["config_id"], "config_b": b["config_id"], **d}


def predictability_gap(sleep_rows: pd.DataFrame, test_rows: pd.DataFrame, *,
                       label: str = "predictability") -> pd.DataFrame:
    """Sleep-time minus test-time-only accuracy per predictability label (natural order), paired on shared
    questions with clustered intervals.

    Example:
        >>> a = pd.DataFrame({"question_id": [1, 2, 3, 4], "context_id": ["x", "x", "y", "y"],
        ...     "predictability": ["low", "high", "low", "high"], "correct": [True, True, False, True]})
        >>> gap = predictability_gap(a, a.assign(correct=False))
        >>> gap[["predictability", "difference", "n"]].values.tolist()
        [['high', 1.0, 2], ['low', 0.5, 2]]
    """
    if label in sleep_rows:  # questions without a label (e.g. GSM-Symbolic's) are in no bucket
        sleep_rows = sleep_rows[sleep_rows[label].notna() & (sleep_rows[label].astype(str) != "None")]
    if sleep_rows.empty or label not in sleep_rows:
        return pd.DataFrame(columns=[label, *PAIRED_COLUMNS])
    labels = sleep_rows[label].astype(str)
    test_labels = test_rows[label].astype(str) if label in test_rows else None
    rows = []
    for name in ordered_labels(labels):
        part = sleep_rows[labels == name]
        # The other buckets' test rows are not unmatched questions: pair within the bucket.
        test_part = (test_rows[test_labels == name] if test_labels is not None
                     else test_rows[test_rows["question_id"].isin(part["question_id"])])
        if test_part.empty or not set(part["question_id"]) & set(test_part["question_id"]):
            continue  # no shared questions in this bucket
        rows.append({label: name, **paired_bootstrap(part, test_part, unmatched="report")})
    return pd.DataFrame(rows)


# -- truncation and parse failures --------------------------------------------------------------------------
FAILURE_COLUMNS = ("truncation_rate", "parse_failures", "unparsed_right")

# How an adapter's parse error quotes the reply (for rows without ``reply_correct``).
_QUOTED_REPLY = re.compile(r"LM Response: (.*?)\n\nExpected to find output fields", re.S)


def unparsed_reply_correct(row: Mapping[str, Any]) -> bool | None:
    """For a row whose reply could not be parsed: does the final number the reply states equal gold?

    Read from ``reply_correct``, else (rows without it) from the reply quoted in ``error``; None when the
    row parsed, or when the quoted reply was cut short in the stored message.

    Example:
        >>> error = "AdapterParseError: ... LM Response: so 6 * 7 = 42 \\n\\nExpected to find output fields"
        >>> unparsed_reply_correct({"parse_error": True, "error": error, "gold": 42})
        True
        >>> unparsed_reply_correct({"parse_error": False, "correct": True}) is None
        True
    """
    from programs.answers import is_correct

    if not as_bool(row.get("parse_error")):
        return None
    stored = row.get("reply_correct")
    if stored is not None and not (isinstance(stored, float) and math.isnan(stored)):
        return as_bool(stored)
    quoted = _QUOTED_REPLY.search(str(row.get("error") or ""))
    return is_correct(quoted.group(1), row.get("gold")) if quoted else None


def lenient_correct(rows: pd.DataFrame) -> pd.Series:
    """Each row right, or unparsed with a reply that states the gold number (:func:`unparsed_reply_correct`):
    the lenient reading of a run.

    Example:
        >>> rows = pd.DataFrame({"correct": [True, False, False], "parse_error": [False, True, True],
        ...                      "reply_correct": [None, True, False]})
        >>> lenient_correct(rows).tolist()
        [True, True, False]
    """
    return pd.Series([as_bool(row["correct"]) or bool(unparsed_reply_correct(row))
                      for row in rows.to_dict("records")], index=rows.index, dtype=bool)


def failure_rates(rows: pd.DataFrame) -> dict[str, float]:
    """Share of rows whose test call hit its token cap, the number whose reply could not be parsed (counted
    wrong), and how many of those state the gold number all the same (``unparsed_right``: what a lenient
    reading of the replies would add to ``correct``; a lower bound where such rows quote a cut-short reply).

    Rows without these columns count as NaN (unknown), not as zero.

    Example:
        >>> failure_rates(pd.DataFrame({"truncated": ["True", False, 0.0, 1.0], "parse_error": [0, 0, 1, 0],
        ...                             "reply_correct": [None, None, True, None]}))
        {'truncation_rate': 0.5, 'parse_failures': 1, 'unparsed_right': 1}
    """
    truncated = rows["truncated"].dropna() if "truncated" in rows else pd.Series(dtype=object)
    parse = rows["parse_error"].dropna() if "parse_error" in rows else pd.Series(dtype=object)
    rates = {"truncation_rate": float(bool_column(truncated).mean()) if len(truncated) else math.nan,
             "parse_failures": math.nan, "unparsed_right": math.nan}
    if len(parse):
        failed = bool_column(parse)
        unparsed = rows.loc[failed[failed].index]  # only these hold a reply worth reading
        rates["parse_failures"] = int(failed.sum())
        rates["unparsed_right"] = sum(bool(unparsed_reply_correct(r)) for r in unparsed.to_dict("records"))
    return rates


def with_failure_columns(table: pd.DataFrame, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``table`` with the truncation rate and parse failures of every configuration it names: a column
    ``config_id`` gets ``truncation_rate``/``parse_failures``, a column ``<x>_config_id`` (or ``config_<x>``)
    gets ``<x>_truncation_rate``/``<x>_parse_failures``."""
    if table.empty:
        return table
    rates = {config_id: failure_rates(frame) for config_id, frame in frames.items()}
    out = table.copy()
    for column in [c for c in table.columns if c == "config_id" or c.endswith("_config_id")
                   or c.startswith("config_")]:
        if column == "config_id":
            prefix = ""
        elif column.endswith("_config_id"):
            prefix = column.removesuffix("config_id")
        else:
            prefix = column.removeprefix("config_") + "_"
        for name in FAILURE_COLUMNS:
            out[prefix + name] = [rates.get(str(c), {}).get(name, math.nan) for c in table[column]]
    return out


def with_cluster_intervals(configs: pd.DataFrame, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``configs`` with context- and template-clustered accuracy intervals and the number of contexts and
    templates behind each accuracy (from each configuration's example frame).

    The context-clustered interval becomes the headline ``accuracy_ci_low``/``accuracy_ci_high`` that every
    table and figure shows (questions of one context are not independent); the per-question Wilson
    interval a run summary computes is kept as ``accuracy_ci_low_wilson``/``accuracy_ci_high_wilson``.

    Example:
        >>> configs = pd.DataFrame({"config_id": ["a"], "accuracy": [0.5], "accuracy_ci_low": [0.2],
        ...                         "accuracy_ci_high": [0.8]})
        >>> frame = pd.DataFrame({"context_id": ["x", "x", "y", "y"], "correct": [True, True, False, False]})
        >>> out = with_cluster_intervals(configs, {"a": frame}).iloc[0]
        >>> [float(out[c]) for c in ("accuracy_ci_low", "accuracy_ci_high", "accuracy_ci_low_wilson")]
        [0.0, 1.0, 0.2]
    """
    from optimize.reports.metrics import accuracy_intervals

    if configs.empty:
        return configs
    columns = ("ci_low_context", "ci_high_context", "ci_low_template", "ci_high_template", "n_contexts",
               "n_templates")
    out = configs.copy()
    values = {c: [] for c in columns}
    for config_id in configs["config_id"]:
        frame = frames.get(str(config_id))
        found = accuracy_intervals(frame) if frame is not None else {}
        for c in columns:
            values[c].append(found.get(c, math.nan))
    for c in columns:
        out[f"accuracy_{c}" if c.startswith("ci_") else c] = values[c]
    for end in ("low", "high"):
        headline, clustered = f"accuracy_ci_{end}", out[f"accuracy_ci_{end}_context"]
        if headline in out and f"{headline}_wilson" not in out:
            out[f"{headline}_wilson"] = out[headline]
        out[headline] = clustered.where(clustered.notna(), out[headline]) if headline in out else clustered
    return out


def pick(configs: pd.DataFrame, **fields: Any):
    """The first config whose columns equal ``fields`` (``compiled=None``: not compiled, anything else:
    compiled), or None."""
    df = configs
    for name, value in fields.items():
        if name not in df.columns:
            return None
        if name == "compiled":
            df = df[df["compiled"].isna()] if value is None else df[df["compiled"].notna()]
        elif name == "use_sleep":
            df = df[bool_column(df["use_sleep"]) == value]
        else:
            df = df[df[name] == value]
    return df.iloc[0] if len(df) else None
