"""`sleeptime compare`: the flags of :func:`optimize.reports.compare.comparison_table`."""

from __future__ import annotations

import argparse
from pathlib import Path

from optimize.markdown import markdown_table
from optimize.reports import compare


def _variant(text: str) -> tuple[str, tuple[str | None, str]]:
    """``[NAME=][PROGRAM_DIR:]ROWS.jsonl`` -> ``(NAME, (PROGRAM_DIR or None, ROWS))``; NAME defaults to the
    file's stem. The path follows the last ``=``, so a name may hold one (``notes k=2=rows.jsonl``).

    Example:
        >>> _variant("runs/other.jsonl"), _variant("mipro=programs/mipro:runs/mipro.jsonl")
        (('other', (None, 'runs/other.jsonl')), ('mipro', ('programs/mipro', 'runs/mipro.jsonl')))
        >>> _variant("notes k=2=runs/k2.jsonl")
        ('notes k=2', (None, 'runs/k2.jsonl'))
    """
    name, sep, rest = text.rpartition("=")
    if not sep:
        name, rest = Path(text).stem, text
    program_dir, _, rows = rest.rpartition(":")
    if not name or not rows:
        raise argparse.ArgumentTypeError(f"expected [NAME=][PROGRAM_DIR:]ROWS.jsonl, got {text!r}")
    return name, (program_dir or None, rows)


def run_compare(args: argparse.Namespace) -> int:
    variants = dict(args.variants)
    if not variants:
        raise compare.CompareError("give at least one results file to compare with the baseline, e.g. "
                           "`sleeptime compare base.jsonl other.jsonl`")
    table = compare.comparison_table(args.baseline, variants, baseline_name=args.baseline_name)
    text = markdown_table(table, None, missing="") + "\n" + table.attrs["note"] + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        table.to_csv(Path(args.out).with_suffix(".csv"), index=False)
        print(f"written: {args.out} and {Path(args.out).with_suffix('.csv')}")
    if args.plot:
        from optimize.reports.scaling import plot_sleep_scaling

        print(f"written: {plot_sleep_scaling(table, Path(args.plot), baseline=args.baseline_name)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """``sleeptime compare``."""
    from optimize.cli.flags import add_subcommand

    parser = add_subcommand(subparsers, "compare",
                            help="paired, clustered differences of results files against a baseline's",
                            epilog=compare.__doc__.split("\n\n", 1)[1])
    parser.add_argument("baseline", help="results JSONL (of sleeptime evaluate --out) the others pair with")
    parser.add_argument("variants", type=_variant, nargs="*", metavar="[NAME=][PROGRAM_DIR:]ROWS.jsonl",
                        help="results to compare; PROGRAM_DIR (a compiled program) adds its compile cost")
    parser.add_argument("--baseline-name", default="baseline", help="the baseline's label in the table")
    parser.add_argument("--out", default=None, help="also write the table as markdown here (.csv beside it)")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="also draw accuracy against sleep tokens per context (test-only runs as lines)")
    parser.set_defaults(func=run_compare, more_positionals=("variants", _variant))
