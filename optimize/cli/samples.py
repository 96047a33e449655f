"""`sleeptime samples export / import`: the programs a computed sleep strategy kept in its store, written
to a file that can be committed and read back into a store on another machine
(:mod:`optimize.experiments.kept_samples`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from optimize.errors import UserError


def run_export(args: argparse.Namespace) -> int:
    from optimize.cli.flags import budget_from_args, examples_from_flags
    from optimize.experiments.kept_samples import check_keeps_samples, export_samples
    from programs import build_program
    from programs.store import open_store

    budget = budget_from_args(args)
    check_keeps_samples(budget)
    if not Path(args.store).exists():
        raise UserError(f"{args.store} does not exist; give the --store the sleep phase ran with")
    program = build_program(budget, store=open_store(args.store), api_base=args.api_base)
    contexts = [example.context for example in examples_from_flags(args)]
    written, missing = export_samples(program, contexts, args.out)
    print(f"written: {args.out} ({written} samples of {len(set(contexts))} contexts"
          + (f"; {missing} not in {args.store}, not made yet)" if missing else ")"))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from optimize.experiments.kept_samples import import_samples
    from programs.store import open_store

    if not Path(args.samples).is_file():
        raise UserError(f"{args.samples} is not a samples file; give the JSONL "
                        "`sleeptime samples export` wrote")
    new = import_samples(args.samples, open_store(args.store))
    print(f"{args.store}: {new} samples added from {args.samples}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """``sleeptime samples export ... --out FILE``; ``sleeptime samples import FILE --store STORE``."""
    from optimize.cli.flags import add_budget_flags, add_budget_json_flag, add_data_flags, add_subcommand

    samples = add_subcommand(subparsers, "samples",
                             help="move the programs a computed sleep strategy kept between stores")
    commands = samples.add_subparsers(dest="samples_command", metavar="COMMAND", required=True)
    export = add_subcommand(
        commands, "export",
        help="write the samples a Budget's computed sleep phase kept for a split's contexts to a JSONL file "
             "(only those contexts: a store that also holds third-party ones exports none of them)")
    add_data_flags(export)
    add_budget_json_flag(export)
    add_budget_flags(export)
    export.add_argument("--store", required=True, help="the learned-context store the sleep phase used")
    export.add_argument("--api-base", default=None, help="as the run that made them (part of no key)")
    export.add_argument("--out", required=True, help="JSONL to write (samples already in it are kept)")
    export.set_defaults(func=run_export)
    load = add_subcommand(commands, "import",
                          help="put the samples of an exported file into a store; keys it holds keep theirs")
    load.add_argument("samples", help="JSONL written by `sleeptime samples export`")
    load.add_argument("--store", required=True, help="the learned-context store a later run will use")
    load.set_defaults(func=run_import)
