"""`python3 -m optimize.cli.throughput`: the flags of :mod:`optimize.bench.throughput`."""

from __future__ import annotations

import argparse

from optimize.bench import throughput


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m optimize.cli.throughput",
                                     description=throughput.__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(throughput.DEFAULT_MODELS))
    parser.add_argument("--slots", default="1,2,4,8", help="slot counts (concurrent requests = slots)")
    parser.add_argument("--verbosities", default="0,3")
    parser.add_argument("--speculative", default="none",
                        help="speculative decoding kinds to compare (none, ngram-simple, ngram-map-k, "
                             "ngram-mod, draft: the 0.5B drafts for the 1.5B)")
    parser.add_argument("--data", default="ours")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--n", type=int, default=12, help="questions per cell (the first n of the split)")
    parser.add_argument("--out", default="docs/benchmarks/throughput")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    table = throughput.run_throughput(
        models=args.models.split(","), slots=[int(s) for s in args.slots.split(",")],
        verbosities=[int(v) for v in args.verbosities.split(",")], speculative=args.speculative.split(","),
        data=args.data, split=args.split, n=args.n, out=args.out)
    print(throughput.throughput_markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
