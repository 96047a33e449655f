"""Before a run: the expected wall time (from the models' measured speeds and token shapes) and the power
estimate (how many questions the run needs to decide a difference of a given size).

Example:
    >>> from optimize.bench.presets import PRESETS
    >>> parts = estimate_seconds(PRESETS["quick"], ["local:qwen2.5-coder-0.5b"], "local:qwen2.5-coder-1.5b",
    ...                          n_questions=11, n_contexts=3)
    >>> 0 < parts["total"] < 3600
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from optimize.bench.questions import QUESTION_IDS, groups_for

# Measured on this project's 2-core machine (prompt tok/s, generated tok/s); unknown models use FALLBACK.
MODEL_SPEEDS = {
    "local:qwen2.5-coder-0.5b": (120.0, 27.0),
    "local:qwen2.5-coder-1.5b": (67.0, 13.0),
}
FALLBACK_SPEED = (2000.0, 60.0)  # a hosted API or a GPU server: fast prompts, network-bound generation
# Rough token shapes of one call, from the local models' runs (prompt tokens not in the prefix cache).
ANSWER_TOKENS = {0: 20, 1: 50, 2: 100, 3: 150, 4: 200}
TEST_PROMPT = 530  # a test prompt with context and learned context (measured on the 0.5B model)
TEST_PROMPT_UNCACHED = 50  # a later question of the same context: the prefix is in the server's cache
QUESTIONS_PER_CONTEXT = 3.8
SLEEP_PROMPT, SLEEP_GENERATED = 300, 200
# One sample of a sleep strategy per context (prompt, generated tokens), measured with the 1.5B: compute on
# the test split (union k=8: 3,434 and 2,150 per context over 8 programs, repairs included); the anticipate
# strategies on dev (9 contexts, docs/benchmarks/strategies/dev/).
STRATEGY_SAMPLE_TOKENS = {"compute": (430, 270), "anticipate+compute": (880, 430), "anticipate": (2250, 1580)}
# Strategies whose samples the store keeps (sample i is one draw at every k and combine rule): a list of
# their k values costs the largest k, not the sum.
SAMPLES_KEPT = ("compute", "anticipate+compute")
# Total throughput of the local server with N parallel slots relative to one (measured: +24% at 2, +40% at 4).
SLOT_SPEEDUP = {1: 1.0, 2: 1.24, 4: 1.4}


def _speed(model: str) -> tuple[float, float]:
    return MODEL_SPEEDS.get(model, FALLBACK_SPEED)


def answer_seconds(model: str, verbosity: int, n_questions: int, cache: bool = True) -> float:
    """Serial seconds to answer ``n_questions`` at ``verbosity`` (prefix cache warm unless ``cache``)."""
    prompt_speed, gen_speed = _speed(model)
    # The first question of each context (and every question with the cache off) reads the whole prompt.
    first = 1 / QUESTIONS_PER_CONTEXT
    prompt = first * TEST_PROMPT + (1 - first) * TEST_PROMPT_UNCACHED if cache else TEST_PROMPT
    return n_questions * (prompt / prompt_speed + ANSWER_TOKENS.get(verbosity, 200) / gen_speed)


def sleep_seconds(model: str, k: int, rounds: int, n_contexts: int) -> float:
    """Serial seconds to make ``n_contexts`` learned contexts with k samples and ``rounds`` rethinks."""
    prompt_speed, gen_speed = _speed(model)
    one = SLEEP_PROMPT / prompt_speed + SLEEP_GENERATED / gen_speed
    merge = (SLEEP_PROMPT + SLEEP_GENERATED * k) / prompt_speed + SLEEP_GENERATED / gen_speed if k > 1 else 0
    rethink = rounds * ((SLEEP_PROMPT + SLEEP_GENERATED) / prompt_speed + SLEEP_GENERATED / gen_speed)
    return n_contexts * (k * one + merge + rethink)


def strategy_samples(strategies) -> dict[str, int]:
    """Samples each sleep strategy writes per context for a list of :class:`~optimize.bench.presets.
    SleepStrategy`: the largest k where the store keeps samples (:data:`SAMPLES_KEPT`), else the sum.

    Example:
        >>> from optimize.bench.presets import COMPUTE_UNION_CURVE
        >>> strategy_samples(COMPUTE_UNION_CURVE)  # k = 1, 2, 4, 8 read the same eight programs
        {'compute': 8}
    """
    samples: dict[str, int] = {}
    for entry in strategies:
        before = samples.get(entry.strategy, 0)
        kept = entry.strategy in SAMPLES_KEPT
        samples[entry.strategy] = max(before, entry.samples) if kept else before + entry.samples
    return samples


def strategies_sleep_seconds(model: str, strategies, n_contexts: int) -> float:
    """Serial seconds to make every sample the sleep strategies need on ``n_contexts`` contexts."""
    prompt_speed, gen_speed = _speed(model)
    total = 0.0
    for strategy, samples in strategy_samples(strategies).items():
        prompt, generated = STRATEGY_SAMPLE_TOKENS.get(strategy, (SLEEP_PROMPT, SLEEP_GENERATED))
        total += n_contexts * samples * (prompt / prompt_speed + generated / gen_speed)
    return total


def slot_speedup(threads: int) -> float:
    """Throughput gain of ``threads`` concurrent requests (interpolated below 4, flat above)."""
    known = sorted(SLOT_SPEEDUP)
    below = max(k for k in known if k <= max(threads, 1))
    return SLOT_SPEEDUP[below]


def estimate_seconds(preset, test_models: Sequence[str], sleep_model: str, *, n_questions: int,
                     n_contexts: int, only: Sequence[str] = QUESTION_IDS,
                     threads: int = 1) -> dict[str, float]:
    """Expected wall time per part (seconds), from the token shapes and the models' measured speeds.

    Sleep work is counted once per sleep budget: the store shares it across verbosities and test models.
    Search trials are counted at the mean grid configuration's cost, half of them assumed new.
    """
    groups = set(groups_for(only))
    parts = {"sleep": 0.0, "grid": 0.0, "compile": 0.0, "search": 0.0, "latency": 0.0}
    sleep_budgets = set()
    if groups & {"pareto", "compiled", "latency"}:
        sleep_budgets.add((1, 0))
    if "scaling" in groups:
        sleep_budgets |= {(k, r) for k in preset.k_values for r in preset.rounds}
    parts["sleep"] = sum(sleep_seconds(sleep_model, k, r, n_contexts) for k, r in sleep_budgets)
    if "strategies" in groups:
        parts["sleep"] += strategies_sleep_seconds(sleep_model, preset.sleep_strategies, n_contexts)
    train_contexts = max(1, math.ceil(preset.compile_train_questions / QUESTIONS_PER_CONTEXT))
    for model in test_models:
        configs: set[tuple] = set()
        if "pareto" in groups:
            configs |= {(True, v) for v in preset.sleep_grid} | {(False, v) for v in preset.verbosities}
        if "scaling" in groups:
            configs |= {(True, preset.k_verbosity, k, r) for k in preset.k_values for r in preset.rounds}
            configs.add((False, preset.k_verbosity))
        grid = sum(answer_seconds(model, c[1], n_questions) for c in configs)
        parts["grid"] += grid
        if "strategies" in groups:  # at k_verbosity; left out of the search's mean (it tries no strategy)
            answer = answer_seconds(model, preset.k_verbosity, n_questions)
            parts["grid"] += len(preset.sleep_strategies) * answer
        if "compiled" in groups:
            for v in preset.compile_verbosities:
                parts["compile"] += answer_seconds(
                    model, v, n_questions + preset.compile_train_questions
                ) + sleep_seconds(sleep_model, 1, 0, n_contexts + train_contexts)
                if "pareto" not in groups:
                    parts["compile"] += answer_seconds(model, v, n_questions)
        if "search" in groups:
            mean_config = grid / max(len(configs), 1) if configs else answer_seconds(model, 2, n_questions)
            parts["search"] += 0.5 * preset.search_trials * mean_config
        if "latency" in groups:  # measured serially: sleep warm and cold, then test-time only
            parts["latency"] += 2 * answer_seconds(model, 0, n_questions) + answer_seconds(
                model, 0, n_questions, cache=False
            )
    speedup = slot_speedup(threads)
    for name in ("sleep", "grid", "compile", "search"):
        parts[name] /= speedup
    parts["total"] = sum(parts.values())
    return parts


def format_estimate(parts: dict[str, float]) -> str:
    detail = ", ".join(f"{k} {v / 60:.1f}" for k, v in parts.items() if k != "total" and v > 0)
    return f"expected duration ~{parts['total'] / 60:.0f} min ({detail} min; rough, from measured speeds)"


def power_line(difference: float, n_questions: int, n_contexts: int, pilot: dict | None = None) -> str:
    """The power estimate printed before a run: from a pilot's variance (committed rows of this run) when
    there is one, else from the prior sd/ICC of :mod:`optimize.reports.metrics`."""
    from optimize.reports.metrics import DEFAULT_DIFFERENCE_SD, DEFAULT_ICC, format_power, questions_needed

    sd = pilot["sd"] if pilot else DEFAULT_DIFFERENCE_SD
    icc = pilot["icc"] if pilot else DEFAULT_ICC
    estimate = questions_needed(difference, sd=sd, icc=icc,
                                questions_per_context=n_questions / max(n_contexts, 1))
    source = (f"from {pilot['n']} paired pilot questions of this run" if pilot
              else "prior sd and ICC; a resumed run uses its own rows")
    return format_power(estimate, available=n_questions) + f" [{source}]"
