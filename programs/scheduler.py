"""Spend sleep time where it pays: whether to make a learned context for a context, and with how many samples.

The break-even rule, per context, in sleep-token units (test tokens cost ``t`` times sleep tokens):

- without notes every question costs ``t * T0`` (T0 = test tokens of the test-time-only budget that reaches
  the accuracy the notes reach: equal accuracy);
- sleeping with ``k`` samples costs ``S(k)`` once, shared by the ``N`` questions the context will get, and
  each question then costs ``t * T1(k)`` when the notes anticipated it, or ``t * T0`` when they did not.
  With ``p`` the chance that the notes anticipate a question (its predictability), a question costs
  ``S(k)/N + t * (T0 - p * (T0 - T1(k)))``.

So sleep pays when ``S(k)/N + t*T1_eff(k) < t*T0``, i.e. when ``S(k)/N < t * p * (T0 - T1(k))``, i.e. when
the context will get more than ``N* = S(k) / (t * p * (T0 - T1(k)))`` questions. The scheduler picks the
``k`` of lowest expected cost per question, or skips when no ``k`` beats ``t * T0``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

POLICIES = ("break-even", "always", "never")
DEFAULT_PRICE_RATIO = 10.0


@dataclass(frozen=True)
class SleepOption:
    """One way to sleep: ``samples`` (k), its cost per context, test tokens with its notes.

    Example:
        >>> SleepOption(samples=2, sleep_tokens=280.0, test_tokens=10.0, accuracy=0.31).samples
        2
    """

    samples: int
    sleep_tokens: float
    test_tokens: float
    accuracy: float | None = None
    name: str | None = None  # the measured configuration it came from, if any


@dataclass(frozen=True)
class CostModel:
    """Measured costs the scheduler weighs: test tokens without notes (T0) and each sleep option.

    ``CostModel.default()`` holds this repository's quick benchmark (0.5B answering, 1.5B sleeping,
    completion tokens); fit your own with :meth:`from_configs` from benchmark or search summaries.

    Example:
        >>> model = CostModel(test_tokens_without=60.0, options=(SleepOption(1, 120.0, 10.0),))
        >>> model.option(1).sleep_tokens
        120.0
    """

    test_tokens_without: float
    options: tuple[SleepOption, ...]
    price_ratio: float = DEFAULT_PRICE_RATIO
    baseline: str | None = None  # the test-time-only configuration T0 came from, if any

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError("a CostModel needs at least one SleepOption (the costs of sleeping with some k)")
        if self.price_ratio <= 0 or self.test_tokens_without < 0:
            raise ValueError(f"price_ratio must be > 0 and test_tokens_without >= 0, got {self.price_ratio} "
                             f"and {self.test_tokens_without}")

    def option(self, samples: int) -> SleepOption:
        for option in self.options:
            if option.samples == samples:
                return option
        raise ValueError(f"no sleep option with k={samples}; known: {[o.samples for o in self.options]}")

    @classmethod
    def default(cls, price_ratio: float = DEFAULT_PRICE_RATIO) -> CostModel:
        # docs/benchmarks/bench-quick: test-only at verbosity 2 (58.7 tokens) against sleep k=1 answered at
        # verbosity 0 (10.3 tokens, 120 sleep tokens per context). Replace with your own measurements.
        return cls(58.7, (SleepOption(1, 120.0, 10.3),), price_ratio)

    @classmethod
    def from_configs(cls, configs: Iterable[Mapping], price_ratio: float = DEFAULT_PRICE_RATIO) -> CostModel:
        """Fit from per-configuration summaries (rows of ``configs.csv``, or dicts) with the keys
        ``use_sleep, sleep_samples, accuracy, mean_test_tokens, sleep_tokens_per_context`` (and
        optionally ``config_id``, kept as the option's / baseline's name).

        Per k the most accurate sleep configuration is kept (fewer test tokens break ties); T0 is the
        cheapest test-time-only configuration at least as accurate as the best of them (else the most
        accurate test-time-only one).

        Example:
            >>> rows = [{"use_sleep": True, "sleep_samples": 1, "accuracy": 0.5, "mean_test_tokens": 10,
            ...          "sleep_tokens_per_context": 120},
            ...         {"use_sleep": False, "accuracy": 0.4, "mean_test_tokens": 12},
            ...         {"use_sleep": False, "accuracy": 0.5, "mean_test_tokens": 60}]
            >>> CostModel.from_configs(rows).test_tokens_without
            60.0
        """
        rows = [dict(row) for row in configs]
        sleep = [r for r in rows if _truthy(r.get("use_sleep"))]
        test = [r for r in rows if not _truthy(r.get("use_sleep"))]
        if not sleep or not test:
            raise ValueError("from_configs needs a sleep-time and a test-time-only configuration at least")
        best: dict[int, dict] = {}
        for row in sleep:
            k = int(row.get("sleep_samples") or 1)
            rank = (float(row["accuracy"]), -float(row["mean_test_tokens"]))
            if k not in best or rank > (float(best[k]["accuracy"]), -float(best[k]["mean_test_tokens"])):
                best[k] = row
        options = tuple(SleepOption(k, float(r.get("sleep_tokens_per_context") or 0.0),
                                    float(r["mean_test_tokens"]), float(r["accuracy"]), r.get("config_id"))
                        for k, r in sorted(best.items()))
        target = max(o.accuracy for o in options)
        as_good = [r for r in test if float(r["accuracy"]) >= target]
        pick = (min(as_good, key=lambda r: float(r["mean_test_tokens"])) if as_good
                else max(test, key=lambda r: (float(r["accuracy"]), -float(r["mean_test_tokens"]))))
        return cls(float(pick["mean_test_tokens"]), options, price_ratio, pick.get("config_id"))


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class SleepPlan:
    """The scheduler's decision for one context, with the arithmetic behind it (per question, sleep-token
    units): ``expected_cost`` of the chosen plan, ``never_cost`` of answering without notes.

    Example:
        >>> scheduler = SleepScheduler(CostModel(60.0, (SleepOption(1, 120.0, 10.0),), price_ratio=10))
        >>> plan = scheduler.plan(expected_questions=10, predictability=0.9)
        >>> plan.sleep, plan.samples, 0 < plan.saving < 1
        (True, 1, True)
    """

    sleep: bool
    samples: int
    expected_cost: float
    never_cost: float
    break_even_questions: float
    expected_questions: float
    predictability: float
    reason: str

    @property
    def saving(self) -> float:
        """Expected fraction of the no-notes cost saved (0 when skipping)."""
        return 1.0 - self.expected_cost / self.never_cost if self.never_cost else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "saving": self.saving}


def question_cost(option: SleepOption, model: CostModel, questions: float, predictability: float) -> float:
    """Expected cost per question of sleeping with ``option``: ``S/N + t * (T0 - p * (T0 - T1))``.

    Example:
        >>> model = CostModel(60.0, (SleepOption(1, 120.0, 10.0),), price_ratio=10)
        >>> question_cost(model.options[0], model, questions=3, predictability=1.0)
        140.0
    """
    t, t0 = model.price_ratio, model.test_tokens_without
    return option.sleep_tokens / questions + t * (t0 - predictability * (t0 - option.test_tokens))


def break_even_questions(option: SleepOption, model: CostModel, predictability: float) -> float:
    """N* = S / (t * p * (T0 - T1)): sleeping pays for a context that gets more questions than this.

    Example:
        >>> model = CostModel(60.0, (SleepOption(1, 120.0, 10.0),), price_ratio=10)
        >>> break_even_questions(model.options[0], model, predictability=0.5)
        0.48
    """
    gain = model.price_ratio * predictability * (model.test_tokens_without - option.test_tokens)
    return option.sleep_tokens / gain if gain > 0 else math.inf


class SleepScheduler:
    """Decide per context whether to sleep and with which k, from N, t (in the cost model) and predictability.

    ``policy="break-even"`` applies the rule in this module's docstring; ``"always"`` sleeps with the
    largest k (``always_samples`` to choose another) and ``"never"`` never sleeps, for comparison.

    Example:
        >>> scheduler = SleepScheduler(CostModel(60.0, (SleepOption(1, 120.0, 10.0),), price_ratio=10))
        >>> scheduler.plan(expected_questions=3, predictability=0.9).sleep
        True
        >>> scheduler.plan(expected_questions=1, predictability=0.01).sleep
        False
    """

    def __init__(self, cost_model: CostModel | None = None, *, policy: str = "break-even",
                 default_questions: float = 3.0, default_predictability: float = 0.5,
                 always_samples: int | None = None) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown scheduler policy {policy!r}; use one of {POLICIES}")
        self.cost_model = cost_model or CostModel.default()
        self.policy = policy
        self.default_questions = float(default_questions)
        self.default_predictability = float(default_predictability)
        self.always_samples = always_samples or max(o.samples for o in self.cost_model.options)

    def plan(self, expected_questions: float | None = None, predictability: float | None = None) -> SleepPlan:
        """The plan for one context expecting ``expected_questions`` questions of this ``predictability``."""
        n = self.default_questions if expected_questions is None else float(expected_questions)
        p = self.default_predictability if predictability is None else float(predictability)
        if n <= 0:
            raise ValueError(f"expected_questions must be > 0, got {n}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"predictability must be in 0..1, got {p}")
        model = self.cost_model
        never = model.price_ratio * model.test_tokens_without
        costs = {o.samples: question_cost(o, model, n, p) for o in model.options}
        if self.policy == "never":
            return SleepPlan(False, 0, never, never, math.inf, n, p, "policy never sleeps")
        if self.policy == "always":
            option = model.option(self.always_samples)
            return SleepPlan(True, option.samples, costs[option.samples], never,
                             break_even_questions(option, model, p), n, p, "policy always sleeps")
        k = min(costs, key=lambda samples: (costs[samples], samples))
        option = model.option(k)
        n_star = break_even_questions(option, model, p)
        if costs[k] < never:
            return SleepPlan(True, k, costs[k], never, n_star, n, p,
                             f"sleep k={k}: N={n:g} > break-even N*={n_star:.2f} at p={p:.2f}")
        return SleepPlan(False, 0, never, never, n_star, n, p,
                         f"skip: N={n:g} <= break-even N*={n_star:.2f} at p={p:.2f}")
