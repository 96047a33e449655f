"""``sleeptime evaluate`` and ``sleeptime compile``: run or compile a program for a Budget from the shell.

Examples::

    sleeptime evaluate --data ours --split test --n 30 --verbosity 0 --no-sleep --out results.jsonl
    sleeptime evaluate --budget-json '{"sleep_samples": 3, "test_verbosity": 2}' --adapter both
    sleeptime compile --data ours --test-verbosity 2 --out-dir compiled/v2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BUDGET_FLAGS = {  # flag dest -> Budget field
    "verbosity": "test_verbosity", "test_max_tokens": "test_max_tokens", "sleep_samples": "sleep_samples",
    "sleep_rounds": "sleep_rounds", "sleep_max_tokens": "sleep_max_tokens", "sleep_model": "sleep_model",
    "test_model": "test_model", "compiled": "compiled",
}


def _common(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", default="ours", help="dataset name or JSONL path (default: ours)")
    data.add_argument("--split", default="test", choices=("train", "dev", "test", "all"))
    data.add_argument("--n", type=int, default=None, help="first N examples of the split")
    data.add_argument("--seed", type=int, default=0, help="split and sampling seed")
    budget = parser.add_argument_group("budget (flags override --budget-json)")
    budget.add_argument("--budget-json", default=None, help="a Budget as JSON, e.g. '{\"sleep_samples\": 3}'")
    budget.add_argument("--verbosity", "--test-verbosity", dest="verbosity", type=int, default=None)
    budget.add_argument("--test-max-tokens", type=int, default=None)
    budget.add_argument("--sleep-samples", type=int, default=None)
    budget.add_argument("--sleep-rounds", type=int, default=None)
    budget.add_argument("--sleep-max-tokens", type=int, default=None)
    budget.add_argument("--no-sleep", action="store_true", help="test-time only (Budget.use_sleep=False)")
    budget.add_argument("--model", default=None, help="model spec for both phases")
    budget.add_argument("--sleep-model", default=None)
    budget.add_argument("--test-model", default=None)
    budget.add_argument("--compiled", default=None, help="compiled program dir to take prompts from")
    run = parser.add_argument_group("run")
    run.add_argument("--api-base", default=None, help="OpenAI-compatible server for openai/<model> specs")
    run.add_argument("--adapter", default="chat", choices=("chat", "plain", "both"),
                     help="prompt format; 'both' (evaluate only) runs each and compares them")
    run.add_argument("--threads", type=int, default=1)
    run.add_argument("--store", default=None,
                     help="learned-context SQLite file (default: user cache dir; ':memory:' for none)")
    run.add_argument("--retries", type=int, default=3, help="LM retries before a row is recorded as an error")


def budget_from_args(args: argparse.Namespace):
    from programs.budget import Budget

    budget = Budget.from_json(args.budget_json) if args.budget_json else Budget()
    changes = {field: getattr(args, flag) for flag, field in BUDGET_FLAGS.items()
               if getattr(args, flag, None) is not None}
    if args.model:
        changes.setdefault("sleep_model", args.model)
        changes.setdefault("test_model", args.model)
    if args.no_sleep:
        changes["use_sleep"] = False
    return budget.replace(**changes)


def _examples(args: argparse.Namespace) -> list:
    from optimize.data.loaders import load_examples

    split = None if args.split == "all" else args.split
    return load_examples(args.data, split=split, seed=args.seed, limit=args.n)


def _store(args: argparse.Namespace):
    from programs.store import default_store_path, open_store

    return open_store(args.store if args.store is not None else default_store_path())


def _print_summary(title: str, summary: dict) -> None:
    print(f"\n{title}")
    for key, value in summary.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"  {key:<28} {shown}")


def run_evaluate(args: argparse.Namespace) -> int:
    from optimize.evaluate import evaluate
    from optimize.metrics import paired_difference, summarize
    from programs.api import build_program, load
    from programs.lm import TokenLedger

    budget = None if args.program else budget_from_args(args)
    examples = _examples(args)
    if not examples:
        print(f"no examples in --data {args.data} --split {args.split}", file=sys.stderr)
        return 2
    store, lm_options = _store(args), {"num_retries": args.retries}
    adapters = ("chat", "plain") if args.adapter == "both" else (args.adapter,)
    frames = {}
    for adapter in adapters:
        ledger = TokenLedger()
        if args.program:
            program = load(args.program, ledger=ledger, store=store, api_base=args.api_base,
                           lm_options=lm_options)
        else:
            program = build_program(budget, ledger=ledger, store=store, api_base=args.api_base,
                                    adapter=adapter, baseline=args.baseline, k=args.k, seed=args.seed,
                                    lm_options=lm_options)
        out = args.out
        if out and len(adapters) > 1:
            out = str(Path(out).with_suffix("")) + f".{adapter}.jsonl"
        frames[adapter] = evaluate(program, examples, ledger=ledger, num_threads=args.threads,
                                   results_path=out)
        summary = summarize(frames[adapter], questions_per_context=args.questions_per_context,
                            price_ratio=args.price_ratio, tokens=args.tokens)
        _print_summary(f"{type(program).__name__} adapter={adapter} "
                       f"budget={json.dumps(program.budget.to_dict())}", summary)
    if len(frames) == 2:
        _print_summary("plain minus chat (paired on question_id)",
                       paired_difference(frames["plain"], frames["chat"]))
    return 0


def run_compile(args: argparse.Namespace) -> int:
    from optimize.compile import compile_program
    from optimize.data.loaders import load_examples

    if args.adapter == "both":
        print("--adapter both is for evaluate; compile one adapter at a time", file=sys.stderr)
        return 2
    budget = budget_from_args(args)
    train = load_examples(args.data, split="train", seed=args.seed, limit=args.n)
    dev = load_examples(args.data, split="dev", seed=args.seed, limit=args.dev_n)
    out_dir = args.out_dir or f"compiled/{args.optimizer}"
    _, scores = compile_program(
        budget, train, devset=dev, optimizer=args.optimizer, max_demos=args.max_demos,
        token_penalty=args.token_penalty, reflection_model=args.reflection_model, api_base=args.api_base,
        adapter=args.adapter, out_dir=out_dir, seed=args.seed, num_threads=args.threads,
        data={"source": args.data, "train": len(train), "dev": len(dev), "seed": args.seed},
        track=not args.no_mlflow, lm_options={"num_retries": args.retries})
    _print_summary(f"compiled -> {out_dir}", scores)
    return 0


def register(subparsers) -> None:
    evaluate = subparsers.add_parser("evaluate", help="answer and score a split with one program/budget")
    _common(evaluate)
    evaluate.add_argument("--program", default=None, help="a saved program directory (instead of a budget)")
    evaluate.add_argument("--baseline", default=None, choices=("majority", "pass-at-k"))
    evaluate.add_argument("--k", type=int, default=5, help="samples for --baseline")
    evaluate.add_argument("--out", default=None, help="results JSONL (resumes if it exists)")
    evaluate.add_argument("--price-ratio", type=float, default=10.0, help="test-token price in sleep tokens")
    evaluate.add_argument("--questions-per-context", type=float, default=None,
                          help="N for amortization (default: observed)")
    evaluate.add_argument("--tokens", default="completion", choices=("completion", "total"))
    evaluate.set_defaults(func=run_evaluate)

    compile_ = subparsers.add_parser("compile", help="compile prompts with a DSPy optimizer (train split)")
    _common(compile_)
    compile_.add_argument("--optimizer", default="bootstrap", choices=("bootstrap", "mipro", "gepa"))
    compile_.add_argument("--max-demos", type=int, default=2)
    compile_.add_argument("--token-penalty", type=float, default=0.0,
                          help="lambda: score = correct - lambda * test tokens / test_max_tokens")
    compile_.add_argument("--reflection-model", default=None, help="model spec for GEPA/MIPRO proposals")
    compile_.add_argument("--dev-n", type=int, default=None, help="first N dev examples to score")
    compile_.add_argument("--out-dir", default=None, help="where to save (default compiled/<optimizer>)")
    compile_.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    compile_.set_defaults(func=run_compile)
