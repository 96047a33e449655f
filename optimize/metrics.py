"""The one place the paper's numbers are computed from result rows: accuracy with a Wilson interval,
test tokens per question, sleep tokens amortized over the questions that share a context, and cost per
query when a test-time token costs ``price_ratio`` sleep-time tokens.

Token convention (``tokens=``): the paper counts *generated* tokens (``"completion"``, the default);
``"total"`` adds prompt tokens (each test prompt re-reads the context and the learned context).
"""

from __future__ import annotations

import math

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


def summarize(df: pd.DataFrame, *, questions_per_context: float | None = None, price_ratio: float = 10.0,
              tokens: str = "completion") -> dict:
    """Accuracy, tokens and cost of one evaluation (rows from :func:`optimize.evaluate.evaluate`).

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
    correct = int(df["correct"].astype(bool).sum())
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
    errors = int(df["error"].notna().sum()) if "error" in df else 0
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
    diffs = merged["correct_a"].astype(int) - merged["correct_b"].astype(int)
    mean, low, high = mean_interval(diffs.tolist(), z)
    return {
        "n": n,
        "accuracy_a": float(merged["correct_a"].astype(bool).mean()),
        "accuracy_b": float(merged["correct_b"].astype(bool).mean()),
        "difference": mean,
        "ci_low": low,
        "ci_high": high,
        "a_only": int((diffs == 1).sum()),
        "b_only": int((diffs == -1).sum()),
    }
