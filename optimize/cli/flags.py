"""The command-line flags every subcommand shares, spelled once.

Budget flags are derived from ``dataclasses.fields(Budget)``: one flag per field, named after the field with
dashes (``test_verbosity`` -> ``--test-verbosity``), its help, range and default read from the field's
``metadata`` (``{"help": str, "range": (low, high) | None}``) and shown in ``--help``. Other spellings are
hidden aliases. The data/run flags (``--data --split --n --seed --threads --store --api-base --retries``) mean
the same thing in every subcommand: ``--seed`` is always the data split seed (a sampler's seed is
``--sampler-seed``). Values are checked when the command line is parsed, before any work starts.

Example:
    >>> parser = Parser(prog="demo", formatter_class=HelpFormatter)
    >>> _ = add_budget_flags(parser)
    >>> _ = add_data_flags(parser)
    >>> args = parser.parse_args(["--test-verbosity", "2", "--no-sleep", "--n", "5"])
    >>> budget = budget_from_args(args)
    >>> (budget.test_verbosity, budget.use_sleep, args.n)
    (2, False, 5)
    >>> parser.parse_args(["--verbosity", "3"]).test_verbosity  # a hidden alias
    3
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from programs.redact import redact

SPLITS = ("train", "dev", "test", "all")

BUDGET_ALIASES: dict[str, tuple[str, ...]] = {
    "test_verbosity": ("--verbosity",),
    "sleep_rounds": ("--rounds",),
    "compiled": ("--compiled-program",),
    "sleep_samples": ("--k",),
}
"""Alias spellings of Budget flags, accepted but hidden from ``--help``. ``--k`` is the Budget's sleep samples
in every command; a baseline's sample count is ``--baseline-samples`` only."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one redacted ``error:`` line naming the fix (exit status 2).

    Subparsers made with ``add_subparsers().add_parser`` are of this class too.

    Example:
        >>> parser = Parser(prog="sleeptime")
        >>> _ = parser.add_argument("--n", type=non_negative_int)
        >>> try:
        ...     parser.parse_args(["--n", "-1"])
        ... except SystemExit as exit:
        ...     exit.code
        2
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {redact(message)} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default (a help text that states its own is left as written); descriptions and
    epilogs keep their line breaks (examples stay readable).

    Example:
        >>> parser = argparse.ArgumentParser(prog="demo", formatter_class=HelpFormatter)
        >>> _ = parser.add_argument("--n", type=int, default=5, help="questions")
        >>> _ = parser.add_argument("--store", help="store path")
        >>> text = parser.format_help()
        >>> "questions (default: 5)" in text, "store path (default: not set)" in text
        (True, True)
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default:" in text or "%(default)" in text or not action.option_strings \
                or action.default is argparse.SUPPRESS:
            return text
        if action.default is None:  # argparse would print "None": say it in words
            return text + " (default: not set)"
        return super()._get_help_string(action)


def add_hidden_alias(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *names: str, dest: str,
                     **kwargs: Any) -> None:
    """Accept aliases ``names`` for ``dest`` without listing them in ``--help`` (one spelling shown)."""
    parser.add_argument(*names, dest=dest, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs)


# ---- value checks (argparse ``type=`` functions): a bad value stops the command before any work ----

def _number(kind: Callable[[str], Any], text: str, low: float | None, high: float | None, what: str) -> Any:
    try:
        value = kind(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from exc
    if value != value or (low is not None and value < low) or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (``--n``, ``--retries``)."""
    return _number(int, text, 0, None, "an integer >= 0")


def positive_int(text: str) -> int:
    """An integer >= 1 (``--threads``)."""
    return _number(int, text, 1, None, "an integer >= 1")


def positive_float(text: str) -> float:
    """A number > 0 (``--price-ratio``, ``--questions-per-context``)."""
    value = _number(float, text, None, None, "a number > 0")
    if value <= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 0..65535; 0 picks a free one (``--port``)."""
    return _number(int, text, 0, 65535, "a port number in 0..65535")


def non_negative_float(text: str) -> float:
    """A number >= 0 (``--token-penalty``)."""
    value = _number(float, text, 0.0, None, "a number >= 0")
    if value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def ranged_int(low: int | None, high: int | None) -> Callable[[str], int]:
    """An integer within ``low..high`` (either end may be open)."""
    what = f"an integer in {low}..{high}" if low is not None and high is not None else (
        f"an integer >= {low}" if low is not None else "an integer")

    def check(text: str) -> int:
        return _number(int, text, low, high, what)

    check.__name__ = what
    return check


# ---- Budget flags, one per dataclass field ----

@dataclass(frozen=True)
class BudgetFlag:
    """How one Budget field appears on the command line.

    Example:
        >>> spec = next(flag for flag in budget_flags() if flag.field == "test_verbosity")
        >>> spec.flag, spec.kind, spec.default, spec.range, spec.optional
        ('--test-verbosity', 'int', 0, (0, 4), False)
    """

    field: str
    flag: str
    kind: str  # "bool", "int" or "str"
    default: Any
    range: tuple[Any, Any] | None
    help: str
    optional: bool  # the field accepts None


def _kind(field: dataclasses.Field) -> tuple[str, bool]:
    annotation = field.type if isinstance(field.type, str) else str(field.type)
    optional = "None" in annotation or "Optional" in annotation
    for kind in ("bool", "int", "str"):
        if kind in annotation:
            return kind, optional
    return "str", optional


def budget_flags() -> list[BudgetFlag]:
    """One :class:`BudgetFlag` per field of ``Budget``, with help and range from the field's metadata."""
    from programs.budget import Budget

    flags = []
    for field in dataclasses.fields(Budget):
        kind, optional = _kind(field)
        metadata: Mapping[str, Any] = field.metadata or {}
        default = field.default if field.default is not dataclasses.MISSING else None
        flags.append(BudgetFlag(field=field.name, flag="--" + field.name.replace("_", "-"), kind=kind,
                                default=default, range=metadata.get("range"),
                                help=metadata.get("help") or f"Budget.{field.name}", optional=optional))
    return flags


def _describe(spec: BudgetFlag, default: Any) -> str:
    parts = [spec.help.rstrip(".")]
    if spec.range is not None:
        parts.append(f"range {spec.range[0]}..{spec.range[1]}")
    text = "; ".join(parts).replace("%", "%%")
    if default is None and "default" in spec.help:
        return text + " (default: as described)"  # e.g. test_max_tokens: a cap per verbosity
    return f"{text} (default: {'not set' if default is None else default})"


def _comma_list(item: Callable[[str], Any]) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        values = [value.strip() for value in text.split(",") if value.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated values, got {text!r}")
        return tuple(item(value) for value in values)

    return parse


def _optional(item: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.strip().lower() in ("none", "null", "default") else item(text)

    return parse


def add_budget_flags(parser: argparse.ArgumentParser, *,
                     aliases: Mapping[str, Iterable[str]] = BUDGET_ALIASES,
                     skip: Iterable[str] = (), many: bool = False, defaults: Mapping[str, Any] | None = None,
                     title: str = "budget (flags override --budget-json)") -> argparse._ArgumentGroup:
    """Add ``--<field>`` for every Budget field (``skip`` some), plus ``--model`` (both phases).

    Flags default to None ("not given"), so :func:`budget_from_args` only changes what was given; ``--help``
    shows the Budget's own default (or ``defaults[field]``). ``use_sleep`` is ``--use-sleep/--no-use-sleep``
    (``--no-sleep`` still works, hidden). With ``many`` each flag takes comma-separated values (a search
    space) and parses to a tuple.
    """
    defaults = dict(defaults or {})
    skip = set(skip)
    group = parser.add_argument_group(title)
    for spec in budget_flags():
        if spec.field in skip:
            continue
        shown = defaults.get(spec.field, spec.default)
        hidden = tuple(aliases.get(spec.field, ()))
        if spec.kind == "bool" and not many:
            group.add_argument(spec.flag, dest=spec.field, action=argparse.BooleanOptionalAction,
                               default=None, help=_describe(spec, shown))
            short = "--no-" + spec.field.removeprefix("use_").replace("_", "-")
            if short != "--no-" + spec.flag[2:]:  # --no-sleep, the short alias of --no-use-sleep
                add_hidden_alias(group, short, dest=spec.field, action="store_false")
            if hidden:
                add_hidden_alias(group, *hidden, dest=spec.field, action="store_true")
            continue
        if spec.kind == "bool":
            item: Callable[[str], Any] = _boolean
        elif spec.kind == "int":
            item = ranged_int(*(spec.range or (None, None)))
        else:
            item = str
        if spec.optional:
            item = _optional(item)
        kind = _comma_list(item) if many else item
        metavar = "V[,V...]" if many else ("N" if spec.kind == "int" else None)
        group.add_argument(spec.flag, dest=spec.field, type=kind, default=None, metavar=metavar,
                           help=_describe(spec, shown))
        if hidden:
            add_hidden_alias(group, *hidden, dest=spec.field, type=kind)
    if not many and "sleep_model" not in skip and "test_model" not in skip:
        group.add_argument("--model", default=None, help="model spec for both phases (--sleep-model and "
                           "--test-model win); e.g. local:qwen2.5-coder-1.5b or openai/NAME@URL")
    return group


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_budget_json_flag(parser: argparse.ArgumentParser) -> None:
    """``--budget-json``: a whole Budget as JSON; individual Budget flags override its fields."""
    parser.add_argument("--budget-json", default=None,
                        help="a Budget as JSON, e.g. '{\"sleep_samples\": 3}'; Budget flags override it")


def budget_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The Budget fields given on the command line (``--model`` fills both model fields if not given)."""
    changes = {spec.field: getattr(args, spec.field) for spec in budget_flags()
               if getattr(args, spec.field, None) is not None}
    model = getattr(args, "model", None)
    if model:
        changes.setdefault("sleep_model", model)
        changes.setdefault("test_model", model)
    return changes


def budget_from_args(args: argparse.Namespace, base: Any = None):
    """The Budget the command line asks for: ``base`` (or ``--budget-json``, or the default) plus the flags.

    Raises ``BudgetError`` (a ``ValueError``: one ``error:`` line from the CLI) for an out-of-range value.
    """
    from programs.budget import Budget

    if base is None:
        text = getattr(args, "budget_json", None)
        base = Budget.from_json(text) if text else Budget()
    return base.replace(**budget_changes(args))


# ---- data and run flags ----

def add_data_flags(parser: argparse.ArgumentParser, *, split: str | None = "test",
                   n_help: str | None = None) -> None:
    """``--data --split --contexts --n --seed``: which examples, the same in every subcommand; read them
    with :func:`examples_from_flags`.

    ``split=None`` leaves ``--split`` and ``--contexts`` out (a command that uses fixed splits, such as
    ``compile``, which has ``--train-contexts`` and ``--dev-contexts``)."""
    group = parser.add_argument_group("data")
    group.add_argument("--data", default="ours", help="dataset name (data/<name>.jsonl) or a JSONL path")
    if split is not None:
        group.add_argument("--split", default=split, choices=SPLITS, help="template-disjoint split to use")
        group.add_argument("--contexts", type=positive_int, default=None, metavar="N",
                           help="every question of N contexts chosen round-robin across the split's "
                           "templates (the first N examples would be one template) (default: all)")
    group.add_argument("--n", type=non_negative_int, default=None, metavar="N",
                       help=n_help or "use only the first N examples of the split (default: all)")
    add_hidden_alias(group, "--limit", dest="n", type=non_negative_int)
    group.add_argument("--seed", type=int, default=0,
                       help="seed of the template split (a sampler's seed is --sampler-seed)")
    add_hidden_alias(group, "--data-seed", dest="seed", type=int)


def examples_from_flags(args: argparse.Namespace, *, split: str | None = None,
                        limit: int | None = None) -> list:
    """The examples the data flags select: ``--split`` (or ``split``; "all" is no split), then
    ``--contexts`` spread across templates, then the first ``--n`` (or ``limit``).

    Example:
        >>> args = argparse.Namespace(data="ours", split="dev", contexts=4, n=None, seed=0)
        >>> examples = examples_from_flags(args)
        >>> len({e.context_id for e in examples}), len({e.template_id for e in examples})
        (4, 4)
    """
    from optimize.data.loaders import load_examples
    from optimize.data.splits import spread_contexts

    split = split or args.split
    contexts = getattr(args, "contexts", None)
    n = limit if limit is not None else args.n
    examples = load_examples(args.data, split=None if split == "all" else split, seed=args.seed)
    if contexts:
        examples = spread_contexts(examples, contexts)
    return examples if n is None else examples[:n]


def add_run_flags(parser: argparse.ArgumentParser, *, threads: int | None = 1,
                  threads_help: str = "concurrent LM requests", store: bool = True) -> None:
    """``--threads --store --api-base --retries``: how the run talks to the models and the store."""
    group = parser.add_argument_group("run")
    shown = "" if threads is not None else " (default: the local server's parallel slots, 8 for remote)"
    group.add_argument("--threads", type=positive_int, default=threads, metavar="N",
                       help=threads_help + shown)
    add_hidden_alias(group, "--num-threads", dest="threads", type=positive_int)
    if store:
        group.add_argument("--store", default=None,
                           help="learned-context SQLite file; ':memory:' for none (default: user cache dir)")
    group.add_argument("--api-base", default=None, help="OpenAI-compatible server for openai/<model> specs")
    group.add_argument("--retries", type=non_negative_int, default=3, metavar="N",
                       help="LM retries before a row is recorded as an error")


def add_debug_flag(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """``--debug``: show tracebacks instead of one ``error:`` line. Accepted before or after the command."""
    parser.add_argument("--debug", action="store_true", default=False if top_level else argparse.SUPPRESS,
                        help="show Python tracebacks for errors (default: one 'error:' line)")


def add_subcommand(subparsers: argparse._SubParsersAction, name: str,
                   **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser with the shared formatter (defaults in ``--help``) and ``--debug``."""
    kwargs.setdefault("formatter_class", HelpFormatter)
    if "help" in kwargs:
        kwargs.setdefault("description", kwargs["help"])
    parser = subparsers.add_parser(name, **kwargs)
    add_debug_flag(parser)
    return parser


def debug_requested(argv: Iterable[str] | None = None) -> bool:
    """Whether ``--debug`` is on the command line (checked before parsing, for errors during parsing)."""
    return "--debug" in list(sys.argv[1:] if argv is None else argv)
