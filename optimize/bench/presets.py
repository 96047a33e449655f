"""What each benchmark size runs: the Budgets of every evaluation group and the Optuna space of question 6.

Groups: ``pareto`` (questions 1, 3, 4, 7: sleep time at each sleep verbosity, test-time only at each
verbosity), ``scaling`` (question 2: k x rounds at one verbosity plus test-time only there), ``strategies``
(question 2: the size's other sleep strategies at the same verbosity, beside today's notes), ``compiled``
(question 5: the hand-written sleep-time program whose compiled twin is added after compiling), ``search``
(question 6) and ``latency`` (question 7: the sleep-time program at verbosity 0, prompt cache warm and cold).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from optimize.bench.questions import QUESTION_IDS

SMALL_MODEL = "local:qwen2.5-coder-0.5b"
LARGE_MODEL = "local:qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class SleepStrategy:
    """One sleep-time strategy configuration the ``strategies`` group runs beside today's notes: what the
    sleep phase does (``Budget.sleep_strategy``), how its samples combine (``Budget.sleep_combine``) and how
    many it takes (``Budget.sleep_samples``); everything else is the size's base Budget at ``k_verbosity``.

    One sample has nothing to combine, so k=1 keeps the default rule: its Budget is then the one the
    strategies study ran (``docs/benchmarks/strategies/``) and its rows file has the same id.

    Example:
        >>> SleepStrategy("compute", "union", 8).budget_fields()
        {'sleep_strategy': 'compute', 'sleep_combine': 'union', 'sleep_samples': 8}
        >>> SleepStrategy("compute", "union", 8).label, SleepStrategy("compute").label
        ('compute union k=8', 'compute k=1')
        >>> SleepStrategy("compute", "union", 1)
        Traceback (most recent call last):
        ...
        ValueError: SleepStrategy('compute', 'union', 1): one sample has nothing to combine; leave combine ...
    """

    strategy: str
    combine: str = "agree"
    samples: int = 1

    def __post_init__(self) -> None:
        from programs.budget import SLEEP_COMBINES, SLEEP_STRATEGIES, Budget

        default = Budget().sleep_combine
        me = f"SleepStrategy({self.strategy!r}, {self.combine!r}, {self.samples})"
        others = [name for name in SLEEP_STRATEGIES if name != Budget().sleep_strategy]
        if self.strategy not in others:
            # Today's notes are the scaling group's: listed here, a notes config would be its own reference.
            raise ValueError(f"{me}: the strategy must be one of {', '.join(others)}")
        if self.combine not in SLEEP_COMBINES:
            raise ValueError(f"{me}: combine must be one of {', '.join(SLEEP_COMBINES)}")
        if self.samples == 1 and self.combine != default:
            raise ValueError(f"{me}: one sample has nothing to combine; leave combine at {default!r} (the "
                             "Budget's default, the id the study's rows have)")

    def budget_fields(self) -> dict[str, str | int]:
        """The Budget fields this configuration sets."""
        return {"sleep_strategy": self.strategy, "sleep_combine": self.combine, "sleep_samples": self.samples}

    @property
    def label(self) -> str:
        """``compute union k=8``; the combine rule is named only where samples are combined."""
        from optimize.bench.selection import strategy_label

        return strategy_label(self.strategy, self.combine, self.samples)


# The strategies study's scaling curve (docs/benchmarks/strategies/PROTOCOL.md, round 2): compute k=1, then
# compute programs combined by union at k = 2, 4, 8.
COMPUTE_UNION_CURVE = (SleepStrategy("compute"),
                       *(SleepStrategy("compute", "union", k) for k in (2, 4, 8)))


@dataclass(frozen=True)
class Preset:
    """What one benchmark size runs.

    ``contexts`` None = every context of the test split. ``sleep_verbosities`` None = ``verbosities``.
    ``test_max_tokens`` None = the Budget's default (per-verbosity caps that let the local models finish).
    ``questions`` and ``test_models`` are the defaults of ``--only`` and ``--test-models``; ``committed``
    sizes write their results (and the raw rows a new machine resumes from) under ``docs/benchmarks/``.
    ``sleep_strategies`` are the sleep strategies question 2 measures beside today's notes (at
    ``k_verbosity``; the ``strategies`` group).

    Example:
        >>> PRESETS["quick"].verbosities
        (0, 2, 4)
        >>> replace(PRESETS["quick"], contexts=5).contexts
        5
        >>> PRESETS["standard"].sleep_verbosities, PRESETS["standard"].k_values
        ((0, 1), (1, 2, 4))
        >>> [s.label for s in PRESETS["standard"].sleep_strategies]
        ['compute k=1', 'compute union k=2', 'compute union k=4', 'compute union k=8']
    """

    contexts: int | None
    verbosities: tuple[int, ...]
    k_values: tuple[int, ...]
    rounds: tuple[int, ...]
    k_verbosity: int
    compile_train_questions: int
    compile_max_demos: int
    compile_verbosities: tuple[int, ...]
    search_trials: int
    test_max_tokens: int | None = 256
    sleep_max_tokens: int = 512
    sleep_verbosities: tuple[int, ...] | None = None
    sleep_strategies: tuple[SleepStrategy, ...] = ()
    questions: tuple[str, ...] = QUESTION_IDS
    test_models: tuple[str, ...] = (SMALL_MODEL,)
    committed: bool = False

    @property
    def sleep_grid(self) -> tuple[int, ...]:
        """The verbosities at which sleep time runs in the ``pareto`` group."""
        return self.sleep_verbosities if self.sleep_verbosities is not None else self.verbosities


PRESETS = {
    "quick": Preset(
        contexts=3,
        verbosities=(0, 2, 4),
        k_values=(1, 2),
        rounds=(0,),
        k_verbosity=0,
        compile_train_questions=4,
        compile_max_demos=2,
        compile_verbosities=(0,),
        search_trials=3,
        # One program per context (~1.5 min of 1.5B time on 3 contexts): the group runs, the estimate holds.
        sleep_strategies=(SleepStrategy("compute"),),
    ),
    # The paper's questions 1-4 and 7 on the whole test split, decisively on 2 cores: the 1.5B in both phases
    # (the paper's same-model setting) first, then the 1.5B sleeping for the 0.5B.
    "standard": Preset(
        contexts=None,
        verbosities=(0, 1, 2, 3),
        sleep_verbosities=(0, 1),
        k_values=(1, 2, 4),
        rounds=(0,),
        k_verbosity=0,
        compile_train_questions=12,
        compile_max_demos=2,
        compile_verbosities=(0,),
        search_trials=0,
        test_max_tokens=None,
        sleep_strategies=COMPUTE_UNION_CURVE,
        questions=("q1", "q3", "q4", "q2", "q7"),
        test_models=(LARGE_MODEL, SMALL_MODEL),
        committed=True,
    ),
    "full": Preset(
        contexts=10,
        verbosities=(0, 1, 2, 3, 4),
        k_values=(1, 2, 5, 10),
        rounds=(0, 1),
        k_verbosity=0,
        compile_train_questions=12,
        compile_max_demos=2,
        compile_verbosities=(0, 2),
        search_trials=12,
        sleep_strategies=COMPUTE_UNION_CURVE,
    ),
}


def base_budget(preset: Preset, test_model: str, sleep_model: str):
    """The Budget every configuration of a benchmark starts from."""
    from programs.budget import Budget

    caps = {"sleep_max_tokens": preset.sleep_max_tokens}
    if preset.test_max_tokens is not None:  # else the Budget's per-verbosity default
        caps["test_max_tokens"] = preset.test_max_tokens
    return Budget(test_model=test_model, sleep_model=sleep_model, **caps)


def preset_budgets(preset: Preset, test_model: str, sleep_model: str) -> dict[str, list]:
    """The Budgets each evaluation group runs (compiled twins are added once compiled).

    ``pareto``: sleep time (k=1, no rethink) at each sleep verbosity and test-time only at each verbosity;
    ``scaling``: every k x rounds at ``k_verbosity`` plus test-time only at that verbosity; ``strategies``:
    each of ``sleep_strategies`` at ``k_verbosity`` (no rethink; its references are the scaling group's);
    ``compiled``: the hand-written sleep-time program at each compile verbosity; ``latency``: sleep time at
    verbosity 0, then test-time only at verbosity 0 (timed the same way, so the two compare).
    """
    base = base_budget(preset, test_model, sleep_model)
    pareto = [base.replace(use_sleep=True, test_verbosity=v) for v in preset.sleep_grid]
    pareto += [base.replace(use_sleep=False, test_verbosity=v) for v in preset.verbosities]
    scaling = [
        base.replace(use_sleep=True, test_verbosity=preset.k_verbosity, sleep_samples=k, sleep_rounds=r)
        for k in preset.k_values
        for r in preset.rounds
    ]
    scaling.append(base.replace(use_sleep=False, test_verbosity=preset.k_verbosity))
    strategies = [base.replace(use_sleep=True, test_verbosity=preset.k_verbosity, sleep_rounds=0,
                               **s.budget_fields()) for s in preset.sleep_strategies]
    compiled = [base.replace(use_sleep=True, test_verbosity=v) for v in preset.compile_verbosities]
    latency = [base.replace(use_sleep=use_sleep, test_verbosity=0) for use_sleep in (True, False)]
    return {"pareto": pareto, "scaling": scaling, "strategies": strategies, "compiled": compiled,
            "latency": latency}


def search_space(preset: Preset, test_model: str, sleep_model: str):
    """The Optuna space of question 6: the grid's dimensions plus a 128-token test cap beside the grid's own
    (``None``: the per-verbosity caps), so a trial can land on a grid configuration and reuse its rows.

    Example:
        >>> search_space(PRESETS["standard"], LARGE_MODEL, LARGE_MODEL).test_max_tokens
        (128, None)
    """
    from optimize.experiments.search import SearchSpace

    return SearchSpace(
        use_sleep=(True, False),
        test_verbosity=preset.verbosities,
        test_max_tokens=(128, preset.test_max_tokens) if preset.test_max_tokens != 128 else (128,),
        sleep_samples=preset.k_values,
        sleep_rounds=preset.rounds,
        sleep_max_tokens=(preset.sleep_max_tokens,),
        sleep_model=(sleep_model,),
        test_model=(test_model,),
    )


__all__ = ["COMPUTE_UNION_CURVE", "PRESETS", "Preset", "SleepStrategy", "base_budget", "preset_budgets",
           "replace", "search_space"]
