"""Question 7's measurements: test-time seconds from ledger calls, the prompt cache warm vs cold, and the
latency table (grid seconds with vs without sleep time, plus the warm/cold pair).

The warm/cold measurement sends llama.cpp's ``cache_prompt: false``; it runs for local models and ``@URL``
servers (OpenAI's own API would reject the field, so it is skipped there).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from optimize.bench.errors import BenchmarkError
from optimize.reports.metrics import mean_interval

TEST_ONLY_MODE = "test_only"
"""Key of the timed test-time-only run in a part's measurements (beside ``warm`` and ``cold``)."""


def latency_from_calls(rows: Sequence[dict]) -> dict[str, float]:
    """Question 7's per-mode numbers from per-question ledger calls.

    Each row is ``{"question_id", "calls": [LMCall as dict, ...]}``; only test-phase calls count.
    Returns n, mean test seconds per query (with a 95% interval), prompt tokens, cached prompt tokens and
    the cached fraction of prompt tokens.

    Example:
        >>> rows = [{"question_id": "a", "calls": [{"phase": "test", "seconds": 2.0, "prompt_tokens": 100,
        ...          "cached_prompt_tokens": 0, "completion_tokens": 5}]},
        ...         {"question_id": "b", "calls": [{"phase": "test", "seconds": 1.0, "prompt_tokens": 100,
        ...          "cached_prompt_tokens": 80, "completion_tokens": 5}]}]
        >>> stats = latency_from_calls(rows)
        >>> stats["mean_seconds"], stats["cached_fraction"]
        (1.5, 0.4)
    """

    seconds, prompt, cached, completion = [], 0, 0, 0
    for row in rows:
        calls = [c for c in row.get("calls", []) if c.get("phase") == "test"]
        seconds.append(sum(float(c.get("seconds", 0.0)) for c in calls))
        prompt += sum(int(c.get("prompt_tokens", 0)) for c in calls)
        cached += sum(int(c.get("cached_prompt_tokens", 0) or 0) for c in calls)
        completion += sum(int(c.get("completion_tokens", 0)) for c in calls)
    mean, low, high = mean_interval(seconds)
    n = len(seconds)
    return {
        "n": n,
        "mean_seconds": mean,
        "seconds_ci_low": low,
        "seconds_ci_high": high,
        "mean_prompt_tokens": prompt / n if n else math.nan,
        "mean_cached_prompt_tokens": cached / n if n else math.nan,
        "mean_completion_tokens": completion / n if n else math.nan,
        "cached_fraction": cached / prompt if prompt else math.nan,
    }


def paired_seconds(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """Mean per-question difference of seconds (a - b) over shared question ids, with a 95% interval."""

    shared = sorted(set(a) & set(b))
    mean, low, high = mean_interval([a[q] - b[q] for q in shared])
    return {"n": len(shared), "difference": mean, "ci_low": low, "ci_high": high}


class _CallRecorder:
    """Wraps a program so the ledger calls of each question are kept (for cached prompt tokens)."""

    def __init__(self, program, ledger, calls_path: Path, ids: dict[tuple[str, str], str]) -> None:
        self.program, self.ledger, self.calls_path, self.ids = program, ledger, calls_path, ids
        self.needs_gold = bool(getattr(program, "needs_gold", False))

    def __call__(self, **kwargs):
        with self.ledger.scope() as scope:
            try:
                return self.program(**kwargs)
            finally:
                qid = self.ids.get((kwargs.get("context"), kwargs.get("question")))
                record = {"question_id": qid, "calls": [asdict(call) for call in scope.calls]}
                with self.calls_path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")


def cold_cache_supported(spec: str) -> bool:
    """``cache_prompt`` is a llama.cpp field: send it to local models and @URL servers, not to OpenAI."""
    return spec.startswith("local:") or "@" in spec


def measure_latency(
    budget,
    examples: Sequence,
    *,
    mode: str,
    out_dir: Path,
    store=None,
    api_base: str | None = None,
    lm_options: dict | None = None,
    progress: bool = True,
):
    """Answer ``examples`` with the prompt cache ``warm`` (questions of a context back to back, context
    first) or ``cold`` (``cache_prompt: false`` on every request); rows and per-question ledger calls are
    persisted in ``out_dir`` and resumed. Returns ``(rows frame, [{"question_id", "calls"}])``."""
    from optimize.experiments.evaluate import evaluate
    from optimize.experiments.runner import budget_id
    from optimize.reports.rows import read_results
    from programs import build_program
    from programs.lm.ledger import TokenLedger

    if mode not in ("warm", "cold"):
        raise BenchmarkError(f"latency mode must be 'warm' or 'cold', got {mode!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{budget_id(budget)}-{mode}"
    options = dict(lm_options or {})
    if mode == "cold":
        options["extra_body"] = {**options.get("extra_body", {}), "cache_prompt": False}
    ledger = TokenLedger()
    program = build_program(budget, ledger=ledger, store=store, api_base=api_base, lm_options=options or None)
    ids = {(e.get("context"), e.get("question")): str(e.get("question_id")) for e in examples}
    calls_path = out_dir / f"{stem}-calls.jsonl"
    recorder = _CallRecorder(program, ledger, calls_path, ids)
    frame = evaluate(
        recorder,
        list(examples),
        ledger=ledger,
        num_threads=1,
        results_path=out_dir / f"{stem}.jsonl",
        progress=progress,
    )
    latest = {r["question_id"]: r for r in read_results(calls_path) if r.get("question_id")}
    wanted = {str(e.get("question_id")) for e in examples}
    return frame, [latest[q] for q in sorted(latest) if q in wanted]


def latency_table(configs, frames: dict, preset, measured: dict[str, tuple]) -> pd.DataFrame:
    """Question 7: per-verbosity test seconds with vs without sleep (grid rows, as they ran), the warm/cold
    cache measurement and the timed sleep vs test-only pair (ledger calls, one request at a time)."""
    from optimize.bench.selection import pick_today

    plain = configs[configs["compiled"].isna()] if "compiled" in configs else configs
    rows = []
    for v in [v for v in preset.verbosities if v in preset.sleep_grid]:
        sleep = pick_today(plain, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0)
        test = pick_today(plain, use_sleep=False, test_verbosity=v)
        per_config = {}
        for name, config in (("sleep", sleep), ("test_only", test)):
            if config is None or config["config_id"] not in frames:
                continue
            frame = frames[config["config_id"]]
            mean, low, high = mean_interval(frame["test_seconds"].tolist())
            per_config[name] = dict(zip(frame["question_id"].astype(str), frame["test_seconds"], strict=True))
            rows.append(
                {
                    "measurement": "grid",
                    "test_verbosity": v,
                    "mode": name,
                    "config_id": config["config_id"],
                    "n": len(frame),
                    "mean_seconds": mean,
                    "seconds_ci_low": low,
                    "seconds_ci_high": high,
                    "mean_prompt_tokens": frame["test_prompt_tokens"].mean(),
                    "mean_completion_tokens": frame["test_completion_tokens"].mean(),
                }
            )
        if len(per_config) == 2:
            d = paired_seconds(per_config["sleep"], per_config["test_only"])
            rows.append(
                {
                    "measurement": "grid",
                    "test_verbosity": v,
                    "mode": "sleep minus test_only",
                    "n": d["n"],
                    "mean_seconds": d["difference"],
                    "seconds_ci_low": d["ci_low"],
                    "seconds_ci_high": d["ci_high"],
                }
            )
    seconds_by_mode = {}
    for mode, (config_id, calls) in measured.items():
        stats = latency_from_calls(calls)
        seconds_by_mode[mode] = {
            r["question_id"]: sum(c["seconds"] for c in r["calls"] if c["phase"] == "test") for r in calls
        }
        measurement = "timed" if mode == TEST_ONLY_MODE else "prompt cache"
        rows.append({"measurement": measurement, "test_verbosity": 0, "mode": mode, "config_id": config_id,
                     **stats})
    for measurement, (a, b), label in (("prompt cache", ("cold", "warm"), "cold minus warm"),
                                       ("timed", ("warm", TEST_ONLY_MODE), "sleep minus test_only")):
        if {a, b} <= set(seconds_by_mode):
            d = paired_seconds(seconds_by_mode[a], seconds_by_mode[b])
            rows.append({"measurement": measurement, "test_verbosity": 0, "mode": label, "n": d["n"],
                         "mean_seconds": d["difference"], "seconds_ci_low": d["ci_low"],
                         "seconds_ci_high": d["ci_high"]})
    return pd.DataFrame(rows)


