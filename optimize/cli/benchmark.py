"""``sleeptime benchmark``: the paper's seven questions, measured on held-out templates, for each test model.

Sizes: ``quick`` (3 contexts, every question, ~30 min on 2 cores), ``standard`` (the whole test split of
``data/stateful_gsm.jsonl`` plus an optional second held-out set, questions 1-4 and 7, the 1.5B in both
phases and the 1.5B sleeping for the 0.5B; results and raw rows under ``docs/benchmarks/<name>/`` so the run
resumes on another machine from committed rows) and ``full`` (10 contexts, every question, hours).

Run it::

    sleeptime benchmark --size quick --name bench-quick
    # standard: hours on 2 CPU cores; run it in the background and follow the log
    nohup sleeptime benchmark --size standard --heldout mlruns/gsm-symbolic-heldout.jsonl \\
        --name standard > bench-standard.log 2>&1 &

Reproducing the paper's setting needs no code change: the harness talks to any OpenAI-compatible endpoint::

    sleeptime benchmark --size full --test-models openai/gpt-4o-mini --sleep-model openai/gpt-4o \\
        --contexts 60 --name paper-4o
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from optimize.bench.errors import BenchmarkError
from optimize.bench.estimate import estimate_seconds, format_estimate, power_line
from optimize.bench.presets import LARGE_MODEL, PRESETS
from optimize.bench.questions import QUESTION_IDS, parse_only

HELDOUT_HINT = (
    "generate it with `sleeptime data generate --templates ../shared/data/gsm-symbolic/templates "
    "--per-template 2 --seed 2026 --skip-broken --checked --out mlruns/gsm-symbolic-heldout.jsonl` "
    "(the set BENCHMARKS.md reports; never committed)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    from optimize.cli.flags import (
        add_run_flags,
        add_subcommand,
        non_negative_int,
        positive_float,
        positive_int,
    )

    parser = add_subcommand(subparsers, "benchmark",
                            help="answer the paper's seven questions on held-out templates")
    parser.add_argument("--size", choices=list(PRESETS), default="quick",
                        help="quick (~30 min on 2 cores), standard (the whole test split, hours; rows "
                        "committed under docs/benchmarks/) or full (hours)")
    parser.add_argument("--test-models", default=None,
                        help="comma-separated test-time model specs (default: the size's; standard runs "
                        f"{','.join(PRESETS['standard'].test_models)})")
    parser.add_argument("--sleep-model", default=LARGE_MODEL, help="sleep-time model spec")
    parser.add_argument("--contexts", type=int, default=None,
                        help="held-out contexts (default: the size's; standard takes every context)")
    parser.add_argument("--search-trials", type=non_negative_int, default=None, metavar="N",
                        help="Optuna trials of question 6 (default: the size's; standard runs none)")
    parser.add_argument("--heldout", default=None, metavar="PATH",
                        help="a second held-out JSONL (GSM-Symbolic templates), answered like the test "
                        "split; " + HELDOUT_HINT)
    parser.add_argument("--heldout-contexts", type=positive_int, default=None, metavar="N",
                        help="answer only N contexts of the --heldout set, one per template first (default: "
                        "all; 147 takes one context of each GSM-Symbolic template, half the time)")
    parser.add_argument("--name", default=None,
                        help="results folder and MLflow run prefix (default: bench-<size>)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="results directory (default: docs/benchmarks/<name> for standard, "
                        "$SLEEPTIME_MLRUNS_DIR/results/<name> otherwise)")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    parser.add_argument("--only", default=None,
                        help="comma list of questions, answered in this order, e.g. q1,q3 (default: the "
                        f"size's; all: {','.join(QUESTION_IDS)})")
    parser.add_argument("--detect", type=positive_float, default=0.10,
                        help="accuracy difference the power estimate is computed for")
    add_run_flags(parser, threads=None)
    parser.set_defaults(func=benchmark_command)


def _threads(args: argparse.Namespace, models: list[str]) -> int:
    if args.threads:
        return int(args.threads)
    try:
        from programs.lm import suggested_concurrency
    except ImportError:  # the LM layer without slot support: one request at a time
        return 1
    return min(suggested_concurrency(m) for m in models)


def preset_from_args(args: argparse.Namespace):
    """The size's preset with ``--contexts`` and ``--search-trials`` applied.

    Example:
        >>> args = argparse.Namespace(size="standard", contexts=None, search_trials=16)
        >>> preset_from_args(args).search_trials, preset_from_args(args).contexts
        (16, None)
    """
    preset = PRESETS[args.size]
    if args.contexts is not None:
        if args.contexts < 1:
            raise BenchmarkError(f"--contexts must be at least 1, got {args.contexts}")
        preset = replace(preset, contexts=args.contexts)
    if args.search_trials is not None:
        preset = replace(preset, search_trials=args.search_trials)
    return preset


def load_heldout(path: str | None, contexts: int | None = None) -> list:
    """The second held-out set (every question of ``contexts`` of its contexts, spread across templates, when
    given), or an empty list with a message when it is not given."""
    from optimize.data.loaders import load_examples
    from optimize.data.splits import spread_contexts

    if not path:
        print(f"second held-out set: skipped (no --heldout); {HELDOUT_HINT}", flush=True)
        return []
    if not Path(path).is_file():
        raise BenchmarkError(f"--heldout {path} is not a file; {HELDOUT_HINT}")
    examples = load_examples(path)
    return examples if contexts is None else spread_contexts(examples, contexts)


def _counts(examples: list) -> str:
    contexts = len({e.get("context_id") for e in examples})
    templates = len({e.get("template_id") for e in examples})
    return f"{len(examples)} questions in {contexts} contexts from {templates} templates"


def benchmark_command(args: argparse.Namespace) -> int:
    import optuna

    from optimize.bench.orchestration import BenchmarkRun, answers_on_file, pilot_from_rows, run_benchmark
    from optimize.data.loaders import load_examples
    from optimize.data.splits import spread_contexts
    from optimize.tracking.runs import Tracker, default_mlruns_dir
    from programs.store import default_store_path, open_store

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    preset = preset_from_args(args)
    models = args.test_models if args.test_models is not None else ",".join(preset.test_models)
    test_models = [m.strip() for m in models.split(",") if m.strip()]
    if not test_models:
        raise BenchmarkError("--test-models is empty; pass e.g. local:qwen2.5-coder-0.5b")
    only = parse_only(args.only) if args.only is not None else preset.questions
    name = args.name or f"bench-{args.size}"
    split = load_examples("ours", split="test")
    test = split if preset.contexts is None else spread_contexts(split, preset.contexts)
    train = spread_contexts(load_examples("ours", split="train"), preset.contexts or 10)[
        : preset.compile_train_questions
    ]
    if args.heldout_contexts is not None and not args.heldout:
        raise BenchmarkError("--heldout-contexts needs --heldout PATH (the set to take them from); "
                             + HELDOUT_HINT)
    heldout = load_heldout(args.heldout, args.heldout_contexts)
    n_contexts = len({e.context_id for e in test})
    threads = _threads(args, [*test_models, args.sleep_model])
    parts = estimate_seconds(preset, test_models, args.sleep_model, n_questions=len(test) + len(heldout),
                             n_contexts=n_contexts + len({e.get("context_id") for e in heldout}), only=only,
                             threads=threads)
    if args.out:
        results_dir = Path(args.out)
    elif preset.committed:
        results_dir = Path("docs") / "benchmarks" / name
    else:
        results_dir = default_mlruns_dir() / "results" / name
    print(f"benchmark {name}: size {args.size}, questions {','.join(only)} in this order; test models "
          f"{test_models}, sleep model {args.sleep_model}, {threads} concurrent requests", flush=True)
    print(f"test split of data/stateful_gsm.jsonl: {_counts(test)}", flush=True)
    if heldout:
        print(f"second held-out set {args.heldout}: {_counts(heldout)}", flush=True)
    print(f"results and raw rows: {results_dir.resolve()}", flush=True)
    print(format_estimate(parts), flush=True)
    started = time.perf_counter()
    run = BenchmarkRun(
        test_examples=test,
        train_examples=train,
        preset=preset,
        test_models=test_models,
        sleep_model=args.sleep_model,
        results_dir=results_dir,
        name=name,
        only=only,
        api_base=args.api_base,
        store=open_store(args.store if args.store is not None else default_store_path()),
        tracker=False if args.no_mlflow else Tracker(),
        compile_tracking=not args.no_mlflow,
        heldout=heldout or None,
        threads=threads,
        lm_options={"num_retries": args.retries},
        meta={
            "size": args.size,
            "command": " ".join(["sleeptime", *sys.argv[1:]]),
            "estimate_seconds": parts,
            "data": "ours (data/stateful_gsm.jsonl), split test"
            + (f"; held-out {args.heldout}" if heldout else ""),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    print(power_line(args.detect, len(test), n_contexts, pilot_from_rows(run)), flush=True)
    present, needed = answers_on_file(run)
    reused = f"{present} of {needed} grid answers were already on file and reused"
    if present:
        print(f"{reused}: the estimate above is for the whole run, what remains takes less", flush=True)
    summary = run_benchmark(run)
    elapsed = time.perf_counter() - started
    print(f"\nsummary: {summary}\nresults: {summary.parent}\ndone in {elapsed / 60:.1f} min "
          f"(whole-run estimate {parts['total'] / 60:.0f} min; {reused})")
    return 0
