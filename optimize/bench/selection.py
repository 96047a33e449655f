"""Which configurations a benchmark table compares: today's notes and test-time only, or another sleep
strategy, chosen by name.

A config of ``compute`` with one sample and no rethink has the same ``use_sleep``, ``sleep_samples`` and
``sleep_rounds`` as today's notes k=1; picking by those alone would take whichever came first. Every table
that compares today's notes picks among :func:`today_configs`; question 2 picks each other strategy by its
``sleep_strategy`` and ``sleep_combine``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from optimize.reports.analysis import pick


def strategy_label(strategy: str, combine: str, samples: int) -> str:
    """A sleep strategy configuration in words, the same in presets, tables and summaries.

    Example:
        >>> strategy_label("compute", "union", 8), strategy_label("compute", "agree", 1)
        ('compute union k=8', 'compute k=1')
    """
    rule = f" {combine}" if samples > 1 else ""
    return f"{strategy}{rule} k={samples}"


def strategy_defaults() -> dict[str, Any]:
    """The strategy fields of a Budget that names none: today's notes at sleep time (their samples
    combined by the default rule, which notes ignore) and a text answer at test time. A configuration
    recorded before these fields existed ran at these values.

    Example:
        >>> strategy_defaults()
        {'sleep_strategy': 'notes', 'sleep_combine': 'agree', 'test_strategy': 'answer'}
    """
    from programs.budget import Budget

    default = Budget()
    return {name: getattr(default, name) for name in ("sleep_strategy", "sleep_combine", "test_strategy")}


def with_strategy_columns(configs: pd.DataFrame) -> pd.DataFrame:
    """``configs`` with every strategy field of :func:`strategy_defaults` as a column, a value missing
    (a line written before the field existed) filled with its default.

    Example:
        >>> old = pd.DataFrame({"config_id": ["n1", "c1"], "sleep_strategy": [None, "compute"]})
        >>> with_strategy_columns(old)[["sleep_strategy", "test_strategy"]].values.tolist()
        [['notes', 'answer'], ['compute', 'answer']]
    """
    configs = configs.copy()
    for name, default in strategy_defaults().items():
        configs[name] = configs[name].fillna(default) if name in configs else default
    return configs


def today_configs(configs: pd.DataFrame) -> pd.DataFrame:
    """The configurations of today's sleep phase (``notes``, answered in text) and of test-time only
    answered in text: what questions 1 and 3-7 compare, and question 2's references. Picking by
    ``use_sleep``, ``sleep_samples`` and ``sleep_rounds`` alone would also find a ``compute`` k=1 config, so
    every table selects among these.

    Example:
        >>> configs = pd.DataFrame({"config_id": ["c1", "n1", "t0"], "use_sleep": [True, True, False],
        ...                         "sleep_strategy": ["compute", None, "notes"]})
        >>> today_configs(configs)["config_id"].tolist()
        ['n1', 't0']
    """
    configs = with_strategy_columns(configs)
    today = strategy_defaults()
    return configs[(configs["sleep_strategy"] == today["sleep_strategy"])
                   & (configs["test_strategy"] == today["test_strategy"])]


def pick_today(configs: pd.DataFrame, **fields: Any):
    """:func:`optimize.reports.analysis.pick` among :func:`today_configs` only (None when none matches)."""
    return pick(today_configs(configs), **fields) if len(configs) else None


__all__ = ["pick_today", "strategy_defaults", "strategy_label", "today_configs", "with_strategy_columns"]
