"""`sleeptime benchmark`: the paper's seven questions, measured on held-out templates, for each test model.

Questions (each answered per test model on the test split of ``load_examples("ours", split="test")``):

1. Pareto shift: test-time tokens at equal accuracy, with vs without sleep time (verbosity grid).
2. Scaling sleep-time compute: accuracy gain from k samples and rethink rounds at one test budget.
3. Amortization: cost per query with N questions per context, against test-time-only at matched accuracy.
4. Predictability: the sleep-time gain per predictability label (paired differences with CIs).
5. Compiled prompts (DSPy BootstrapFewShot) against hand-written ones at the same budgets.
6. What a short Optuna search finds on the combined Pareto front that the fixed grid missed.
7. Test-time latency with and without sleep time, and what the llama.cpp prefix cache saves (warm vs cold).

Every configuration is evaluated through the sweep/search machinery (:func:`optimize.sweep.run_sweep`,
:func:`optimize.search.run_search`): one MLflow parent run per question group and test model with a child
run per configuration, per-example rows persisted under ``mlruns/results/<name>/<model>/rows/`` (one JSONL
per configuration, shared by every group, so a configuration is never answered twice and a re-run skips
finished rows), learned contexts shared through the store (same sleep budget + sleep model = same key).
The answers land in ``mlruns/results/<name>/``: ``q1_pareto.csv`` .. ``q7_latency.csv``, ``configs.csv``
(every configuration that ran), ``meta.json`` (machine, models, data, command) and ``summary.md``
(:mod:`optimize.benchmark_summary`), plus the report's four figures per test model.

Run it::

    sleeptime benchmark --size quick --test-models local:qwen2.5-coder-0.5b,local:qwen2.5-coder-1.5b \\
        --sleep-model local:qwen2.5-coder-1.5b --name bench-quick
    # full: hours on 2 CPU cores; run it in the background and follow the log
    nohup sleeptime benchmark --size full --test-models local:qwen2.5-coder-0.5b,local:qwen2.5-coder-1.5b \\
        --sleep-model local:qwen2.5-coder-1.5b --name bench-full > bench-full.log 2>&1 &

Reproducing the paper's setting (a strong model on fast hardware) needs no code change: the harness talks
to any OpenAI-compatible endpoint. With an API key::

    export OPENAI_API_KEY=sk-...
    sleeptime benchmark --size full --test-models openai/gpt-4o-mini --sleep-model openai/gpt-4o \\
        --contexts 60 --name paper-4o

With a GPU server (vLLM, llama.cpp, Ollama) serving e.g. Qwen2.5-7B-Instruct on ``http://gpu:8000/v1``::

    sleeptime benchmark --size full --test-models openai/qwen2.5-7b-instruct@http://gpu:8000/v1 \\
        --sleep-model openai/qwen2.5-7b-instruct@http://gpu:8000/v1 --contexts 60 --name paper-7b

The warm/cold prompt-cache measurement of question 7 sends llama.cpp's ``cache_prompt: false``; it runs
for local models and ``@URL`` servers (OpenAI's own API would reject the field, so it is skipped there).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

QUESTIONS = ("q1", "q2", "q3", "q4", "q5", "q6", "q7")
QUESTION_FILES = {
    "q1": "q1_pareto.csv",
    "q2": "q2_sleep_scaling.csv",
    "q3": "q3_amortization.csv",
    "q4": "q4_predictability.csv",
    "q5": "q5_compiled.csv",
    "q6": "q6_search.csv",
    "q7": "q7_latency.csv",
}
PRICE_RATIO = 10.0
AMORTIZATION_N = tuple(range(1, 11))
PREDICTABILITY_ORDER = ("high", "medium", "low")
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


class BenchmarkError(ValueError):
    """Bad benchmark input (size, models, question list): the message names the problem and the fix."""


# -- presets ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preset:
    """What one benchmark size runs.

    Example:
        >>> PRESETS["quick"].verbosities
        (0, 2, 4)
        >>> replace(PRESETS["quick"], contexts=5).contexts
        5
    """

    contexts: int
    verbosities: tuple[int, ...]
    k_values: tuple[int, ...]
    rounds: tuple[int, ...]
    k_verbosity: int
    compile_train_questions: int
    compile_max_demos: int
    compile_verbosities: tuple[int, ...]
    search_trials: int
    test_max_tokens: int = 256
    sleep_max_tokens: int = 512


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
    ),
}


def base_budget(preset: Preset, test_model: str, sleep_model: str):
    from programs.budget import Budget

    return Budget(
        test_model=test_model,
        sleep_model=sleep_model,
        test_max_tokens=preset.test_max_tokens,
        sleep_max_tokens=preset.sleep_max_tokens,
    )


def preset_budgets(preset: Preset, test_model: str, sleep_model: str) -> dict[str, list]:
    """The Budgets each question group evaluates (compiled ones are added once compiled).

    ``pareto`` (q1, q3, q4): every verbosity with sleep time (k=1, no rethink) and without;
    ``scaling`` (q2): every k x rounds at ``k_verbosity`` plus test-time only at that verbosity;
    ``compiled`` (q5): the uncompiled sleep-time program at each compile verbosity (its compiled twin is
    added after compiling); ``latency`` (q7): the sleep-time program at verbosity 0.
    """
    base = base_budget(preset, test_model, sleep_model)
    pareto = [base.replace(use_sleep=s, test_verbosity=v) for s in (True, False) for v in preset.verbosities]
    scaling = [
        base.replace(use_sleep=True, test_verbosity=preset.k_verbosity, sleep_samples=k, sleep_rounds=r)
        for k in preset.k_values
        for r in preset.rounds
    ]
    scaling.append(base.replace(use_sleep=False, test_verbosity=preset.k_verbosity))
    compiled = [base.replace(use_sleep=True, test_verbosity=v) for v in preset.compile_verbosities]
    latency = [base.replace(use_sleep=True, test_verbosity=0)]
    return {"pareto": pareto, "scaling": scaling, "compiled": compiled, "latency": latency}


def search_space(preset: Preset, test_model: str, sleep_model: str):
    """The Optuna space of question 6: the grid's dimensions plus a test token cap the grid keeps fixed."""
    from optimize.search import SearchSpace

    caps = tuple(sorted({128, preset.test_max_tokens}))
    return SearchSpace(
        use_sleep=(True, False),
        test_verbosity=preset.verbosities,
        test_max_tokens=caps,
        sleep_samples=preset.k_values,
        sleep_rounds=preset.rounds,
        sleep_max_tokens=(preset.sleep_max_tokens,),
        sleep_model=(sleep_model,),
        test_model=(test_model,),
    )


# -- time estimate ------------------------------------------------------------------------------------------
def _speed(model: str) -> tuple[float, float]:
    return MODEL_SPEEDS.get(model, FALLBACK_SPEED)


def _answer_seconds(model: str, verbosity: int, n_questions: int, cache: bool = True) -> float:
    prompt_speed, gen_speed = _speed(model)
    # The first question of each context (and every question with the cache off) reads the whole prompt.
    first = 1 / QUESTIONS_PER_CONTEXT
    prompt = first * TEST_PROMPT + (1 - first) * TEST_PROMPT_UNCACHED if cache else TEST_PROMPT
    return n_questions * (prompt / prompt_speed + ANSWER_TOKENS[verbosity] / gen_speed)


def _sleep_seconds(model: str, k: int, rounds: int, n_contexts: int) -> float:
    prompt_speed, gen_speed = _speed(model)
    one = SLEEP_PROMPT / prompt_speed + SLEEP_GENERATED / gen_speed
    merge = (SLEEP_PROMPT + SLEEP_GENERATED * k) / prompt_speed + SLEEP_GENERATED / gen_speed if k > 1 else 0
    rethink = rounds * ((SLEEP_PROMPT + SLEEP_GENERATED) / prompt_speed + SLEEP_GENERATED / gen_speed)
    return n_contexts * (k * one + merge + rethink)


def estimate_seconds(
    preset: Preset,
    test_models: Sequence[str],
    sleep_model: str,
    *,
    n_questions: int,
    n_contexts: int,
    only: Sequence[str] = QUESTIONS,
) -> dict[str, float]:
    """Expected wall time per part (seconds), from the token shapes and the models' measured speeds.

    Sleep work is counted once per sleep budget: the store shares it across verbosities and test models.
    Search trials are counted at the mean grid configuration's cost, half of them assumed new.

    Example:
        >>> parts = estimate_seconds(PRESETS["quick"], ["local:qwen2.5-coder-0.5b"],
        ...                          "local:qwen2.5-coder-1.5b",
        ...                          n_questions=11, n_contexts=3)
        >>> 0 < parts["total"] < 3600
        True
    """
    wanted = set(only)
    parts = {"sleep": 0.0, "grid": 0.0, "compile": 0.0, "search": 0.0, "latency": 0.0}
    sleep_budgets = set()
    if wanted & {"q1", "q3", "q4", "q5", "q7"}:
        sleep_budgets.add((1, 0))
    if "q2" in wanted:
        sleep_budgets |= {(k, r) for k in preset.k_values for r in preset.rounds}
    parts["sleep"] = sum(_sleep_seconds(sleep_model, k, r, n_contexts) for k, r in sleep_budgets)
    train_contexts = max(1, math.ceil(preset.compile_train_questions / 3.8))
    for model in test_models:
        configs: set[tuple] = set()
        if wanted & {"q1", "q3", "q4"}:
            configs |= {(s, v) for s in (True, False) for v in preset.verbosities}
        if "q2" in wanted:
            configs |= {(True, preset.k_verbosity, k, r) for k in preset.k_values for r in preset.rounds}
            configs.add((False, preset.k_verbosity))
        grid = sum(_answer_seconds(model, c[1], n_questions) for c in configs)
        parts["grid"] += grid
        if "q5" in wanted:
            for v in preset.compile_verbosities:
                parts["compile"] += _answer_seconds(
                    model, v, n_questions + preset.compile_train_questions
                ) + _sleep_seconds(sleep_model, 1, 0, n_contexts + train_contexts)
                if not wanted & {"q1", "q3", "q4"}:
                    parts["compile"] += _answer_seconds(model, v, n_questions)
        if "q6" in wanted:
            mean_config = grid / max(len(configs), 1) if configs else _answer_seconds(model, 2, n_questions)
            parts["search"] += 0.5 * preset.search_trials * mean_config
        if "q7" in wanted:
            parts["latency"] += _answer_seconds(model, 0, n_questions) + _answer_seconds(
                model, 0, n_questions, cache=False
            )
    parts["total"] = sum(parts.values())
    return parts


def format_estimate(parts: dict[str, float]) -> str:
    detail = ", ".join(f"{k} {v / 60:.1f}" for k, v in parts.items() if k != "total" and v > 0)
    return f"expected duration ~{parts['total'] / 60:.0f} min ({detail} min; rough, from measured speeds)"


# -- the arithmetic of the answers (pure; tested against hand-computed numbers) -----------------------------
def _as_bool(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "1.0")


def ratio_at_equal_accuracy(configs) -> Any:
    """Question 1: for each sleep-time config, the cheapest test-time-only config at least as accurate.

    ``token_ratio`` = test-only mean test tokens / sleep-time mean test tokens, reported with both
    accuracies; when no test-only config reaches the sleep config's accuracy, ``matched`` is False, the
    ratio is NaN and ``note`` says so (the most accurate test-only config is named for reference).

    Example:
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"config_id": ["s0", "t0", "t4"], "use_sleep": [True, False, False],
        ...     "test_verbosity": [0, 0, 4], "accuracy": [0.6, 0.4, 0.7], "mean_test_tokens": [20, 18, 200],
        ...     "accuracy_ci_low": [0.3, 0.2, 0.4], "accuracy_ci_high": [0.8, 0.6, 0.9]})
        >>> ratio_at_equal_accuracy(rows)["token_ratio"].tolist()
        [10.0]
    """
    import pandas as pd

    df = configs.copy()
    df["use_sleep"] = df["use_sleep"].map(_as_bool)
    sleep, test = df[df["use_sleep"]], df[~df["use_sleep"]]
    rows = []
    for _, s in sleep.sort_values("mean_test_tokens").iterrows():
        as_good = test[test["accuracy"] >= s["accuracy"]]
        row = {
            "sleep_config_id": s["config_id"],
            "sleep_verbosity": int(s["test_verbosity"]),
            "sleep_samples": int(s.get("sleep_samples", 1)),
            "sleep_rounds": int(s.get("sleep_rounds", 0)),
            "sleep_accuracy": s["accuracy"],
            "sleep_ci_low": s.get("accuracy_ci_low"),
            "sleep_ci_high": s.get("accuracy_ci_high"),
            "sleep_test_tokens": s["mean_test_tokens"],
        }
        if len(as_good):
            t = as_good.sort_values(["mean_test_tokens", "accuracy"], ascending=[True, False]).iloc[0]
            ratio = t["mean_test_tokens"] / s["mean_test_tokens"] if s["mean_test_tokens"] > 0 else math.nan
            note = (
                f"test-time only needs {t['mean_test_tokens']:.0f} tokens (verbosity "
                f"{int(t['test_verbosity'])}, accuracy {t['accuracy']:.2f}) to match {s['accuracy']:.2f}"
            )
            matched = True
        elif len(test):
            t = test.sort_values(["accuracy", "mean_test_tokens"], ascending=[False, True]).iloc[0]
            ratio, matched = math.nan, False
            note = (
                f"no test-time-only config reached accuracy {s['accuracy']:.2f}; the most accurate has "
                f"{t['accuracy']:.2f} at {t['mean_test_tokens']:.0f} tokens"
            )
        else:
            t, ratio, matched, note = None, math.nan, False, "no test-time-only configs ran"
        row.update(
            {
                "test_config_id": None if t is None else t["config_id"],
                "test_verbosity": None if t is None else int(t["test_verbosity"]),
                "test_accuracy": None if t is None else t["accuracy"],
                "test_ci_low": None if t is None else t.get("accuracy_ci_low"),
                "test_ci_high": None if t is None else t.get("accuracy_ci_high"),
                "test_test_tokens": None if t is None else t["mean_test_tokens"],
                "matched": matched,
                "token_ratio": ratio,
                "note": note,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def amortization(configs, *, price_ratio: float = PRICE_RATIO, questions: Sequence[int] = AMORTIZATION_N):
    """Question 3: cost per query as N grows, for every sleep-time config against its matched baseline.

    cost_sleep(N) = t * test_tokens_sleep + sleep_tokens_per_context / N;
    cost_test_only = t * test_tokens_baseline, where the baseline is the cheapest test-only config at least
    as accurate as the sleep config (``matched``), else the most accurate one (``matched`` False).

    Example:
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"config_id": ["s", "t"], "use_sleep": [True, False],
        ...     "test_verbosity": [0, 3], "accuracy": [0.5, 0.5], "mean_test_tokens": [10.0, 50.0],
        ...     "sleep_tokens_per_context": [300.0, 0]})
        >>> table = amortization(rows, questions=(1, 10))
        >>> table["cost_sleep"].tolist(), table["cost_ratio"].tolist()
        ([400.0, 130.0], [1.25, 3.8461538461538463])
    """
    import pandas as pd

    df = configs.copy()
    df["use_sleep"] = df["use_sleep"].map(_as_bool)
    sleep, test = df[df["use_sleep"]], df[~df["use_sleep"]]
    rows = []
    if test.empty:
        return pd.DataFrame(rows)
    for _, s in sleep.iterrows():
        as_good = test[test["accuracy"] >= s["accuracy"]]
        matched = bool(len(as_good))
        pool = (
            as_good.sort_values("mean_test_tokens")
            if matched
            else test.sort_values(["accuracy", "mean_test_tokens"], ascending=[False, True])
        )
        t = pool.iloc[0]
        per_context = float(s.get("sleep_tokens_per_context", 0.0) or 0.0)
        cost_test = price_ratio * float(t["mean_test_tokens"])
        for n in questions:
            cost_sleep = price_ratio * float(s["mean_test_tokens"]) + per_context / n
            rows.append(
                {
                    "sleep_config_id": s["config_id"],
                    "sleep_verbosity": int(s["test_verbosity"]),
                    "sleep_samples": int(s.get("sleep_samples", 1)),
                    "sleep_rounds": int(s.get("sleep_rounds", 0)),
                    "sleep_accuracy": s["accuracy"],
                    "test_config_id": t["config_id"],
                    "test_verbosity": int(t["test_verbosity"]),
                    "test_accuracy": t["accuracy"],
                    "matched": matched,
                    "questions_per_context": n,
                    "price_ratio": price_ratio,
                    "sleep_test_tokens": float(s["mean_test_tokens"]),
                    "sleep_tokens_per_context": per_context,
                    "test_test_tokens": float(t["mean_test_tokens"]),
                    "cost_sleep": cost_sleep,
                    "cost_test_only": cost_test,
                    "cost_ratio": cost_test / cost_sleep if cost_sleep else math.nan,
                }
            )
    return pd.DataFrame(rows)


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
    from optimize.metrics import mean_interval

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
    from optimize.metrics import mean_interval

    shared = sorted(set(a) & set(b))
    mean, low, high = mean_interval([a[q] - b[q] for q in shared])
    return {"n": len(shared), "difference": mean, "ci_low": low, "ci_high": high}


# -- evaluation plumbing ------------------------------------------------------------------------------------
def model_label(spec: str) -> str:
    """A folder-safe name of a model spec (never including an @URL)."""
    name = spec.split("@", 1)[0]
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-")


def canonical_id(budget, base) -> str:
    """The id of what a Budget actually runs: without sleep time its sleep fields are irrelevant, so a
    search trial's test-time-only Budget and the grid's one (different unused sleep fields) are the same."""
    from optimize.search import budget_id

    if not budget.use_sleep:
        budget = budget.replace(
            sleep_samples=base.sleep_samples,
            sleep_rounds=base.sleep_rounds,
            sleep_max_tokens=base.sleep_max_tokens,
            sleep_model=base.sleep_model,
        )
    return budget_id(budget)


def shared_rows_evaluator(evaluator: Callable, rows_dir: Path, base) -> Callable:
    """Send every group's rows for a configuration to one file (named by :func:`canonical_id`), so a
    configuration is answered once however many groups or search trials ask for it."""

    def evaluate_shared(budget, examples, *, results_path=None, store=None, ledger=None):
        target = rows_dir / f"{canonical_id(budget, base)}.jsonl" if results_path is not None else None
        return evaluator(budget, examples, results_path=target, store=store, ledger=ledger)

    return evaluate_shared


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
    from optimize.evaluate import evaluate, read_results
    from optimize.search import budget_id
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


# -- the benchmark ------------------------------------------------------------------------------------------
def machine_facts() -> dict[str, Any]:
    cpu, ram = platform.processor() or "unknown", None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram": ram,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _configs_of(frame_dir: Path):
    import pandas as pd

    path = frame_dir / "configs.csv"
    if not path.exists() or path.stat().st_size <= 1:
        return pd.DataFrame()
    return pd.read_csv(path)


def _frames(model_dir: Path) -> dict[str, Any]:
    """Per-example rows of every configuration of one model, by config id (from the groups' frames)."""
    import pandas as pd

    frames: dict[str, Any] = {}
    for path in sorted(model_dir.glob("*/frames/*.csv")):
        frames.setdefault(path.stem, pd.read_csv(path))
    return frames


def _sleep_key_columns(row) -> tuple:
    return (int(row["test_verbosity"]), int(row.get("sleep_samples", 1)), int(row.get("sleep_rounds", 0)))


def _pick(configs, **fields):
    df = configs
    for name, value in fields.items():
        if name not in df.columns:
            return None
        if name == "compiled":
            df = df[df["compiled"].isna()] if value is None else df[df["compiled"].notna()]
        elif name == "use_sleep":
            df = df[df["use_sleep"].map(_as_bool) == value]
        else:
            df = df[df[name] == value]
    return df.iloc[0] if len(df) else None


def _paired_row(frames: dict, a, b, **extra) -> dict:
    from optimize.metrics import paired_difference

    if a is None or b is None or a["config_id"] not in frames or b["config_id"] not in frames:
        return {
            **extra,
            "n": 0,
            "difference": math.nan,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "note": "one side did not run",
        }
    d = paired_difference(frames[a["config_id"]], frames[b["config_id"]])
    return {
        **extra,
        "config_a": a["config_id"],
        "config_b": b["config_id"],
        **d,
        "accuracy_a_ci_low": a.get("accuracy_ci_low"),
        "accuracy_a_ci_high": a.get("accuracy_ci_high"),
        "accuracy_b_ci_low": b.get("accuracy_ci_low"),
        "accuracy_b_ci_high": b.get("accuracy_ci_high"),
    }


def scaling_table(configs, frames: dict, preset: Preset):
    """Question 2: every (k, rounds) sleep config at the fixed verbosity, paired against k=1/no rethink and
    against test-time only at the same verbosity."""
    import pandas as pd

    v = preset.k_verbosity
    plain = configs[configs["compiled"].isna()] if "compiled" in configs else configs
    reference = _pick(plain, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0)
    test_only = _pick(plain, use_sleep=False, test_verbosity=v)
    rows = []
    for k in preset.k_values:
        for r in preset.rounds:
            config = _pick(plain, use_sleep=True, test_verbosity=v, sleep_samples=k, sleep_rounds=r)
            if config is None:
                continue
            base = {
                "test_verbosity": v,
                "sleep_samples": k,
                "sleep_rounds": r,
                "accuracy": config["accuracy"],
                "accuracy_ci_low": config["accuracy_ci_low"],
                "accuracy_ci_high": config["accuracy_ci_high"],
                "mean_test_tokens": config["mean_test_tokens"],
                "sleep_tokens_per_context": config.get("sleep_tokens_per_context"),
            }
            rows.append(_paired_row(frames, config, reference, **base, versus="sleep k=1, rounds=0"))
            rows.append(_paired_row(frames, config, test_only, **base, versus="test-time only"))
    return pd.DataFrame(rows)


def predictability_pairs(configs, frames: dict, preset: Preset):
    """Question 4: sleep (k=1) minus test-only at the same verbosity, per predictability label; also pooled
    over verbosities (questions repeat there, so that interval is optimistic)."""
    import pandas as pd

    from optimize.metrics import paired_difference

    plain = configs[configs["compiled"].isna()] if "compiled" in configs else configs
    rows, pooled = [], {}
    for v in preset.verbosities:
        sleep = _pick(plain, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0)
        test = _pick(plain, use_sleep=False, test_verbosity=v)
        if (
            sleep is None
            or test is None
            or sleep["config_id"] not in frames
            or test["config_id"] not in frames
        ):
            continue
        a, b = frames[sleep["config_id"]], frames[test["config_id"]]
        labels = [x for x in PREDICTABILITY_ORDER if x in set(a["predictability"].astype(str))]
        labels += sorted(set(a["predictability"].astype(str)) - set(labels))
        for label in labels:
            a_l, b_l = (
                a[a["predictability"].astype(str) == label],
                b[b["predictability"].astype(str) == label],
            )
            if len(a_l) == 0:
                continue
            d = paired_difference(a_l, b_l)
            rows.append({"test_verbosity": str(v), "predictability": label, **d})
            key = (label,)
            pooled.setdefault(key, ([], []))
            pooled[key][0].append(a_l.assign(question_id=a_l["question_id"].astype(str) + f"@v{v}"))
            pooled[key][1].append(b_l.assign(question_id=b_l["question_id"].astype(str) + f"@v{v}"))
    for (label,), (a_parts, b_parts) in pooled.items():
        d = paired_difference(pd.concat(a_parts), pd.concat(b_parts))
        rows.append({"test_verbosity": "pooled", "predictability": label, **d})
    return pd.DataFrame(rows)


def compiled_table(configs, frames: dict, preset: Preset):
    import pandas as pd

    rows = []
    for v in preset.compile_verbosities:
        plain = _pick(
            configs, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0, compiled=None
        )
        compiled = _pick(
            configs, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0, compiled="any"
        )
        extra = {"test_verbosity": v}
        for name, row in (("compiled", compiled), ("uncompiled", plain)):
            if row is not None:
                extra.update(
                    {
                        f"{name}_accuracy": row["accuracy"],
                        f"{name}_ci_low": row["accuracy_ci_low"],
                        f"{name}_ci_high": row["accuracy_ci_high"],
                        f"{name}_test_tokens": row["mean_test_tokens"],
                    }
                )
        rows.append(_paired_row(frames, compiled, plain, **extra))
    return pd.DataFrame(rows)


def search_table(grid_configs, search_configs, base=None):
    """Question 6: the combined (grid + search) Pareto front; which search configs are on it but not in
    the grid (compared by :func:`canonical_id`, so an equivalent test-time-only trial is not 'new')."""
    import pandas as pd

    from optimize.pareto import pareto_front
    from optimize.search import OBJECTIVES
    from programs.budget import Budget

    grid = grid_configs.assign(origin="grid")
    search = search_configs.assign(origin="search") if len(search_configs) else pd.DataFrame()
    both = pd.concat([grid, search], ignore_index=True)
    if both.empty:
        return both
    fields = set(Budget().to_dict())

    def key(row) -> str:
        if base is None:
            return row["config_id"]
        values = {k: row[k] for k in fields if k in row and pd.notna(row[k])}
        values["use_sleep"] = _as_bool(values.get("use_sleep", True))
        for name in (
            "test_verbosity",
            "test_max_tokens",
            "sleep_samples",
            "sleep_rounds",
            "sleep_max_tokens",
        ):
            if name in values:
                values[name] = int(values[name])
        return canonical_id(Budget.from_dict(values), base)

    both["canonical_id"] = both.apply(key, axis=1)
    both = both.drop_duplicates(subset=["config_id", "origin"])
    unique = both.drop_duplicates(subset=["canonical_id"])
    front = pareto_front(unique[[n for n, _ in OBJECTIVES]].to_numpy().tolist(), [d for _, d in OBJECTIVES])
    on_front = set(unique.iloc[front]["canonical_id"])
    grid_ids = set(both.loc[both["origin"] == "grid", "canonical_id"])
    both["on_combined_front"] = both["canonical_id"].isin(on_front)
    both["in_grid"] = both["canonical_id"].isin(grid_ids)
    both["found_by_search_only"] = (both["origin"] == "search") & ~both["in_grid"] & both["on_combined_front"]
    return both


def latency_table(configs, frames: dict, preset: Preset, measured: dict[str, tuple]):
    """Question 7: per-verbosity test seconds with vs without sleep (grid rows), and the warm/cold cache
    measurement (ledger calls)."""
    import pandas as pd

    from optimize.metrics import mean_interval

    plain = configs[configs["compiled"].isna()] if "compiled" in configs else configs
    rows = []
    for v in preset.verbosities:
        sleep = _pick(plain, use_sleep=True, test_verbosity=v, sleep_samples=1, sleep_rounds=0)
        test = _pick(plain, use_sleep=False, test_verbosity=v)
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
        rows.append(
            {
                "measurement": "prompt cache",
                "test_verbosity": 0,
                "mode": mode,
                "config_id": config_id,
                **stats,
            }
        )
    if {"warm", "cold"} <= set(seconds_by_mode):
        d = paired_seconds(seconds_by_mode["cold"], seconds_by_mode["warm"])
        rows.append(
            {
                "measurement": "prompt cache",
                "test_verbosity": 0,
                "mode": "cold minus warm",
                "n": d["n"],
                "mean_seconds": d["difference"],
                "seconds_ci_low": d["ci_low"],
                "seconds_ci_high": d["ci_high"],
            }
        )
    return pd.DataFrame(rows)


@dataclass
class BenchmarkRun:
    """Everything one benchmark invocation needs; :func:`run_benchmark` fills the results directory.

    Example::

        run = BenchmarkRun(test_examples=spread_contexts(load_examples("ours", split="test"), 3),
                           train_examples=load_examples("ours", split="train")[:4], preset=PRESETS["quick"],
                           test_models=["local:qwen2.5-coder-0.5b"], sleep_model="local:qwen2.5-coder-1.5b",
                           results_dir=Path("mlruns/results/bench"))
        run_benchmark(run)
    """

    test_examples: list
    train_examples: list
    preset: Preset
    test_models: list[str]
    sleep_model: str
    results_dir: Path
    name: str = "benchmark"
    only: tuple[str, ...] = QUESTIONS
    api_base: str | None = None
    store: Any = None
    tracker: Any = False
    storage: str | None = None
    evaluator: Callable | None = None
    lm_options: dict | None = None
    compile_tracking: bool = False
    progress: bool = True
    meta: dict = None  # type: ignore[assignment]


def _run_group(
    run: BenchmarkRun,
    model_dir: Path,
    group: str,
    budgets: list,
    evaluator: Callable,
    n_per_context: float,
    label: str,
):
    from optimize.sweep import run_sweep

    return run_sweep(
        run.test_examples,
        budgets=budgets,
        name=f"{run.name}-{label}-{group}",
        grid=group,
        questions_per_context=n_per_context,
        price_ratio=PRICE_RATIO,
        store=run.store,
        tracker=run.tracker,
        split="test",
        evaluator=evaluator,
        results_dir=model_dir / group,
        progress=run.progress,
    )


def _compile(run: BenchmarkRun, budget, out_dir: Path) -> str:
    from optimize.compile import compile_program

    if not (out_dir / "program.json").exists():
        compile_program(
            budget,
            list(run.train_examples),
            optimizer="bootstrap",
            max_demos=run.preset.compile_max_demos,
            api_base=run.api_base,
            out_dir=out_dir,
            track=run.compile_tracking,
            progress=run.progress,
            data={"source": "ours", "split": "train", "n": len(run.train_examples)},
            lm_options=run.lm_options,
        )
    return str(out_dir.resolve())


def _run_search(
    run: BenchmarkRun, model_dir: Path, test_model: str, evaluator: Callable, n_per_context: float, label: str
):
    from optuna.trial import TrialState

    from optimize.search import open_study, run_search

    study_name = f"{run.name}-{label}-search"
    storage = run.storage or f"sqlite:///{(run.results_dir / 'optuna.db').resolve()}"
    study = open_study(storage, study_name, questions_per_context=n_per_context, price_ratio=PRICE_RATIO)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    remaining = run.preset.search_trials - done
    if remaining > 0:
        run_search(
            run.test_examples,
            n_trials=remaining,
            storage=storage,
            study_name=study_name,
            questions_per_context=n_per_context,
            price_ratio=PRICE_RATIO,
            space=search_space(run.preset, test_model, run.sleep_model),
            store=run.store,
            tracker=run.tracker,
            split="test",
            evaluator=evaluator,
            results_dir=model_dir / "search",
            progress=run.progress,
        )
    return _configs_of(model_dir / "search")


def run_benchmark(run: BenchmarkRun) -> Path:
    """Run every asked question for every test model; write the question tables and ``summary.md``."""
    import pandas as pd

    from optimize.benchmark_summary import write_summary
    from optimize.report import write_report
    from optimize.search import budget_id, evaluate_budget

    unknown = sorted(set(run.only) - set(QUESTIONS))
    if unknown:
        raise BenchmarkError(f"unknown question(s) {unknown} in --only; use a comma list of {QUESTIONS}")
    if not run.test_examples:
        raise BenchmarkError("no held-out examples; check --contexts (at least 1)")
    results = Path(run.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    n_contexts = len({e.get("context_id") for e in run.test_examples})
    n_per_context = len(run.test_examples) / max(n_contexts, 1)
    base_eval = run.evaluator or (
        lambda b, ex, **kw: evaluate_budget(b, ex, api_base=run.api_base, progress=run.progress, **kw)
    )
    wanted = set(run.only)
    tables: dict[str, list] = {q: [] for q in QUESTIONS}
    all_configs = []
    for test_model in run.test_models:
        label = model_label(test_model)
        model_dir = results / label
        base = base_budget(run.preset, test_model, run.sleep_model)
        evaluator = shared_rows_evaluator(base_eval, model_dir / "rows", base)
        groups = preset_budgets(run.preset, test_model, run.sleep_model)
        print(
            f"== {test_model}: {len(run.test_examples)} held-out questions, {n_contexts} contexts", flush=True
        )
        parts = []
        if wanted & {"q1", "q3", "q4", "q7"}:
            parts.append(
                _run_group(run, model_dir, "pareto", groups["pareto"], evaluator, n_per_context, label)
            )
        if "q2" in wanted:
            parts.append(
                _run_group(run, model_dir, "scaling", groups["scaling"], evaluator, n_per_context, label)
            )
        if "q5" in wanted:
            compiled = []
            for budget in groups["compiled"]:
                path = _compile(run, budget, model_dir / "compiled" / f"v{budget.test_verbosity}")
                compiled += [budget, budget.replace(compiled=path)]
            parts.append(_run_group(run, model_dir, "compiled", compiled, evaluator, n_per_context, label))
        grid = (
            pd.concat([p for p in parts if len(p)], ignore_index=True)
            if any(len(p) for p in parts)
            else (pd.DataFrame())
        )
        if len(grid):
            grid = grid.drop_duplicates(subset=["config_id"]).reset_index(drop=True)
        search = (
            _run_search(run, model_dir, test_model, evaluator, n_per_context, label)
            if "q6" in wanted
            else pd.DataFrame()
        )
        measured = {}
        if "q7" in wanted:
            budget = groups["latency"][0]
            modes = ["warm"] + (["cold"] if cold_cache_supported(test_model) else [])
            for mode in modes:
                _, calls = measure_latency(
                    budget,
                    run.test_examples,
                    mode=mode,
                    out_dir=model_dir / "latency",
                    store=run.store,
                    api_base=run.api_base,
                    lm_options=run.lm_options,
                    progress=run.progress,
                )
                measured[mode] = (budget_id(budget), calls)
        frames = _frames(model_dir)
        everything = pd.concat(
            [
                grid.assign(origin="grid") if len(grid) else grid,
                search.assign(origin="search") if len(search) else search,
            ],
            ignore_index=True,
        )
        if len(everything):
            everything = everything.drop_duplicates(subset=["config_id"]).reset_index(drop=True)
            if "compiled" not in everything:
                everything["compiled"] = None
            all_configs.append(everything)
        tagged = everything if len(everything) else pd.DataFrame(columns=["compiled"])
        pareto_grid = (
            tagged[tagged["config_id"].isin([budget_id(b) for b in groups["pareto"]])]
            if len(tagged)
            else tagged
        )
        if "q1" in wanted and len(pareto_grid):
            tables["q1"].append(ratio_at_equal_accuracy(pareto_grid).assign(test_model=test_model))
        if "q2" in wanted and len(tagged):
            tables["q2"].append(scaling_table(tagged, frames, run.preset).assign(test_model=test_model))
        if "q3" in wanted and len(pareto_grid):
            tables["q3"].append(amortization(pareto_grid).assign(test_model=test_model))
        if "q4" in wanted and len(tagged):
            tables["q4"].append(
                predictability_pairs(tagged, frames, run.preset).assign(test_model=test_model)
            )
        if "q5" in wanted and len(tagged):
            tables["q5"].append(compiled_table(tagged, frames, run.preset).assign(test_model=test_model))
        if "q6" in wanted:
            tables["q6"].append(search_table(grid, search, base).assign(test_model=test_model))
        if "q7" in wanted and len(tagged):
            tables["q7"].append(
                latency_table(tagged, frames, run.preset, measured).assign(test_model=test_model)
            )
        if len(everything):
            examples = pd.concat(list(frames.values()), ignore_index=True) if frames else pd.DataFrame()
            try:
                write_report(everything, examples, model_dir / "report")
            except Exception as exc:  # the figures are a view; the question tables are the answer
                print(f"report figures for {test_model} failed: {exc}", file=sys.stderr)
    for q in QUESTIONS:
        frame = (
            pd.concat([t for t in tables[q] if len(t)], ignore_index=True)
            if any(len(t) for t in tables[q])
            else pd.DataFrame()
        )
        frame.to_csv(results / QUESTION_FILES[q], index=False)
    configs = pd.concat(all_configs, ignore_index=True) if all_configs else pd.DataFrame()
    configs.to_csv(results / "configs.csv", index=False)
    meta = {
        **(run.meta or {}),
        "name": run.name,
        "preset": asdict(run.preset),
        "test_models": run.test_models,
        "sleep_model": run.sleep_model,
        "only": list(run.only),
        "n_questions": len(run.test_examples),
        "n_contexts": n_contexts,
        "context_ids": sorted({str(e.get("context_id")) for e in run.test_examples}),
        "n_train": len(run.train_examples),
        "price_ratio": PRICE_RATIO,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    meta.setdefault("machine", machine_facts())
    (results / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    summary = write_summary(results)
    if run.tracker:
        parent = run.tracker.start_parent(
            f"benchmark-{run.name}",
            kind="benchmark",
            tags={"sleeptime.benchmark": run.name},
            params={"size": meta.get("size"), "test_models": run.test_models, "sleep_model": run.sleep_model},
            resume_key=f"benchmark:{run.name}",
        )
        for path in [
            summary,
            results / "configs.csv",
            results / "meta.json",
            *[results / f for f in QUESTION_FILES.values()],
        ]:
            run.tracker.log_file(parent, path, "benchmark")
        run.tracker.finish(parent, "FINISHED")
    return summary


# -- command line -------------------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="answer the paper's seven questions on held-out templates",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--size",
        choices=sorted(PRESETS),
        default="quick",
        help="quick (~30 min on 2 cores for both local models) or full (hours)",
    )
    parser.add_argument(
        "--test-models", default="local:qwen2.5-coder-0.5b", help="comma-separated test-time model specs"
    )
    parser.add_argument("--sleep-model", default="local:qwen2.5-coder-1.5b", help="sleep-time model spec")
    parser.add_argument("--contexts", type=int, default=None, help="held-out contexts (overrides the size)")
    parser.add_argument(
        "--name", default=None, help="results folder and MLflow run prefix (default: bench-<size>)"
    )
    parser.add_argument("--api-base", default=None, help="OpenAI-compatible server for openai/<model> specs")
    parser.add_argument("--store", default=None, help="learned-context SQLite store (default: user cache)")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    parser.add_argument("--only", default=",".join(QUESTIONS), help="comma list of questions, e.g. q1,q7")
    parser.set_defaults(func=benchmark_command)


def _parse_only(text: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(x.strip().lower() for x in text.split(",") if x.strip()))
    unknown = sorted(set(items) - set(QUESTIONS))
    if unknown or not items:
        raise BenchmarkError(
            f"--only {text!r} names unknown question(s) {unknown}; use e.g. --only q1,q3,q7 "
            f"(known: {','.join(QUESTIONS)})"
        )
    return items


def benchmark_command(args: argparse.Namespace) -> int:
    import optuna

    from optimize.data.loaders import load_examples
    from optimize.data.splits import spread_contexts
    from optimize.tracking import Tracker, default_mlruns_dir
    from programs.store import default_store_path, open_store

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    preset = PRESETS[args.size]
    if args.contexts is not None:
        if args.contexts < 1:
            raise BenchmarkError(f"--contexts must be at least 1, got {args.contexts}")
        preset = replace(preset, contexts=args.contexts)
    test_models = [m.strip() for m in args.test_models.split(",") if m.strip()]
    if not test_models:
        raise BenchmarkError("--test-models is empty; pass e.g. local:qwen2.5-coder-0.5b")
    only = _parse_only(args.only)
    name = args.name or f"bench-{args.size}"
    test = spread_contexts(load_examples("ours", split="test"), preset.contexts)
    train = spread_contexts(load_examples("ours", split="train"), preset.contexts)[
        : preset.compile_train_questions
    ]
    n_contexts = len({e.context_id for e in test})
    parts = estimate_seconds(
        preset, test_models, args.sleep_model, n_questions=len(test), n_contexts=n_contexts, only=only
    )
    print(
        f"benchmark {name}: size {args.size}, {len(test)} held-out questions in {n_contexts} contexts, "
        f"test models {test_models}, sleep model {args.sleep_model}",
        flush=True,
    )
    print(format_estimate(parts), flush=True)
    started = time.perf_counter()
    run = BenchmarkRun(
        test_examples=test,
        train_examples=train,
        preset=preset,
        test_models=test_models,
        sleep_model=args.sleep_model,
        results_dir=default_mlruns_dir() / "results" / name,
        name=name,
        only=only,
        api_base=args.api_base,
        store=open_store(args.store if args.store is not None else default_store_path()),
        tracker=False if args.no_mlflow else Tracker(),
        compile_tracking=not args.no_mlflow,
        meta={
            "size": args.size,
            "command": " ".join(["sleeptime", *sys.argv[1:]]),
            "estimate_seconds": parts,
            "data": "ours (data/stateful_gsm.jsonl), split test",
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    summary = run_benchmark(run)
    elapsed = time.perf_counter() - started
    print(
        f"\nsummary: {summary}\nresults: {summary.parent}\ndone in {elapsed / 60:.1f} min "
        f"(estimated {parts['total'] / 60:.0f} min)"
    )
    return 0
