"""The selection protocol of ``sleeptime compile --draws N``: the shipped program, chosen before any test row.

A compile is one draw: which train traces an optimizer keeps depends on the order it visits them (and on
its seed), and on the 1.5B three draws of the same optimizer gave +6.3, +0.4 and +8.8 points on the test
split. Picking among draws by their test results makes the shipped number the best of several noisy ones.
So the draws and the hand-written program are all scored on a *selection set* (the whole dev split by
default; never the test split), one rule written here picks, and the record of that choice goes into the
manifest: the rule, every candidate's score with its clustered interval, the selection set's size with the
difference it can detect, and the spread over draws (what one draw gives a user). The test split is run
afterwards on the chosen program only (``sleeptime evaluate --split test --program DIR``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import pandas as pd

from optimize.errors import UserError

SELECTION_SPLITS = ("dev",)
"""Splits a selection may be made on. The test split is refused: it is the one the result is reported on."""

HANDWRITTEN = "hand-written"

SELECTION_RULE = (
    "Fixed before any test row exists. The hand-written program and every draw answer every question of "
    "the selection set (dev split only). Candidates are ranked by accuracy on it (higher first); ties by "
    "mean test completion tokens per question (fewer first); then the hand-written program before any "
    "draw; then the lower draw index. The first-ranked candidate is chosen: a compiled draw ships only when "
    "it is at least as accurate as the hand-written program on these questions (and uses fewer test tokens "
    "when equally accurate); otherwise the hand-written program is the choice."
)


class SelectionError(UserError):
    """A selection that the protocol refuses: on the test split, or on an empty or unlabelled set.

    Example:
        >>> try:
        ...     check_selection_split("test")
        ... except SelectionError as exc:
        ...     print(str(exc)[:52])
        --select-on test is refused: the test split is where
    """


def check_selection_split(split: str) -> str:
    """The split a selection is made on, after refusing every split but ``dev``.

    Example:
        >>> check_selection_split("dev")
        'dev'
    """
    if split == "test":
        raise SelectionError(
            "--select-on test is refused: the test split is where the chosen program's result is reported, "
            "so choosing on it would report the best of several noisy test scores. Select on dev (the "
            "default), then run the chosen program alone: sleeptime evaluate --split test --program DIR")
    if split not in SELECTION_SPLITS:
        raise SelectionError(f"--select-on {split!r} is not a selection split; use one of {SELECTION_SPLITS}")
    return split


def candidate_score(name: str, rows: pd.DataFrame, *, draw: int | None = None, **details: Any) -> dict:
    """One candidate's score on the selection set: accuracy with context- and template-clustered intervals,
    mean test completion tokens, and its draw index (None for the hand-written program).

    Example:
        >>> rows = pd.DataFrame({"question_id": [1, 2, 3, 4], "context_id": ["a", "a", "b", "b"],
        ...                      "correct": [1, 1, 0, 1], "test_completion_tokens": [10, 12, 14, 16]})
        >>> s = candidate_score("draw 0", rows, draw=0)
        >>> s["accuracy"], s["mean_test_tokens"], s["n"], s["n_contexts"]
        (0.75, 13.0, 4, 2)
    """
    from optimize.reports.metrics import accuracy_intervals

    acc = accuracy_intervals(rows)
    tokens = float(rows["test_completion_tokens"].mean()) if "test_completion_tokens" in rows else math.nan
    return {"name": name, "draw": draw, "accuracy": acc["accuracy"],
            "ci_context": [acc["ci_low_context"], acc["ci_high_context"]],
            "ci_template": [acc["ci_low_template"], acc["ci_high_template"]],
            "mean_test_tokens": tokens, "n": acc["n"], "n_contexts": acc["n_contexts"],
            "n_templates": acc["n_templates"], **details}


def rank_key(candidate: dict) -> tuple:
    """The sort key of :data:`SELECTION_RULE`: accuracy (higher first), test tokens (fewer first), the
    hand-written program before draws, then the draw index.

    Example:
        >>> hand = {"accuracy": 0.5, "mean_test_tokens": 10.0, "draw": None}
        >>> tie = {"accuracy": 0.5, "mean_test_tokens": 10.0, "draw": 0}
        >>> better = {"accuracy": 0.6, "mean_test_tokens": 30.0, "draw": 2}
        >>> [c["draw"] for c in sorted([tie, hand, better], key=rank_key)]
        [2, None, 0]
    """
    tokens = candidate["mean_test_tokens"]
    tokens = math.inf if tokens is None or tokens != tokens else tokens
    draw = candidate["draw"]
    return (-candidate["accuracy"], tokens, draw is not None, -1 if draw is None else draw)


def choose(handwritten: dict, draws: Sequence[dict]) -> dict:
    """The candidate :data:`SELECTION_RULE` picks among the hand-written program and the draws.

    Example:
        >>> hand = {"name": "hand-written", "accuracy": 0.9, "mean_test_tokens": 14.0, "draw": None}
        >>> draws = [{"name": "draw 0", "accuracy": 0.8, "mean_test_tokens": 13.0, "draw": 0}]
        >>> choose(hand, draws)["name"]
        'hand-written'
    """
    return sorted([handwritten, *draws], key=rank_key)[0]


def detectable_difference(questions: int, *, questions_per_context: float = 1.0, sd: float | None = None,
                          icc: float | None = None, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest paired accuracy difference a set of ``questions`` detects with the given power: the
    inverse of :func:`optimize.reports.metrics.questions_needed` (same formula, same default sd and ICC).

    Example:
        >>> from optimize.reports.metrics import questions_needed
        >>> d = detectable_difference(238, questions_per_context=3.78)
        >>> round(d, 3), questions_needed(d, questions_per_context=3.78)["questions"] <= 239
        (0.113, True)
    """
    from optimize.reports.metrics import DEFAULT_DIFFERENCE_SD, DEFAULT_ICC

    if questions <= 0:
        return math.nan
    sd = DEFAULT_DIFFERENCE_SD if sd is None else sd
    icc = DEFAULT_ICC if icc is None else icc
    m = max(float(questions_per_context), 1.0)
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return z * sd * math.sqrt((1 + (m - 1) * max(icc, 0.0)) / questions)


def _question_ids_sha256(rows: pd.DataFrame) -> str:
    ids = sorted(rows["question_id"].astype(str)) if "question_id" in rows else []
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def selection_power(handwritten_rows: pd.DataFrame, draw_rows: Sequence[pd.DataFrame]) -> dict:
    """How large a paired difference the selection set can detect (95%, 80% power).

    The per-question sd and intra-context correlation come from the set's own paired differences (every draw
    minus the hand-written program, pooled) when they vary; else the project's defaults.
    """
    from optimize.reports.metrics import DEFAULT_DIFFERENCE_SD, DEFAULT_ICC, pilot_variance, questions_needed

    n = len(handwritten_rows)
    contexts = handwritten_rows["context_id"].nunique() if "context_id" in handwritten_rows else n
    per_context = n / max(contexts, 1)
    differences, labels = [], []
    for rows in draw_rows:
        merged = rows[["question_id", "correct", "context_id"]].merge(
            handwritten_rows[["question_id", "correct"]], on="question_id", suffixes=("", "_hand"))
        differences += (merged["correct"].astype(float) - merged["correct_hand"].astype(float)).tolist()
        labels += merged["context_id"].astype(str).tolist()
    pilot = pilot_variance(differences, labels) if len(differences) > 1 else None
    from_set = pilot is not None and pilot["sd"] > 0
    sd = pilot["sd"] if from_set else DEFAULT_DIFFERENCE_SD
    icc = pilot["icc"] if from_set else DEFAULT_ICC
    detectable = detectable_difference(n, questions_per_context=per_context, sd=sd, icc=icc)
    ten_points = questions_needed(0.10, sd=sd, icc=icc, questions_per_context=per_context)
    return {"detectable_difference": detectable, "alpha": 0.05, "power": 0.8, "sd": sd, "icc": icc,
            "sd_icc_from": "the selection set's paired differences" if from_set else "project defaults",
            "questions_for_10_points": ten_points["questions"],
            "contexts_for_10_points": ten_points["contexts"]}


def _spread(values: Sequence[float]) -> dict:
    values = [float(v) for v in values]
    return {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}


def selection_record(handwritten_rows: pd.DataFrame, draws: Sequence[tuple[pd.DataFrame, dict]], *,
                     split: str = "dev") -> dict:
    """Everything the manifest says about a selection: the rule, the set, every candidate, the choice.

    ``draws`` is ``[(rows on the selection set, details such as seed and train order), ...]`` in draw order.

    Example:
        >>> def rows(correct):
        ...     return pd.DataFrame({"question_id": range(4), "context_id": ["a", "a", "b", "b"],
        ...                          "correct": correct, "test_completion_tokens": [10] * 4})
        >>> draws = [(rows([1, 1, 0, 0]), {}), (rows([1, 1, 1, 1]), {})]
        >>> record = selection_record(rows([1, 1, 1, 0]), draws)
        >>> record["chosen"]["name"], record["set"]["questions"], record["spread_over_draws"]["accuracy"]
        ('draw 1', 4, {'mean': 0.75, 'min': 0.5, 'max': 1.0})
    """
    from optimize.reports.metrics import paired_bootstrap

    check_selection_split(split)
    if len(handwritten_rows) == 0:
        raise SelectionError("the selection set is empty: select on a dev split with questions (drop "
                             "--dev-n 0 / --dev-contexts, or use a dataset with a dev split)")
    hand = candidate_score(HANDWRITTEN, handwritten_rows)
    scored = []
    for index, (rows, details) in enumerate(draws):
        score = candidate_score(f"draw {index}", rows, draw=index, **details)
        paired = paired_bootstrap(rows, handwritten_rows)
        score["minus_handwritten"] = {"points": 100 * paired["difference"],
                                      "ci_context": [100 * paired["ci_low"], 100 * paired["ci_high"]],
                                      "ci_template": [100 * paired["ci_low_template"],
                                                      100 * paired["ci_high_template"]]}
        scored.append(score)
    chosen = choose(hand, scored)
    contexts = handwritten_rows["context_id"].nunique() if "context_id" in handwritten_rows else hand["n"]
    templates = handwritten_rows["template_id"].nunique() if "template_id" in handwritten_rows else math.nan
    record = {
        "protocol": "optimize.experiments.selection",
        "under_protocol": True,
        "selected_with_test_results_in_view": False,
        "rule": SELECTION_RULE,
        "split": split,
        "set": {"split": split, "questions": hand["n"], "contexts": int(contexts), "templates": templates,
                "question_ids_sha256": _question_ids_sha256(handwritten_rows)},
        "power": selection_power(handwritten_rows, [rows for rows, _ in draws]),
        "handwritten": hand,
        "draws": scored,
        "chosen": {"name": chosen["name"], "draw": chosen["draw"], "accuracy": chosen["accuracy"],
                   "mean_test_tokens": chosen["mean_test_tokens"]},
        "test_split": "not run by compile: run the chosen program alone (sleeptime evaluate --split test "
                      "--program DIR)",
    }
    if scored:
        record["spread_over_draws"] = {
            "accuracy": _spread([s["accuracy"] for s in scored]),
            "minus_handwritten_points": _spread([s["minus_handwritten"]["points"] for s in scored]),
            "what": "what one draw gives a user: the mean and range over the draws, not the chosen one",
        }
    return record


def format_selection(record: dict) -> str:
    """The selection record as console lines: the rule, each candidate, the choice, power and spread."""
    lines = [f"selection on {record['set']['split']}: {record['set']['questions']} questions, "
             f"{record['set']['contexts']} contexts, {record['set']['templates']} templates",
             f"rule: {record['rule']}"]
    for c in [record["handwritten"], *record["draws"]]:
        low, high = c["ci_context"]
        line = (f"  {c['name']:<13} {100 * c['accuracy']:5.1f}% [{100 * low:.1f}, {100 * high:.1f}] "
                f"{c['mean_test_tokens']:.1f} test tokens")
        if "minus_handwritten" in c:
            d = c["minus_handwritten"]
            low, high = d["ci_context"]
            line += f"; minus hand-written {d['points']:+.1f} [{low:+.1f}, {high:+.1f}]"
        lines.append(line)
    power = record["power"]
    detectable = 100 * power["detectable_difference"]
    lines.append(f"power: this set detects a paired difference of ~{detectable:.1f} points (95%/80%; sd "
                 f"{power['sd']:.2f}, ICC {power['icc']:.2f} from {power['sd_icc_from']})")
    if "spread_over_draws" in record:
        spread = record["spread_over_draws"]["minus_handwritten_points"]
        lines.append(f"spread over draws (minus hand-written): mean {spread['mean']:+.1f}, range "
                     f"[{spread['min']:+.1f}, {spread['max']:+.1f}] points")
    lines.append(f"chosen: {record['chosen']['name']}")
    return "\n".join(lines)
