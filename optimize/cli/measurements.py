"""`python3 -m optimize.cli.measurements <mode>`: the flags of :mod:`optimize.deploy.measurements`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from optimize.cli.flags import positive_float
from optimize.deploy import measurements
from optimize.markdown import markdown_table


def _common(parser: argparse.ArgumentParser, n: int) -> None:
    parser.add_argument("--data", default="ours", help="dataset name or JSONL path (default: ours)")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test", "all"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports/deploy", help="folder for the JSON/CSV results")
    parser.add_argument("--model", default="local:qwen2.5-coder-0.5b", help="model spec for both phases")
    parser.add_argument("--sleep-model", default=None)
    parser.add_argument("--test-model", default=None)
    parser.add_argument("--store", default=None, help="learned-context store (default: a fresh one)")
    parser.add_argument("-n", "--n", type=int, default=n, help="questions")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m optimize.cli.measurements",
                                     description=measurements.__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    lat = modes.add_parser("latency", help="(a) test-time latency and time to first token")
    _common(lat, 30)
    lat.add_argument("--verbosities", type=lambda s: [int(v) for v in s.split(",")], default=[0, 2, 4],
                     help="test-time-only verbosities to compare, e.g. 0,2,4")
    lat.add_argument("--notes-verbosity", type=int, default=0)
    lat.add_argument("--sleep-samples", type=int, default=1, help="sleep samples for the learned contexts")
    lat.add_argument("--sleep-max-tokens", type=int, default=512, help="token cap of each sleep-time call")
    lat.add_argument("--max-tokens", type=int, default=None,
                     help="test-time token cap (default: the Budget's, per verbosity where it has one)")
    for name, kill in (("load", False), ("kill", True)):
        sub = modes.add_parser(name, help="(c) server killed mid-load and restarted" if kill
                               else "(b) concurrent clients against sleeptime serve")
        _common(sub, 0)
        sub.add_argument("--questions", type=int, default=200)
        sub.add_argument("--contexts", type=int, default=20)
        sub.add_argument("--clients", type=int, default=8)
        sub.add_argument("--policy", default="wait", choices=("wait", "test-only", "require"))
        sub.add_argument("--deadline", type=float, default=60.0, help="seconds an ask waits for notes")
        sub.add_argument("--retries", type=int, default=60 if kill else 3)
        sub.add_argument("--backoff", type=float, default=1.0)
        sub.add_argument("--budget", default=None, help="Budget fields as JSON for the server")
        sub.add_argument("--scheduler", default="break-even", choices=("break-even", "always", "never"))
        sub.add_argument("--sleep-workers", type=int, default=1)
        sub.add_argument("--max-concurrency", type=int, default=2)
        sub.add_argument("--server-url", default=None, help="load an already running server instead")
        if kill:
            sub.add_argument("--kill-at", type=float, default=0.5, help="fraction of answers before the kill")
    for name, text in (("scheduler", "(d) scheduler saving against always- and never-sleep"),
                       ("predictability", "(e) predictability estimate against the measured gain")):
        sub = modes.add_parser(name, help=text)
        _common(sub, 0)
        sub.add_argument("--rows", action="append", required=True,
                         help="LABEL=PATH of evaluate's rows: sleep-k1=..., test-v0=... (repeat)")
        sub.add_argument("--tokens", default="completion", choices=("completion", "total"))
        sub.add_argument("--method", default="overlap", choices=("label", "overlap", "forced"),
                         help="predictability estimate (forced decoding needs a llama.cpp model)")
        if name == "scheduler":
            sub.add_argument("-N", "--questions-per-context", type=lambda s: [int(v) for v in s.split(",")],
                             default=[1, 3, 10])
            sub.add_argument("-t", "--price-ratio", type=positive_float, default=10.0)
        else:
            sub.add_argument("--methods", default=None, help="several methods, e.g. label,overlap,forced")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if args.mode == "latency":
        result = measurements.latency(
            data=args.data, split=args.split, seed=args.seed, n=args.n, model=args.model,
            sleep_model=args.sleep_model, test_model=args.test_model, store=args.store,
            verbosities=args.verbosities, notes_verbosity=args.notes_verbosity,
            sleep_samples=args.sleep_samples, sleep_max_tokens=args.sleep_max_tokens,
            max_tokens=args.max_tokens)
        measurements.write_result(out, "latency.csv", result["table"])
        measurements.write_result(out, "latency_rows.csv", result["rows"])
        measurements.write_result(out, "latency_verdict.json", result["verdict"])
        print(markdown_table(result["table"], 3, empty="(no rows)"), end="")
        print(json.dumps(result["verdict"], indent=2, default=str))
    elif args.mode in ("load", "kill"):
        kill = args.mode == "kill"
        summary = measurements.load(
            out=out, data=args.data, split=args.split, seed=args.seed, questions=args.questions,
            contexts=args.contexts, clients=args.clients, policy=args.policy, deadline=args.deadline,
            retries=args.retries, backoff=args.backoff, model=args.model, sleep_model=args.sleep_model,
            test_model=args.test_model, budget=args.budget, scheduler=args.scheduler,
            sleep_workers=args.sleep_workers, max_concurrency=args.max_concurrency, store=args.store,
            server_url=args.server_url, kill=kill, kill_at=args.kill_at if kill else 0.5)
        measurements.write_result(out, f"{args.mode}.json", summary)
        print(json.dumps(summary, indent=2, default=str))
    elif args.mode == "scheduler":
        frames = measurements.read_labelled_rows(args.rows)
        estimates = measurements.context_predictability(frames, args.data, args.method, args.model)
        table = measurements.scheduler_savings(frames, estimates, questions=args.questions_per_context,
                                  price_ratio=args.price_ratio, tokens=args.tokens)
        measurements.write_result(out, "scheduler.csv", table)
        print(markdown_table(table, 3, empty="(no rows)"), end="")
    else:
        frames = measurements.read_labelled_rows(args.rows)
        sleep = [f for label, f in frames.items() if label.startswith("sleep")]
        test = [f for label, f in frames.items() if label.startswith("test")]
        if len(sleep) != 1 or len(test) != 1:
            raise SystemExit("error: predictability takes one sleep-... and one test-... rows file")
        methods = (args.methods or args.method).split(",")
        estimates = {m: measurements.question_predictability(sleep[0], args.data, m, args.model)
                     for m in methods}
        table = measurements.predictability_correlation(sleep[0], test[0], estimates, tokens=args.tokens)
        measurements.write_result(out, "predictability.csv", table)
        print(markdown_table(table, 3, empty="(no rows)"), end="")
    print(f"results in {out}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
