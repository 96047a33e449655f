"""Per-question result rows, as `evaluate` writes them, for table and pairing tests (imported beside them)."""

from __future__ import annotations

import pandas as pd


def answer_rows(correct, *, sleep: bool, test_completion: int, test_prompt: int, sleep_prompt: int = 200,
                sleep_completion: int = 100) -> pd.DataFrame:
    """One row per entry of ``correct``: two questions per context, three templates and predictability
    labels in turn, every token count the same on each row (sleep tokens only when ``sleep``)."""
    n = len(correct)
    sleep_prompt, sleep_completion = (sleep_prompt, sleep_completion) if sleep else (0, 0)
    return pd.DataFrame({
        "question_id": [f"q{i}" for i in range(n)], "context_id": [f"c{i // 2}" for i in range(n)],
        "template_id": [f"t{i % 3}" for i in range(n)],
        "predictability": [("high", "medium", "low")[i % 3] for i in range(n)],
        "correct": correct, "extracted": [float(c) for c in correct], "error": [None] * n,
        "test_completion_tokens": [test_completion] * n, "test_prompt_tokens": [test_prompt] * n,
        "test_tokens": [test_prompt + test_completion] * n,
        "sleep_completion_tokens": [sleep_completion] * n, "sleep_prompt_tokens": [sleep_prompt] * n,
        "sleep_tokens": [sleep_prompt + sleep_completion] * n,
        "truncated": [False] * n, "parse_error": [False] * n})
