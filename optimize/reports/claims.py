"""Headline numbers recomputed from committed rows: each claim in ``docs/claims.toml`` names the rows files
behind a sentence of README.md or BENCHMARKS.md, the computation, and the sentence as it appears with
placeholders; :func:`check_claims` recomputes every one and says which sentence no longer matches.

A claim (TOML)::

    [[claim]]
    doc = "BENCHMARKS.md"
    kind = "paired"                        # accuracy | paired | cost
    a = "docs/benchmarks/standard/ours/local-qwen2.5-coder-1.5b/rows/edfce045fa52.jsonl"
    b = "docs/benchmarks/standard/ours/local-qwen2.5-coder-1.5b/rows/17bd34d3c3e3.jsonl"
    text = "sleep {difference:+.1f} points [{ci_low:+.1f}, {ci_high:+.1f}]"

Values in percent or points: ``accuracy`` gives accuracy, ci_low, ci_high, ci_low_template,
ci_high_template, test_tokens (generated), test_tokens_total (prompt too), n, n_contexts, n_templates
of ``a``; ``paired`` gives
:func:`optimize.reports.metrics.paired_bootstrap`'s fields (difference and intervals in points,
accuracy_a/b in %), tokens_a, tokens_b and token_ratio (b's generated test tokens over a's), with
``lenient = "b"`` (or "a", "ab") counting that side's unparsed replies that state the gold number as right;
``cost`` gives cost_a, cost_b and cost_ratio (b over a) per query at ``n`` questions per context and
price ratio ``t``, counting generated tokens (``tokens = "completion"``, the paper's) or prompt tokens too
(``"total"``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
CLAIMS = REPO / "docs" / "claims.toml"
KINDS = ("accuracy", "paired", "cost")


@cache
def _rows(path: str) -> pd.DataFrame:
    file = REPO / path
    if not file.exists():
        raise FileNotFoundError(f"rows file {path} of a claim is not in the repository; commit it or change "
                                "the claim's text to say the number is not recomputable from the repo")
    return pd.read_csv(file) if file.suffix == ".csv" else pd.read_json(file, lines=True)


def compute(claim: dict[str, Any]) -> dict[str, float]:
    """The values a claim's text refers to, recomputed from its rows files.

    Example:
        >>> claim = {"kind": "accuracy", "a": "docs/benchmarks/compiled/1.5b-sleep-v0-handwritten.jsonl"}
        >>> round(compute(claim)["accuracy"], 1)
        29.0
    """
    kind = claim.get("kind")
    if kind not in KINDS:
        raise ValueError(f"claim kind must be one of {KINDS}, got {kind!r}: {claim.get('text')!r}")
    from optimize.reports.metrics import accuracy_intervals, paired_bootstrap, summarize

    a = _rows(claim["a"])
    if kind == "accuracy":
        acc = accuracy_intervals(a)
        return {"accuracy": 100 * acc["accuracy"], "ci_low": 100 * acc["ci_low_context"],
                "ci_high": 100 * acc["ci_high_context"], "ci_low_template": 100 * acc["ci_low_template"],
                "ci_high_template": 100 * acc["ci_high_template"], "n": acc["n"],
                "n_contexts": acc["n_contexts"], "n_templates": acc["n_templates"],
                "test_tokens": float(a["test_completion_tokens"].mean()),
                "test_tokens_total": float(a["test_tokens"].mean())}
    b = _rows(claim["b"])
    if kind == "paired":
        lenient = claim.get("lenient", "")
        a, b = (_lenient(a) if "a" in lenient else a), (_lenient(b) if "b" in lenient else b)
        d = paired_bootstrap(a, b)
        values = {k: (100 * v if isinstance(v, float) else v) for k, v in d.items()}
        tokens_a = float(a["test_completion_tokens"].mean())
        tokens_b = float(b["test_completion_tokens"].mean())
        return {**values, "tokens_a": tokens_a, "tokens_b": tokens_b, "token_ratio": tokens_b / tokens_a}
    options = {"questions_per_context": float(claim["n"]), "price_ratio": float(claim.get("t", 10.0)),
               "tokens": claim.get("tokens", "completion")}
    cost_a, cost_b = summarize(a, **options)["cost_per_query"], summarize(b, **options)["cost_per_query"]
    return {"cost_a": cost_a, "cost_b": cost_b, "cost_ratio": cost_b / cost_a}


def _lenient(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with an unparsed reply that states the gold number counted right
    (:func:`optimize.reports.analysis.unparsed_reply_correct`)."""
    from optimize.reports.analysis import unparsed_reply_correct
    from optimize.reports.metrics import as_bool

    right = [as_bool(r["correct"]) or bool(unparsed_reply_correct(r)) for r in rows.to_dict("records")]
    return rows.assign(correct=right)


@dataclass
class ClaimResult:
    """One claim checked: the sentence as recomputed and whether its document still says it.

    Example:
        >>> ClaimResult("README.md", "+6.3 points", found=True).found
        True
    """

    doc: str
    expected: str
    found: bool


def check_claims(path: Path = CLAIMS) -> list[ClaimResult]:
    """Every claim of ``path`` recomputed and looked up in its document."""
    claims = tomllib.loads(path.read_text())["claim"]
    results = []
    for claim in claims:
        text = (REPO / claim["doc"]).read_text()
        expected = claim["text"].format(**compute(claim))
        results.append(ClaimResult(claim["doc"], expected, expected in " ".join(text.split())))
    return results
