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

A rows path may end in ``#column=value`` to keep one run of a file that holds several (the demo's
``rows.csv``, by ``config_id``). Values in percent or points: ``accuracy`` gives accuracy, ci_low, ci_high,
ci_low_template, ci_high_template, test_tokens (generated), test_tokens_total (prompt too), n, n_contexts,
n_templates and coverage (the share of questions whose notes state the gold number) of ``a``; ``paired`` gives
:func:`optimize.reports.metrics.paired_bootstrap`'s fields (difference and intervals in points, accuracy_a/b
in %), tokens_a, tokens_b and token_ratio (b's generated test tokens over a's), sleep_tokens_a/b (generated
per context) and sleep_ratio (a's over b's), with ``lenient = "b"`` (or "a", "ab") counting that side's
unparsed replies that state the gold number as right, and with ``family = m`` the family-wise (Bonferroni)
intervals of one comparison among m with the same baseline (each at 1 - 0.05/m); ``predictability`` gives
<label>_difference, _ci_low, _ci_high (points) and _n of a minus b per predictability label, pooled over pairs
when ``a`` and ``b`` are lists; ``latency`` (``a``, ``b``: ledger calls files) gives seconds_a, seconds_b and
a minus b paired (difference, ci_low, ci_high, in seconds); ``search`` (``a``: a ``q6_search.csv``) gives
search_configs, found, search_to_5 and grid_to_5; ``table`` gives the columns of the one line of CSV ``a``
matching ``where`` (a table, not rows: say so in the claim's comment); ``answers``
(:func:`optimize.reports.metrics.answer_changes`) gives, over the questions both runs answered, n,
answers_changed and answers_same (extracted answers that differ / agree), correctness_changed (right<->wrong),
a_only and b_only (right in one run only) and a minus b (difference, ci_low, ci_high, in points); ``cost``
gives cost_a, cost_b and cost_ratio (b over a) per query at ``n`` questions per context and price ratio ``t``,
counting generated tokens (``tokens = "completion"``, the paper's) or prompt tokens too
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
KINDS = ("accuracy", "paired", "cost", "answers", "predictability", "latency", "search", "table")


def _rows(path: str) -> pd.DataFrame:
    """The rows of ``path``; ``file#column=value`` keeps the rows of one run in a file holding several (the
    demo's ``rows.csv`` holds every configuration, told apart by ``config_id``)."""
    file, _, selector = path.partition("#")
    rows = _file_rows(file)
    if not selector:
        return rows
    column, _, value = selector.partition("=")
    if column not in rows.columns:
        raise ValueError(f"claim rows {path}: {file} has no column {column!r}; columns: {list(rows.columns)}")
    kept = rows[rows[column].astype(str) == value]
    if kept.empty:
        raise ValueError(f"claim rows {path}: no row of {file} has {column} = {value!r}")
    return kept.reset_index(drop=True)


@cache
def _file_rows(path: str) -> pd.DataFrame:
    file = REPO / path
    if not file.exists():
        raise FileNotFoundError(f"rows file {path} of a claim is not in the repository; commit it or change "
                                "the claim's text to say the number is not recomputable from the repo")
    if file.suffix == ".csv":
        return pd.read_csv(file)
    from optimize.reports.rows import read_results

    return pd.DataFrame(read_results(file))


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
    from optimize.reports.coverage import covered_reading, notes_coverage
    from optimize.reports.metrics import accuracy_intervals, answer_changes, paired_bootstrap, summarize

    if kind == "predictability":
        return _predictability(claim)
    if kind == "latency":
        return _latency(claim)
    if kind == "search":
        return _search(claim)
    if kind == "table":
        return _table(claim)
    a = _rows(claim["a"])
    if kind == "accuracy":
        acc = accuracy_intervals(a)
        return {"accuracy": 100 * acc["accuracy"], "ci_low": 100 * acc["ci_low_context"],
                "ci_high": 100 * acc["ci_high_context"], "ci_low_template": 100 * acc["ci_low_template"],
                "ci_high_template": 100 * acc["ci_high_template"], "n": acc["n"],
                "n_contexts": acc["n_contexts"], "n_templates": acc["n_templates"],
                "test_tokens": float(a["test_completion_tokens"].mean()),
                "test_tokens_total": float(a["test_tokens"].mean()),
                "coverage": 100 * notes_coverage(a), **covered_reading(a)}
    b = _rows(claim["b"])
    if kind == "answers":
        changes = answer_changes(a, b)
        return {**changes, "answers_same": changes["n"] - changes["answers_changed"],
                **{k: 100 * changes[k] for k in ("difference", "ci_low", "ci_high")}}
    if kind == "paired":
        lenient = claim.get("lenient", "")
        a, b = (_lenient(a) if "a" in lenient else a), (_lenient(b) if "b" in lenient else b)
        d = paired_bootstrap(a, b, confidence=1 - 0.05 / int(claim.get("family", 1)))
        values = {k: (100 * v if isinstance(v, float) else v) for k, v in d.items()}
        tokens_a = float(a["test_completion_tokens"].mean())
        tokens_b = float(b["test_completion_tokens"].mean())
        sleep_a, sleep_b = (summarize(rows)["sleep_tokens_per_context"] for rows in (a, b))
        return {**values, "tokens_a": tokens_a, "tokens_b": tokens_b, "token_ratio": tokens_b / tokens_a,
                "sleep_tokens_a": sleep_a, "sleep_tokens_b": sleep_b,
                "sleep_ratio": sleep_a / sleep_b if sleep_b else float("nan")}
    options = {"questions_per_context": float(claim["n"]), "price_ratio": float(claim.get("t", 10.0)),
               "tokens": claim.get("tokens", "completion")}
    cost_a, cost_b = summarize(a, **options)["cost_per_query"], summarize(b, **options)["cost_per_query"]
    return {"cost_a": cost_a, "cost_b": cost_b, "cost_ratio": cost_b / cost_a}


def _pairs(claim: dict[str, Any]) -> list[tuple[str, str]]:
    a, b = claim["a"], claim["b"]
    return list(zip([a] if isinstance(a, str) else a, [b] if isinstance(b, str) else b, strict=True))


def _predictability(claim: dict[str, Any]) -> dict[str, float]:
    """``a`` minus ``b`` per predictability label (:func:`optimize.reports.analysis.predictability_gap`),
    pooled over several pairs when ``a`` and ``b`` are lists (a question counts once per pair, in its
    context cluster): ``<label>_difference``, ``<label>_ci_low``, ``<label>_ci_high``, ``<label>_n``."""
    from optimize.reports.analysis import predictability_gap

    sleep, test = [], []
    for index, (a, b) in enumerate(_pairs(claim)):
        for frames, path in ((sleep, a), (test, b)):
            rows = _rows(path)
            frames.append(rows.assign(question_id=rows["question_id"].astype(str) + f"@{index}"))
    gap = predictability_gap(pd.concat(sleep), pd.concat(test))
    values: dict[str, float] = {}
    for r in gap.to_dict("records"):
        label = r["predictability"]
        values |= {f"{label}_{k}": 100 * r[k] for k in ("difference", "ci_low", "ci_high")}
        values[f"{label}_n"] = r["n"]
    return values


def _latency(claim: dict[str, Any]) -> dict[str, float]:
    """Question 7 from two timed runs' ledger calls (``<rows>-calls.jsonl``): mean test seconds per question
    of each (``seconds_a``, ``seconds_b``) and ``a`` minus ``b`` paired by question with its 95% interval
    (the benchmark's question 7 computes the same: a mean with a normal 95% interval)."""
    from optimize.reports.metrics import mean_interval

    seconds = []
    for path in (claim["a"], claim["b"]):
        calls = _rows(path).to_dict("records")
        seconds.append({r["question_id"]: sum(c["seconds"] for c in r["calls"] if c["phase"] == "test")
                        for r in calls})
    shared = sorted(set(seconds[0]) & set(seconds[1]))
    difference, low, high = mean_interval([seconds[0][q] - seconds[1][q] for q in shared])
    return {"seconds_a": mean_interval(list(seconds[0].values()))[0],
            "seconds_b": mean_interval(list(seconds[1].values()))[0], "n": len(shared),
            "difference": difference, "ci_low": low, "ci_high": high}


def _search(claim: dict[str, Any]) -> dict[str, float]:
    """Question 6 from a committed ``q6_search.csv`` (its accuracies and tokens are its rows' means):
    distinct search configurations, how many the search found off the grid's front, and after how many
    configurations each origin came within 5% of the best known hypervolume
    (:func:`optimize.reports.analysis.hypervolume_race`)."""
    from optimize.reports.analysis import hypervolume_race
    from optimize.reports.metrics import as_bool

    table = _rows(claim["a"])
    race = hypervolume_race(table).set_index("origin")
    search = table[table["origin"] == "search"]
    return {"search_configs": len(search), "found": int(table["found_by_search_only"].map(as_bool).sum()),
            "search_to_5": race.loc["search", "configs_to_within_5%"],
            "grid_to_5": race.loc["grid", "configs_to_within_5%"]}


def _table(claim: dict[str, Any]) -> dict[str, float]:
    """Every column of the one line of committed table ``a`` (CSV) whose columns equal ``where``: for numbers
    a run wrote as a table whose per-question rows are kept elsewhere or not at all (the claim's comment
    says which)."""
    table = _rows(claim["a"])
    for column, value in claim.get("where", {}).items():
        table = table[table[column].astype(str) == str(value)]
    if len(table) != 1:
        raise ValueError(f"claim {claim.get('text')!r}: {len(table)} lines of {claim['a']} match "
                         f"{claim.get('where')}, need exactly one")
    return {str(k): v for k, v in table.iloc[0].to_dict().items()}


def _lenient(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` read leniently (:func:`optimize.reports.analysis.lenient_correct`)."""
    from optimize.reports.analysis import lenient_correct

    return rows.assign(correct=lenient_correct(rows))


@dataclass
class ClaimResult:
    """One claim checked: the sentence as recomputed, whether its document still says it, and the committed
    files it is computed from.

    Example:
        >>> ClaimResult("README.md", "+6.3 points", found=True).found
        True
    """

    doc: str
    expected: str
    found: bool
    files: tuple[str, ...] = ()


def _files(claim: dict[str, Any]) -> tuple[str, ...]:
    named = []
    for side in ("a", "b"):
        value = claim.get(side)
        named += value if isinstance(value, list) else [value] if value else []
    return tuple(dict.fromkeys(name.partition("#")[0] for name in named))


def check_claims(path: Path = CLAIMS) -> list[ClaimResult]:
    """Every claim of ``path`` recomputed and looked up in its document."""
    try:
        claims = tomllib.loads(path.read_text(encoding="utf-8")).get("claim", [])
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML ({exc}); fix that line") from exc
    results = []
    for number, claim in enumerate(claims, start=1):
        missing = [key for key in ("doc", "kind", "text", "a") if key not in claim]
        if missing:
            raise ValueError(f"{path}: claim {number} has no {', '.join(missing)}; every [[claim]] names its "
                             "doc, kind, text and rows file a (see optimize/reports/claims.py)")
        text = (REPO / claim["doc"]).read_text()
        expected = claim["text"].format(**compute(claim))
        results.append(ClaimResult(claim["doc"], expected, expected in " ".join(text.split()), _files(claim)))
    return results


def sources_markdown(results: list[ClaimResult]) -> str:
    """Every checked sentence under its document, each with the committed files it is computed from.

    Example:
        >>> print(sources_markdown([ClaimResult("README.md", "+6.3 points", True, ("rows.jsonl",))]))
        ## README.md (1 claims)
        <BLANKLINE>
        - "+6.3 points" <- `rows.jsonl`
    """
    lines: list[str] = []
    for doc in dict.fromkeys(result.doc for result in results):
        mine = [result for result in results if result.doc == doc]
        lines += ([""] if lines else []) + [f"## {doc} ({len(mine)} claims)", ""]
        for result in mine:
            mark = "" if result.found else " **(no longer in the document)**"
            files = ", ".join(f"`{name}`" for name in result.files)
            lines.append(f'- "{result.expected}"{mark} <- {files}')
    return "\n".join(lines)
