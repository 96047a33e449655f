"""`sleeptime data ...`: generate a dataset, check template coverage, print dataset stats.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="sleeptime")
    >>> register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["data", "coverage", "--templates", "t/"])
    >>> args.templates
    't/'
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from optimize.cli.flags import HelpFormatter, add_subcommand, positive_int
from optimize.errors import UserError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command with ``generate``, ``coverage`` and ``stats`` subcommands."""
    data = add_subcommand(subparsers, "data", help="generate and inspect Stateful GSM data")
    commands = data.add_subparsers(dest="data_command", required=True)

    generate = commands.add_parser("generate", formatter_class=HelpFormatter,
                                   help="write a Stateful GSM JSONL from templates")
    generate.add_argument(
        "--templates", required=True, help="template file or directory (searched recursively)"
    )
    generate.add_argument("--per-template", type=positive_int, default=5, help="contexts per template")
    generate.add_argument("--seed", type=int, default=0, help="random seed (same seed -> same file)")
    generate.add_argument("--out", required=True, help="output JSONL path")
    generate.add_argument("--level", nargs="+", choices=["base", "p1", "p2"], help="only these levels")
    generate.add_argument("--skip-broken", action="store_true", help="report and skip templates that fail")
    generate.add_argument(
        "--checked",
        action="store_true",
        help="skip GSM-Symbolic templates whose #answer disagrees with their own solution (coverage check)",
    )
    generate.set_defaults(func=_generate)

    coverage = commands.add_parser("coverage", formatter_class=HelpFormatter,
                                   help="check GSM-Symbolic templates parse, generate and check out")
    coverage.add_argument("--templates", required=True, help="directory of GSM-Symbolic templates")
    coverage.add_argument("--samples", type=positive_int, default=5, help="instances checked per template")
    coverage.add_argument("--seed", type=int, default=0, help="random seed of the checked instances")
    coverage.set_defaults(func=_coverage)

    stats = commands.add_parser("stats", formatter_class=HelpFormatter,
                                help="size and level/predictability mix of a dataset")
    stats.add_argument("source", nargs="?", default="ours", help="JSONL path or dataset name")
    stats.set_defaults(func=_stats)


def _require_templates(templates: str) -> None:
    """A folder without any template is a mistake (a wrong path), not an empty dataset or a clean coverage."""
    from optimize.data.parsing import template_paths

    if Path(templates).is_dir() and not template_paths(templates):
        raise UserError(f"{templates}: no template (*.json) in this folder; pass the folder holding the "
                        "templates (docs/template-format.md)")


def _generate(args: argparse.Namespace) -> int:
    from optimize.data.generate import generate_file
    from optimize.data.instances import TemplateError

    _require_templates(args.templates)
    try:
        count, problems = generate_file(
            args.templates,
            args.out,
            per_template=args.per_template,
            seed=args.seed,
            levels=args.level,
            skip_broken=args.skip_broken,
            checked=args.checked,
        )
    except (TemplateError, ValueError) as error:
        raise UserError(str(error)) from None
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    print(f"wrote {count} contexts to {args.out}")
    return 0


def _coverage(args: argparse.Namespace) -> int:
    from optimize.data.checks import coverage
    from optimize.data.instances import TemplateError

    _require_templates(args.templates)
    try:
        results = coverage(args.templates, samples=args.samples, seed=args.seed)
    except TemplateError as error:
        raise UserError(str(error)) from None
    root = Path(args.templates)
    total = len(results)
    parses = sum(r.parses for r in results)
    generates = sum(r.generates for r in results)
    checks = sum(r.answers_check is True for r in results)
    defaults_checked = [r for r in results if r.defaults_match is not None]
    defaults_ok = sum(r.defaults_match is True for r in defaults_checked)
    ok = sum(r.ok for r in results)
    print(f"templates: {total}")
    print(
        f"parse: {parses}/{total}  generate: {generates}/{total}  "
        f"answer matches '#### expr': {checks}/{total}"
    )
    print(f"defaults reproduce the original answer: {defaults_ok}/{len(defaults_checked)} checked")
    print(f"all checks pass: {ok}/{total}")
    failing = [r for r in results if not r.ok]
    if failing:
        print("\nfailing:")
        for result in failing:
            print(f"  {_relative(result.path, root)}: {'; '.join(result.problems)}")
    notes = [r for r in results if r.ok and r.problems]
    if notes:
        print("\nnotes (not failures):")
        for result in notes:
            print(f"  {_relative(result.path, root)}: {'; '.join(result.problems)}")
    return 0 if not failing else 2


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _stats(args: argparse.Namespace) -> int:
    from optimize.data.loaders import DataError, load_examples

    try:
        examples = load_examples(args.source)
    except DataError as error:
        raise UserError(str(error)) from None
    contexts = {e.context_id for e in examples}
    templates = {e.template_id for e in examples}
    print(f"{args.source}: {len(examples)} questions, {len(contexts)} contexts, {len(templates)} templates")
    for field in ("level", "predictability", "source"):
        counts = Counter(str(getattr(e, field, None)) for e in examples)
        print(f"{field}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return 0
