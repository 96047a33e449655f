"""The Budget value object: how much compute each phase of a program may spend.

Every field carries its own documentation in ``dataclasses.field(metadata={"help": ..., "range": ...})``:
validation here and the CLI's flags (one per field) read the same metadata, so a range is written once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

DEFAULT_MODEL = "local:qwen2.5-coder-0.5b"

# Per-verbosity test-time caps that let the local Qwen2.5-Coder 0.5B/1.5B finish their answers. Measured
# means of generated test tokens (BENCHMARKS.md, quick run): ~10-15 at verbosity 0, ~60-140 at 2, ~70-190
# at 4; a flat cap of 256 cut off 11 of 30 verbosity-3 answers of the 1.5B.
# Each cap leaves several times the mean as headroom for the long tail; a cap is only reached by a reply
# that would otherwise be cut (or loops), so a generous cap costs nothing on answers that finish.
DEFAULT_TEST_MAX_TOKENS: dict[int, int] = {0: 256, 1: 512, 2: 1024, 3: 1024, 4: 1536}

# What the sleep phase does with a context (programs/strategies/ has one module per strategy):
# "notes" writes one-shot notes; "anticipate" lists likely questions and solves each by reasoning;
# "compute" has the model write a program whose values, run in a sandbox, are the notes;
# "anticipate+compute" lists likely questions and writes one program answering each of them.
SLEEP_STRATEGIES = ("notes", "anticipate", "compute", "anticipate+compute")
# How a test-time answer is produced: "answer" replies in text at test_verbosity; "code" writes a program
# per question and runs it in the sandbox (program-of-thought), the tool-using test-time-only baseline;
# "pick" has the model name the notes line that answers and copies its value (needs a sleep phase).
TEST_STRATEGIES = ("answer", "code", "pick")
# How the k samples of computed values combine (compute strategies; notes are concatenated, anticipated
# answers kept where most samples agree): "agree" keeps a value more than half the programs give under the
# same name, so every kept value is checked; "union" keeps every name whose programs do not disagree (a
# majority of those that computed it), so more samples state more quantities; "ranked" states the union's
# values one line each (under all their names), the value most programs computed first, saying how many did.
SLEEP_COMBINES = ("agree", "union", "ranked")
# The sleep-phase knobs only some strategies read (sleep_samples, sleep_max_tokens and sleep_model apply to
# all): a Budget with one of them away from its default under a strategy that ignores it is refused, since
# it would run the same program as the default under another id (a search would evaluate it twice).
STRATEGY_KNOBS: dict[str, tuple[str, ...]] = {
    "notes": ("sleep_rounds",),
    "anticipate": ("sleep_questions", "sleep_verbosity"),
    "compute": ("sleep_combine",),
    "anticipate+compute": ("sleep_questions", "sleep_combine"),
}
# Fields added after rows and studies existed: at these values they are left out of every id (budget ids,
# run configs, store keys), so what was made before a field existed keeps its id and resumes. Their defaults
# are therefore fixed; a field added later joins this list at its default.
ID_DEFAULTS: dict[str, Any] = {"sleep_strategy": "notes", "sleep_questions": 8, "sleep_verbosity": 3,
                               "sleep_combine": "agree", "test_strategy": "answer"}


def knobs_ignored(strategy: str) -> tuple[str, ...]:
    """The strategy-specific sleep knobs ``strategy`` does not read (they stay at their defaults with it).

    Example:
        >>> knobs_ignored("compute")
        ('sleep_questions', 'sleep_rounds', 'sleep_verbosity')
    """
    every = {knob for knobs in STRATEGY_KNOBS.values() for knob in knobs}
    return tuple(sorted(every - set(STRATEGY_KNOBS[strategy])))


def strategies_reading(knob: str) -> list[str]:
    """The sleep strategies that read ``knob`` (all of them read a field outside :data:`STRATEGY_KNOBS`,
    which gives an empty list here).

    Example:
        >>> strategies_reading("sleep_questions"), strategies_reading("sleep_samples")
        (['anticipate', 'anticipate+compute'], [])
    """
    return [name for name, knobs in STRATEGY_KNOBS.items() if knob in knobs]


def reading_strategy(knob: str) -> dict[str, str]:
    """``{"sleep_strategy": ...}`` of a strategy that reads ``knob`` (empty for a field every strategy reads):
    what a Budget needs beside the knob for the knob to be valid.

    Example:
        >>> reading_strategy("sleep_combine"), reading_strategy("sleep_samples")
        ({'sleep_strategy': 'compute'}, {})
    """
    readers = strategies_reading(knob)
    return {"sleep_strategy": readers[0]} if readers else {}


def identity_fields(budget: dict[str, Any]) -> dict[str, Any]:
    """A Budget dict (or a recorded one) without the fields at their ``ID_DEFAULTS`` value: what ids hash.

    Example:
        >>> identity_fields({"test_verbosity": 0, "sleep_strategy": "notes", "test_strategy": "pick"})
        {'test_verbosity': 0, 'test_strategy': 'pick'}
    """
    return {k: v for k, v in budget.items() if not (k in ID_DEFAULTS and v == ID_DEFAULTS[k])}


class BudgetError(ValueError):
    """A Budget field is missing, of the wrong type or out of range; the message names the allowed values."""


def _field(default: Any, help: str, range: tuple[int, int] | None = None) -> Any:  # noqa: A002
    return field(default=default, metadata={"help": help, "range": range})


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BudgetError(f"Budget.{name} must be an integer in {low}..{high}, got {value!r} "
                          f"({type(value).__name__}); pass e.g. {name}={low}")
    if not low <= value <= high:
        raise BudgetError(f"Budget.{name}={value} is out of range; allowed: {low}..{high}")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise BudgetError(f"Budget.{name}={value!r} is not one of {', '.join(allowed)}")


def _check_model(name: str, value: Any) -> None:
    """A model spec is checked when the Budget is built, so a typo fails before any work."""
    if value is None:
        return  # no model: the phase uses the LM configured with dspy.configure / dspy.context
    if not isinstance(value, str) or not value.strip():
        raise BudgetError(f"Budget.{name} must be a model spec string such as {DEFAULT_MODEL!r} (or None "
                          f"for the LM set with dspy.configure), got {value!r}")
    from programs import lm

    try:
        lm.validate_spec(value)
    except Exception as exc:  # noqa: BLE001 - LMSetupError or ValueError, re-raised as the Budget's error
        raise BudgetError(f"Budget.{name}={value!r} is not a usable model spec: {exc}") from exc


@dataclass(frozen=True)
class Budget:
    """How a program spends compute: whether to think at sleep time, and how hard each phase thinks.

    ``sleep_samples`` (k) parallel rewrites and ``sleep_rounds`` rethink rounds make the learned context;
    ``test_verbosity`` (0 = answer directly .. 4 = reason step by step and double-check) and
    ``test_max_tokens`` bound each answer (``None``: the per-verbosity cap in ``DEFAULT_TEST_MAX_TOKENS``,
    see :attr:`resolved_test_max_tokens`). A model of ``None`` means the LM configured with
    ``dspy.configure(lm=...)``. Ranges live in each field's metadata.

    Example:
        >>> budget = Budget(test_verbosity=2, sleep_samples=3)
        >>> Budget.from_dict(budget.to_dict()) == budget
        True
        >>> budget.resolved_test_max_tokens, budget.replace(test_max_tokens=64).resolved_test_max_tokens
        (1024, 64)
        >>> Budget(test_verbosity=9)
        Traceback (most recent call last):
        ...
        programs.budget.BudgetError: Budget.test_verbosity=9 is out of range; allowed: 0..4
    """

    use_sleep: bool = _field(True, "make a learned context at sleep time before answering")
    test_verbosity: int = _field(0, "how much the answerer reasons: 0 = answer directly .. 4 = reason "
                                    "step by step and double-check", (0, 4))
    test_max_tokens: int | None = _field(None, "cap on generated tokens per answer; default: a cap per "
                                               "verbosity that lets the local models finish", (1, 32768))
    sleep_samples: int = _field(1, "k: independent samples of the sleep work (notes: concatenated; "
                                   "anticipated answers: kept where most agree; computed values: combined "
                                   "by sleep_combine)", (1, 32))
    sleep_rounds: int = _field(0, "rethink rounds that check and extend the learned context", (0, 3))
    sleep_max_tokens: int = _field(512, "cap on generated tokens per sleep-time call", (1, 32768))
    sleep_strategy: str = _field("notes", "what the sleep phase does: " + ", ".join(SLEEP_STRATEGIES))
    sleep_questions: int = _field(8, "questions the sleep phase anticipates and answers ahead (anticipate "
                                     "strategies only)", (1, 32))
    sleep_verbosity: int = _field(3, "how much the sleep phase reasons to answer an anticipated question: "
                                     "0 = answer directly .. 4 = step by step and double-check", (0, 4))
    sleep_combine: str = _field("agree", "how the k samples of computed values combine (compute strategies "
                                         "only): " + ", ".join(SLEEP_COMBINES))
    test_strategy: str = _field("answer", "how an answer is produced: " + ", ".join(TEST_STRATEGIES))
    sleep_model: str | None = _field(DEFAULT_MODEL, "model spec of the sleep phase (None: the LM set with "
                                                    "dspy.configure)")
    test_model: str | None = _field(DEFAULT_MODEL, "model spec of the test phase (None: the LM set with "
                                                   "dspy.configure)")
    compiled: str | None = _field(None, "a saved program bundle (directory or shipped name) whose compiled "
                                        "prompts are loaded")

    def __post_init__(self) -> None:
        if not isinstance(self.use_sleep, bool):
            raise BudgetError(f"Budget.use_sleep must be true or false, got {self.use_sleep!r}")
        for spec in fields(self):
            low_high = spec.metadata.get("range")
            value = getattr(self, spec.name)
            if low_high is not None and not (value is None and spec.default is None):
                _check_int(spec.name, value, *low_high)
        _check_model("sleep_model", self.sleep_model)
        _check_model("test_model", self.test_model)
        _check_choice("sleep_strategy", self.sleep_strategy, SLEEP_STRATEGIES)
        _check_choice("sleep_combine", self.sleep_combine, SLEEP_COMBINES)
        _check_choice("test_strategy", self.test_strategy, TEST_STRATEGIES)
        if self.use_sleep:
            self._check_knobs_apply()
        if self.test_strategy == "code" and self.use_sleep:
            raise BudgetError("Budget.test_strategy='code' writes a program from the context alone and "
                              "reads no notes: use it with use_sleep=False (a test-time-only baseline)")
        if self.test_strategy == "pick" and not self.use_sleep:
            raise BudgetError("Budget.test_strategy='pick' answers by picking a line of the learned context: "
                              "use it with use_sleep=True, or test_strategy='answer' without a sleep phase")
        if self.compiled is not None and (not isinstance(self.compiled, str) or not self.compiled.strip()):
            raise BudgetError(f"Budget.compiled must be a path string or null, got {self.compiled!r}")

    def _check_knobs_apply(self) -> None:
        """Refuse a strategy's own sleep knob set away from its default under a strategy that ignores it."""
        defaults = {spec.name: spec.default for spec in fields(self)}
        for knob in knobs_ignored(self.sleep_strategy):
            value = getattr(self, knob)
            if value != defaults[knob]:
                readers = " and ".join(map(repr, strategies_reading(knob)))
                raise BudgetError(f"Budget.{knob}={value!r} does nothing with sleep_strategy="
                                  f"{self.sleep_strategy!r} (it is read by {readers} only): leave it at "
                                  f"{defaults[knob]!r}, or choose such a strategy")

    @property
    def resolved_test_max_tokens(self) -> int:
        """The test-time cap in force: ``test_max_tokens`` when given, else the cap for this verbosity."""
        if self.test_max_tokens is not None:
            return self.test_max_tokens
        return DEFAULT_TEST_MAX_TOKENS[self.test_verbosity]

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

    def identity_dict(self) -> dict[str, Any]:
        """The fields that identify this Budget in ids: :meth:`to_dict` without fields at their
        ``ID_DEFAULTS`` value (added after ids existed; leaving them out keeps those ids).

        Example:
            >>> "sleep_combine" in Budget().identity_dict()
            False
            >>> Budget(sleep_strategy="compute", sleep_combine="union").identity_dict()["sleep_combine"]
            'union'
        """
        return identity_fields(self.to_dict())

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
        if self.sleep_strategy != "notes":  # notes keep the keys their stored learned contexts have
            parts["sleep_strategy"] = self.sleep_strategy
            if self.sleep_strategy.startswith("anticipate"):
                parts["sleep_questions"] = self.sleep_questions
            if self.sleep_strategy == "anticipate":
                parts["sleep_verbosity"] = self.sleep_verbosity
            elif self.sleep_combine != ID_DEFAULTS["sleep_combine"]:
                parts["sleep_combine"] = self.sleep_combine
        return json.dumps(parts, sort_keys=True)
