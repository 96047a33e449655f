"""The one place the paper's numbers are computed from result rows: accuracy with a Wilson interval,
test tokens per question, sleep tokens amortized over the questions that share a context, and cost per
query when a test-time token costs ``price_ratio`` sleep-time tokens.

Token convention (``tokens=``): the paper counts *generated* tokens (``"completion"``, the default);
``"total"`` adds prompt tokens (each test prompt re-reads the context and the learned context).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

Z_95 = 1.959963984540054
TOKEN_KINDS = ("completion", "total")


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Example:
        >>> [round(x, 4) for x in wilson_interval(8, 10)]
        [0.4902, 0.9433]
    """
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends: no 1e-17 rounding residue
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def mean_interval(values, z: float = Z_95) -> tuple[float, float, float]:
    """Mean and the normal 95% interval of the mean (NaN interval for fewer than two values).

    Example:
        >>> [round(x, 3) for x in mean_interval([1.0, 2.0, 3.0])]
        [2.0, 0.868, 3.132]
    """
    values = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not values:
        return (math.nan, math.nan, math.nan)
    mean = sum(values) / len(values)
    if len(values) < 2:
        return (mean, math.nan, math.nan)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = z * sd / math.sqrt(len(values))
    return (mean, mean - half, mean + half)


def _columns(tokens: str) -> tuple[str, str]:
    if tokens == "completion":
        return "test_completion_tokens", "sleep_completion_tokens"
    if tokens == "total":
        return "test_tokens", "sleep_tokens"
    raise ValueError(f"tokens must be one of {TOKEN_KINDS}, got {tokens!r}")


def is_failed_row(row) -> bool:
    """One row (a dict) of :func:`failed_rows`: its LM call failed; an unparseable reply is not a failure."""
    return bool(row.get("error")) and not as_bool(row.get("parse_error"))


def failed_rows(df: pd.DataFrame) -> pd.Series:
    """Rows whose LM call failed (after retries): an error that is not a parse failure.

    A reply the adapter could not parse was answered: it is scored wrong and counted in its own
    ``parse_error`` column (retrying it under greedy decoding would only repeat it), never as a failed row.
    """
    if "error" not in df:
        return pd.Series(False, index=df.index)
    failed = df["error"].notna()
    if "parse_error" in df:
        failed &= ~df["parse_error"].map(as_bool)
    return failed


def summarize(df: pd.DataFrame, *, questions_per_context: float | None = None, price_ratio: float = 10.0,
              tokens: str = "completion") -> dict:
    """Accuracy, tokens and cost of one evaluation (rows from :func:`optimize.experiments.evaluate.evaluate`).

    ``sleep_tokens_per_context`` is the mean over contexts of what their learned context cost;
    ``mean_sleep_tokens_amortized`` divides it by N = ``questions_per_context`` (default: the observed
    questions per context); ``cost_per_query = price_ratio * mean_test_tokens + amortized sleep tokens``,
    in sleep-token units.

    Example:
        >>> rows = pd.DataFrame({"context_id": ["a", "a", "b", "b"], "correct": [True, True, False, True],
        ...     "error": [None] * 4, "test_completion_tokens": [10, 20, 30, 40], "sleep_completion_tokens":
        ...     [100, 100, 300, 300], "test_seconds": [1.0] * 4})
        >>> s = summarize(rows)
        >>> s["accuracy"], s["mean_test_tokens"], s["mean_sleep_tokens_amortized"], s["cost_per_query"]
        (0.75, 25.0, 100.0, 350.0)
    """
    if price_ratio < 0:
        raise ValueError(f"price_ratio must be >= 0 (a test token's cost in sleep tokens), got {price_ratio}")
    test_col, sleep_col = _columns(tokens)
    n = len(df)
    if n == 0:
        return {"n": 0, "accuracy": math.nan, "accuracy_ci_low": math.nan, "accuracy_ci_high": math.nan,
                "mean_test_tokens": math.nan, "mean_sleep_tokens_amortized": math.nan,
                "sleep_tokens_per_context": math.nan, "questions_per_context": math.nan,
                "cost_per_query": math.nan, "errors": 0, "mean_test_seconds": math.nan,
                "tokens": tokens, "price_ratio": price_ratio}
    correct = int(df["correct"].map(as_bool).sum())
    low, high = wilson_interval(correct, n)
    contexts = df["context_id"].nunique() if "context_id" in df else n
    observed_n = n / max(contexts, 1)
    per_question_n = float(questions_per_context) if questions_per_context else observed_n
    if per_question_n <= 0:
        raise ValueError(f"questions_per_context must be positive, got {questions_per_context}")
    if sleep_col in df and "context_id" in df:
        sleep_per_context = float(df.groupby("context_id")[sleep_col].max().mean())
    else:
        sleep_per_context = 0.0
    mean_test = float(df[test_col].mean()) if test_col in df else 0.0
    amortized = sleep_per_context / per_question_n
    errors = int(failed_rows(df).sum())
    return {
        "n": n,
        "accuracy": correct / n,
        "accuracy_ci_low": low,
        "accuracy_ci_high": high,
        "mean_test_tokens": mean_test,
        "mean_sleep_tokens_amortized": amortized,
        "sleep_tokens_per_context": sleep_per_context,
        "questions_per_context": per_question_n,
        "cost_per_query": price_ratio * mean_test + amortized,
        "errors": errors,
        "mean_test_seconds": float(df["test_seconds"].mean()) if "test_seconds" in df else math.nan,
        "tokens": tokens,
        "price_ratio": price_ratio,
    }


def paired_difference(df_a: pd.DataFrame, df_b: pd.DataFrame, *, key: str = "question_id",
                      z: float = Z_95) -> dict:
    """Accuracy of A minus accuracy of B on the questions both answered, with a paired 95% CI.

    The interval is the normal interval of the mean per-question difference (each in {-1, 0, 1}).

    Example:
        >>> a = pd.DataFrame({"question_id": [1, 2, 3, 4], "correct": [True, True, True, False]})
        >>> b = pd.DataFrame({"question_id": [1, 2, 3, 4], "correct": [True, False, False, False]})
        >>> d = paired_difference(a, b)
        >>> d["n"], d["difference"], d["a_only"], d["b_only"]
        (4, 0.5, 2, 0)
    """
    merged = df_a[[key, "correct"]].merge(df_b[[key, "correct"]], on=key, suffixes=("_a", "_b"))
    n = len(merged)
    if n == 0:
        raise ValueError(f"the two results share no {key}; evaluate both on the same questions")
    diffs = merged["correct_a"].map(as_bool).astype(int) - merged["correct_b"].map(as_bool).astype(int)
    mean, low, high = mean_interval(diffs.tolist(), z)
    return {
        "n": n,
        "accuracy_a": float(merged["correct_a"].map(as_bool).mean()),
        "accuracy_b": float(merged["correct_b"].map(as_bool).mean()),
        "difference": mean,
        "ci_low": low,
        "ci_high": high,
        "a_only": int((diffs == 1).sum()),
        "b_only": int((diffs == -1).sum()),
    }


# -- clustered intervals --------------------------------------------------------------------------------
# Questions that share a context (and contexts that share a template) are not independent: a bootstrap that
# resamples questions one by one understates the uncertainty. These resample whole clusters instead.
BOOTSTRAP_RESAMPLES = 4000
CLUSTER_LEVELS = ("context", "template")


def _codes(labels) -> tuple[np.ndarray, int]:
    # Every label, a missing one too, is a cluster of its own: str() first, so NaN/None never become
    # pandas' NA (factorized to -1, which would silently drop their rows).
    values = pd.Series([str(label) for label in labels], dtype=object)
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), len(uniques)


def cluster_bootstrap_means(values, contexts, templates=None, *, n_resamples: int = BOOTSTRAP_RESAMPLES,
                            seed: int = 0) -> np.ndarray:
    """``n_resamples`` bootstrap means of ``values``, resampling whole contexts (one level) or, with
    ``templates``, templates first and then contexts within each drawn template (two levels).

    Each replicate's mean is (sum of the drawn questions' values) / (number of drawn questions), so a
    context with more questions weighs more, as it does in the point estimate. Deterministic for a seed.

    Example:
        >>> means = cluster_bootstrap_means([1, 1, 0, 0], ["a", "a", "b", "b"], n_resamples=1000, seed=1)
        >>> sorted(set(means.round(2).tolist()))   # a replicate draws {a,a}, {a,b} or {b,b}
        [0.0, 0.5, 1.0]
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError("cluster_bootstrap_means needs a non-empty 1-d list of values")
    context_codes, n_contexts = _codes(contexts)
    if len(context_codes) != len(x):
        raise ValueError(f"{len(x)} values but {len(context_codes)} context labels; pass one label per value")
    sums = np.bincount(context_codes, weights=x, minlength=n_contexts)
    counts = np.bincount(context_codes, minlength=n_contexts).astype(float)
    rng = np.random.default_rng(seed)
    if templates is None:
        drawn = rng.integers(0, n_contexts, size=(n_resamples, n_contexts))
        return sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    template_codes, n_templates = _codes(templates)
    if len(template_codes) != len(x):
        raise ValueError(f"{len(x)} values but {len(template_codes)} template labels; one label per value")
    # The contexts of each template, padded to a rectangle (-1 = no context).
    owner = np.full(n_contexts, -1)
    owner[context_codes] = template_codes
    # A context id that appears under two templates belongs to the last one; a template left with no
    # context of its own is not a cluster to draw.
    per_template = [c for c in (np.flatnonzero(owner == t) for t in range(n_templates)) if len(c)]
    n_templates = len(per_template)
    width = max(len(c) for c in per_template)
    table = np.full((n_templates, width), 0)
    sizes = np.array([len(c) for c in per_template])
    for t, members in enumerate(per_template):
        table[t, : len(members)] = members
    chosen = rng.integers(0, n_templates, size=(n_resamples, n_templates))  # templates, with replacement
    chosen_sizes = sizes[chosen]
    picks = np.floor(rng.random((n_resamples, n_templates, width)) * chosen_sizes[..., None]).astype(np.int64)
    drawn = table[chosen[..., None], picks]  # contexts within each drawn template, with replacement
    used = np.arange(width)[None, None, :] < chosen_sizes[..., None]
    return (sums[drawn] * used).sum(axis=(1, 2)) / (counts[drawn] * used).sum(axis=(1, 2))


def cluster_interval(values, contexts, templates=None, *, confidence: float = 0.95,
                     n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """Mean of ``values`` with a percentile bootstrap interval clustered by context (or by template, then
    context, when ``templates`` is given); also the number of values, contexts and templates behind it.

    Example:
        >>> r = cluster_interval([1, 0, 1, 1, 0, 1], ["a", "a", "b", "b", "c", "c"], seed=0)
        >>> r["mean"], r["n"], r["n_contexts"], r["low"] < r["mean"] < r["high"]
        (0.6666666666666666, 6, 3, True)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0, "n_contexts": 0,
                "n_templates": 0}
    means = cluster_bootstrap_means(x, contexts, templates, n_resamples=n_resamples, seed=seed)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {"mean": float(x.mean()), "low": float(low), "high": float(high), "n": int(len(x)),
            "n_contexts": _codes(contexts)[1],
            "n_templates": _codes(templates)[1] if templates is not None else math.nan}


def _labels(df: pd.DataFrame, column: str) -> list:
    return df[column].astype(str).tolist() if column in df else df.index.astype(str).tolist()


def accuracy_intervals(rows: pd.DataFrame, *, seed: int = 0, n_resamples: int = BOOTSTRAP_RESAMPLES,
                       confidence: float = 0.95) -> dict:
    """Accuracy of evaluate rows with its context-clustered and template-clustered bootstrap intervals.

    A row without ``context_id`` is its own context; without ``template_id`` the template interval equals
    the context one.

    Example:
        >>> rows = pd.DataFrame({"context_id": ["a", "a", "b", "b"], "template_id": ["t", "t", "u", "u"],
        ...                      "correct": [True, True, False, True]})
        >>> r = accuracy_intervals(rows)
        >>> r["accuracy"], r["n"], r["n_contexts"], r["n_templates"]
        (0.75, 4, 2, 2)
    """
    if len(rows) == 0:
        return {"accuracy": math.nan, "ci_low_context": math.nan, "ci_high_context": math.nan,
                "ci_low_template": math.nan, "ci_high_template": math.nan, "n": 0, "n_contexts": 0,
                "n_templates": 0}
    correct = rows["correct"].map(as_bool).astype(float).to_numpy()
    contexts = _labels(rows, "context_id")
    templates = _labels(rows, "template_id") if "template_id" in rows else contexts
    options = {"seed": seed, "n_resamples": n_resamples, "confidence": confidence}
    by_context = cluster_interval(correct, contexts, **options)
    by_template = cluster_interval(correct, contexts, templates, **options)
    return {"accuracy": by_context["mean"], "ci_low_context": by_context["low"],
            "ci_high_context": by_context["high"], "ci_low_template": by_template["low"],
            "ci_high_template": by_template["high"], "n": by_context["n"],
            "n_contexts": by_context["n_contexts"], "n_templates": by_template["n_templates"]}


class UnmatchedQuestionsError(ValueError):
    """Two runs to be paired did not answer the same questions (see :func:`paired_bootstrap`)."""


UNMATCHED_POLICIES = ("refuse", "report")


def paired_bootstrap(df_a: pd.DataFrame, df_b: pd.DataFrame, *, key: str = "question_id", seed: int = 0,
                     n_resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = 0.95,
                     unmatched: str = "refuse") -> dict:
    """Accuracy of A minus accuracy of B on the same questions, with intervals from a bootstrap that
    resamples contexts (``ci_low``/``ci_high``) and templates then contexts (``*_template``).

    ``significant`` is True only when the context-clustered paired interval excludes zero
    (``significant_template`` the same for the template-clustered one). A question only one run answered
    cannot be paired: by default (``unmatched="refuse"``) that raises :class:`UnmatchedQuestionsError`
    naming the counts; ``unmatched="report"`` pairs the shared questions and returns how many of each run's
    were left out (``unmatched_a``, ``unmatched_b``; always present, 0 when the runs match), for callers
    that print them.

    Example:
        >>> a = pd.DataFrame({"question_id": [1, 2, 3, 4], "context_id": ["x", "x", "y", "y"],
        ...                   "correct": [True, True, True, False]})
        >>> b = a.assign(correct=[False, False, True, False])
        >>> d = paired_bootstrap(a, b)
        >>> d["n"], d["difference"], d["n_contexts"], d["significant"], d["unmatched_a"]
        (4, 0.5, 2, False, 0)
        >>> paired_bootstrap(a, b.iloc[:3], unmatched="report")["unmatched_a"]
        1
    """
    if unmatched not in UNMATCHED_POLICIES:
        raise ValueError(f"unmatched must be one of {UNMATCHED_POLICIES}, got {unmatched!r}")
    ids_a, ids_b = set(df_a[key]), set(df_b[key])
    only_a, only_b = ids_a - ids_b, ids_b - ids_a
    if not ids_a & ids_b:
        raise ValueError(f"the two results share no {key}; evaluate both on the same questions")
    if (only_a or only_b) and unmatched == "refuse":
        example = sorted(map(str, only_a or only_b))[:3]
        raise UnmatchedQuestionsError(
            f"cannot pair the runs: A answered {len(ids_a)} questions and B {len(ids_b)}; "
            f"{len(only_a)} of A's are not in B and {len(only_b)} of B's not in A (e.g. {key} "
            f"{', '.join(example)}). Run both on the same questions (repeat the run that is missing some: "
            "finished rows are kept), or pair only the shared ones with unmatched='report' and print its "
            "unmatched_a / unmatched_b")
    keep = [c for c in (key, "correct", "context_id", "template_id") if c in df_a.columns]
    merged = df_a[keep].merge(df_b[[key, "correct"]], on=key, suffixes=("_a", "_b"))
    a = merged["correct_a"].map(as_bool).astype(float).to_numpy()
    b = merged["correct_b"].map(as_bool).astype(float).to_numpy()
    contexts = _labels(merged, "context_id") if "context_id" in merged else merged[key].astype(str).tolist()
    templates = _labels(merged, "template_id") if "template_id" in merged else contexts
    options = {"seed": seed, "n_resamples": n_resamples, "confidence": confidence}
    by_context = cluster_interval(a - b, contexts, **options)
    by_template = cluster_interval(a - b, contexts, templates, **options)
    return {
        "n": int(len(merged)),
        "n_contexts": by_context["n_contexts"],
        "n_templates": by_template["n_templates"],
        "accuracy_a": float(a.mean()),
        "accuracy_b": float(b.mean()),
        "difference": by_context["mean"],
        "ci_low": by_context["low"],
        "ci_high": by_context["high"],
        "ci_low_template": by_template["low"],
        "ci_high_template": by_template["high"],
        "significant": excludes_zero(by_context["low"], by_context["high"]),
        "significant_template": excludes_zero(by_template["low"], by_template["high"]),
        "a_only": int(((a - b) == 1).sum()),
        "b_only": int(((a - b) == -1).sum()),
        "unmatched_a": len(only_a),
        "unmatched_b": len(only_b),
    }


def excludes_zero(low: float, high: float) -> bool:
    """True when an interval lies entirely above or below zero (NaN ends: False)."""
    return bool(low > 0 or high < 0) if not (math.isnan(low) or math.isnan(high)) else False


# -- power: how many questions can decide a difference ------------------------------------------------------
DEFAULT_DIFFERENCE_SD = 0.55  # per-question sd of a paired 0/1 difference with ~30% discordant answers
DEFAULT_ICC = 0.1  # intra-context correlation of those differences (a prior until a pilot says otherwise)


def questions_needed(difference: float, *, sd: float = DEFAULT_DIFFERENCE_SD, icc: float = DEFAULT_ICC,
                     questions_per_context: float = 1.0, alpha: float = 0.05, power: float = 0.8) -> dict:
    """Questions (and contexts) needed to detect a paired accuracy ``difference`` with a two-sided test at
    level ``alpha`` and the given ``power``, when per-question differences have standard deviation ``sd``
    and questions of one context correlate by ``icc`` (design effect ``1 + (m - 1) icc``).

    n = (z_{1-alpha/2} + z_{power})^2 * sd^2 * design_effect / difference^2.

    Example:
        >>> r = questions_needed(0.1, sd=0.5, icc=0.0)
        >>> r["questions"], r["contexts"]
        (197, 197)
        >>> questions_needed(0.1, sd=0.5, icc=0.2, questions_per_context=4)["questions"]
        314
    """
    if not difference or difference <= 0:
        raise ValueError(f"difference must be a positive accuracy difference (e.g. 0.1), got {difference}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must be between 0 and 1, got {alpha} and {power}")
    m = max(float(questions_per_context), 1.0)
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    design = 1 + (m - 1) * max(icc, 0.0)
    questions = math.ceil(z * z * sd * sd * design / (difference * difference))
    return {"difference": difference, "questions": questions, "contexts": math.ceil(questions / m),
            "sd": sd, "icc": icc, "design_effect": design, "questions_per_context": m, "alpha": alpha,
            "power": power}


def pilot_variance(differences, contexts) -> dict:
    """Per-question sd and intra-context correlation (ICC, one-way ANOVA estimator) of paired differences
    from a pilot run, for :func:`questions_needed`.

    Example:
        >>> r = pilot_variance([1, 1, 0, 0, 1, 0], ["a", "a", "b", "b", "c", "c"])
        >>> round(r["sd"], 3), r["icc"] > 0
        (0.548, True)
    """
    x = np.asarray(differences, dtype=float)
    codes, k = _codes(contexts)
    n = len(x)
    sd = float(x.std(ddof=1)) if n > 1 else DEFAULT_DIFFERENCE_SD
    if k < 2 or n <= k:
        return {"sd": sd, "icc": DEFAULT_ICC, "n": n, "n_contexts": k}
    sizes = np.bincount(codes, minlength=k).astype(float)
    means = np.bincount(codes, weights=x, minlength=k) / sizes
    between = float((sizes * (means - x.mean()) ** 2).sum() / (k - 1))
    within = float(((x - means[codes]) ** 2).sum() / (n - k))
    m0 = (n - (sizes**2).sum() / n) / (k - 1)
    icc = (between - within) / (between + (m0 - 1) * within) if between + (m0 - 1) * within > 0 else 0.0
    return {"sd": sd, "icc": float(min(max(icc, 0.0), 1.0)), "n": n, "n_contexts": k}


def format_power(estimate: dict, *, available: int | None = None) -> str:
    """One line for the console: how many questions the difference needs, and whether the run has them."""
    line = (f"power: detecting a {100 * estimate['difference']:.0f}-point paired difference at 95%/"
            f"{100 * estimate['power']:.0f}% needs ~{estimate['questions']} questions "
            f"(~{estimate['contexts']} contexts; sd {estimate['sd']:.2f}, ICC {estimate['icc']:.2f}, design "
            f"effect {estimate['design_effect']:.2f})")
    if available is not None:
        line += f"; this run has {available}" + (" (enough)" if available >= estimate["questions"] else
                                                   " (too few to decide a difference that small)")
    return line


def as_bool(value) -> bool:
    """The one reading of a boolean cell (CSV text, JSON, numpy): True for true/1/1.0/yes, else False.

    Example:
        >>> [as_bool(v) for v in (True, "True", "true", 1, 1.0, "1.0", "yes", 0, 0.0, "False", None,
        ...                       float("nan"), "")]
        [True, True, True, True, True, True, True, False, False, False, False, False, False]
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return not math.isnan(float(value)) and float(value) != 0.0
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in ("true", "yes", "y", "t"):
        return True
    try:
        number = float(text)
    except ValueError:
        return False
    return not math.isnan(number) and number != 0.0


def answer_changes(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, Any]:
    """Two runs on the same questions: how many extracted answers differ, how many of those changed between
    right and wrong (each way), and ``a`` minus ``b`` in accuracy with its context-clustered interval.

    Example:
        >>> a = pd.DataFrame({"question_id": [1, 2, 3, 4], "context_id": ["x", "x", "y", "y"],
        ...                   "extracted": [3.0, 5.0, 7.0, None], "correct": [True, False, False, False]})
        >>> b = a.assign(extracted=[3.0, 6.0, 8.0, None], correct=[True, False, True, False])
        >>> r = answer_changes(a, b)
        >>> r["n"], r["answers_changed"], r["correctness_changed"], r["a_only"], r["b_only"]
        (4, 2, 1, 0, 1)
    """
    merged = a[["question_id", "extracted", "correct"]].merge(
        b[["question_id", "extracted", "correct"]], on="question_id", suffixes=("_a", "_b"))
    answer_a = merged["extracted_a"].map(_answer)
    answer_b = merged["extracted_b"].map(_answer)
    right_a, right_b = merged["correct_a"].map(as_bool), merged["correct_b"].map(as_bool)
    paired = paired_bootstrap(a, b)
    return {"n": int(len(merged)), "answers_changed": int((answer_a != answer_b).sum()),
            "correctness_changed": int((right_a != right_b).sum()), "a_only": int((right_a & ~right_b).sum()),
            "b_only": int((right_b & ~right_a).sum()), "difference": paired["difference"],
            "ci_low": paired["ci_low"], "ci_high": paired["ci_high"]}


def _answer(value: Any) -> str:
    """An extracted answer as comparable text: a missing one is "none" (so two missing answers agree)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "none"
    return "none" if number != number else repr(number)
