"""The Budget value object: how much compute each phase of a program may spend."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

VERBOSITY_RANGE = (0, 4)
SAMPLES_RANGE = (1, 10)
ROUNDS_RANGE = (0, 3)
MAX_TOKENS_RANGE = (1, 32768)
DEFAULT_MODEL = "local:qwen2.5-coder-0.5b"


class BudgetError(ValueError):
    """A Budget field is missing, of the wrong type or out of range; the message names the allowed values."""


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BudgetError(f"Budget.{name} must be an integer in {low}..{high}, got {value!r} "
                          f"({type(value).__name__}); pass e.g. {name}={low}")
    if not low <= value <= high:
        raise BudgetError(f"Budget.{name}={value} is out of range; allowed: {low}..{high}")


@dataclass(frozen=True)
class Budget:
    """How a program spends compute: whether to think at sleep time, and how hard each phase thinks.

    ``sleep_samples`` (k) parallel rewrites and ``sleep_rounds`` rethink rounds make the learned context;
    ``test_verbosity`` (0 = answer directly .. 4 = reason step by step and double-check) and
    ``test_max_tokens`` bound each answer.

    Example:
        >>> budget = Budget(test_verbosity=2, sleep_samples=3)
        >>> Budget.from_dict(budget.to_dict()) == budget
        True
        >>> Budget(test_verbosity=9)
        Traceback (most recent call last):
        ...
        programs.budget.BudgetError: Budget.test_verbosity=9 is out of range; allowed: 0..4
    """

    use_sleep: bool = True
    test_verbosity: int = 0
    test_max_tokens: int = 256
    sleep_samples: int = 1
    sleep_rounds: int = 0
    sleep_max_tokens: int = 512
    sleep_model: str = DEFAULT_MODEL
    test_model: str = DEFAULT_MODEL
    compiled: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.use_sleep, bool):
            raise BudgetError(f"Budget.use_sleep must be true or false, got {self.use_sleep!r}")
        _check_int("test_verbosity", self.test_verbosity, *VERBOSITY_RANGE)
        _check_int("test_max_tokens", self.test_max_tokens, *MAX_TOKENS_RANGE)
        _check_int("sleep_samples", self.sleep_samples, *SAMPLES_RANGE)
        _check_int("sleep_rounds", self.sleep_rounds, *ROUNDS_RANGE)
        _check_int("sleep_max_tokens", self.sleep_max_tokens, *MAX_TOKENS_RANGE)
        for name in ("sleep_model", "test_model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise BudgetError(f"Budget.{name} must be a model spec string such as {DEFAULT_MODEL!r}, "
                                  f"got {value!r}")
        if self.compiled is not None and (not isinstance(self.compiled, str) or not self.compiled.strip()):
            raise BudgetError(f"Budget.compiled must be a path string or null, got {self.compiled!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        """Build a Budget from a dict (e.g. parsed JSON); unknown keys are an error, missing keys default."""
        if not isinstance(data, dict):
            raise BudgetError(f"a Budget needs a JSON object / dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BudgetError(f"unknown Budget field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Budget:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BudgetError(f"Budget JSON is not valid JSON ({exc}); pass e.g. "
                              '\'{"test_verbosity": 2, "sleep_samples": 3}\'') from exc
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> Budget:
        return Budget.from_dict({**self.to_dict(), **changes})

    def sleep_key(self) -> str:
        """A stable string of exactly the fields that determine the learned context c'.

        Test-time fields (verbosity, test model, ...) are left out so that every test-time budget shares the
        same learned contexts.
        """
        parts = {"sleep_samples": self.sleep_samples, "sleep_rounds": self.sleep_rounds,
                 "sleep_max_tokens": self.sleep_max_tokens, "sleep_model": self.sleep_model}
        return json.dumps(parts, sort_keys=True)
