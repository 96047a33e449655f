"""How long the demo will take on this machine: a quick speed probe of each model before the demo starts.

Two calls per model through :func:`programs.lm.make_lm` (the one factory, so the ledger's server-reported
tokens and wall time are what is measured): a long prompt with a one-token reply gives the prompt speed,
a short prompt with a long reply the generation speed. The demo's work in tokens (:data:`DEMO_WORK`) is
read off the committed rows of the README's run (docs/figures/demo/comparison-configs.csv: ~10 and ~67
generated test tokens per question at verbosity 0 and 1, ~111 generated sleep tokens per context, ~270
prompt tokens per question without notes and ~450 with them, most of them prefix-cached after a context's
first question) and divided by the measured speeds. Speeds differ between machines several-fold (a 2-core
machine prefilling 45 tokens/s took 11 min for a demo another did in 3), so the demo prints both.
"""

from __future__ import annotations

from dataclasses import dataclass

from programs.lm import TokenLedger, make_lm

PROBE_PROMPT = ("Ann has 3 boxes with 4 apples each, and Ben has twice as many boxes with 5 apples. " * 12
                + "How many apples do they have together? Answer with a number.")
PROBE_REPLY = "Count from one to forty in words, separated by commas."


@dataclass(frozen=True)
class Speed:
    """Measured prompt and generation speed of one model (tokens per second).

    Example:
        >>> Speed("local:qwen2.5-coder-0.5b", 45.0, 20.0).prompt_tokens_per_second
        45.0
    """

    model: str
    prompt_tokens_per_second: float
    generated_tokens_per_second: float


@dataclass(frozen=True)
class Work:
    """Tokens one model reads (not prefix-cached) and generates in a run.

    Example:
        >>> Work(prompt_tokens=450, generated_tokens=10).generated_tokens
        10
    """

    prompt_tokens: float
    generated_tokens: float

    def seconds(self, speed: Speed) -> float:
        """Expected seconds of this work at ``speed``.

        Example:
            >>> Work(prompt_tokens=1000, generated_tokens=100).seconds(Speed("m", 100.0, 10.0))
            20.0
        """
        return self.prompt_tokens / speed.prompt_tokens_per_second + \
            self.generated_tokens / speed.generated_tokens_per_second


def demo_work(test_questions: int, test_contexts: int, search_questions: int, search_contexts: int,
              n_trials: int) -> dict[str, Work]:
    """The demo's work per phase: three budgets on the held-out questions, then ``n_trials`` budgets on the
    dev questions (sleep time for at most two samples per context per trial).

    Example:
        >>> work = demo_work(19, 5, 8, 2, 6)
        >>> round(work["test"].generated_tokens), round(work["sleep"].generated_tokens)
        (3573, 2553)
    """
    # Per question: a context's first question reads its whole prompt, the others ~40 new tokens.
    uncached = lambda questions, contexts, prompt: contexts * prompt + (questions - contexts) * 40  # noqa: E731
    test = Work(prompt_tokens=2 * uncached(test_questions, test_contexts, 270)
                + uncached(test_questions, test_contexts, 450)
                + n_trials * uncached(search_questions, search_contexts, 360),
                generated_tokens=test_questions * (10 + 67 + 10) + n_trials * search_questions * 40)
    sleep = Work(prompt_tokens=290 * (test_contexts + n_trials * search_contexts * 1.5),
                 generated_tokens=111 * (test_contexts + n_trials * search_contexts * 1.5))
    return {"test": test, "sleep": sleep}


def probe_speed(spec: str, *, api_base: str | None = None, lm_options: dict | None = None) -> Speed:
    """Prompt and generation tokens per second of ``spec``, from two short calls (a few seconds)."""
    ledger = TokenLedger()
    options = {"api_base": api_base, "num_retries": 1, **(lm_options or {})}
    make_lm(spec, phase="test", ledger=ledger, max_tokens=1, **options)(PROBE_PROMPT)
    make_lm(spec, phase="test", ledger=ledger, max_tokens=48, **options)(PROBE_REPLY)
    read, write = ledger.calls[-2], ledger.calls[-1]
    prompt_speed = read.prompt_tokens / max(read.seconds, 1e-6)
    generating = max(write.seconds - write.prompt_tokens / prompt_speed, 1e-6)
    return Speed(spec, prompt_speed, max(write.completion_tokens, 1) / generating)


def expected_duration(speeds: dict[str, Speed], work: dict[str, Work]) -> str:
    """One line: the expected minutes and the speeds they come from.

    Example:
        >>> speeds = {"test": Speed("local:qwen2.5-coder-0.5b", 90.0, 30.0),
        ...           "sleep": Speed("local:qwen2.5-coder-1.5b", 30.0, 10.0)}
        >>> expected_duration(speeds, {"test": Work(9000, 1800), "sleep": Work(900, 300)})[:40]
        'expected duration ~4 min on this machine'
    """
    seconds = sum(work[phase].seconds(speed) for phase, speed in speeds.items())
    measured = "; ".join(dict.fromkeys(f"{s.model}: {s.prompt_tokens_per_second:.0f} prompt / "
                                       f"{s.generated_tokens_per_second:.0f} generated tokens/s"
                                       for s in speeds.values()))
    minutes = max(1, round(seconds / 60))
    return f"expected duration ~{minutes} min on this machine ({measured}; measured just now)"
