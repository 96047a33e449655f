"""The one command line: ``sleeptime <command>`` (also ``python -m optimize <command>``).

Each command lives in its own module, which exposes ``register(subparsers)``; heavy imports happen
inside the handlers so ``--help`` stays fast. A user mistake (a bad flag value, a missing file, an unknown
model, a malformed data row) ends with one redacted ``error: ...`` line and exit status 2; ``--debug``
(before or after the command) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from optimize.cli.flags import HelpFormatter, Parser, add_debug_flag, debug_requested
from optimize.errors import USER_ERROR_STATUS, user_error_types
from programs.redact import redact

COMMAND_MODULES = (
    "optimize.cli.lm",
    "optimize.cli.data",
    "optimize.cli.run",
    "optimize.cli.search",
    "optimize.cli.demo",
    "optimize.cli.benchmark",
    "optimize.cli.compare",
    "optimize.cli.rows",
    "optimize.cli.claims",
    "optimize.cli.samples",
    "optimize.cli.serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="sleeptime",
        description="Sleep-time compute: compile, evaluate and search sleep-time vs test-time budgets.",
        formatter_class=HelpFormatter,
    )
    add_debug_flag(parser, top_level=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _stop_local_servers() -> None:
    """Stop this process's llama.cpp servers now (atexit would too, but only after the interpreter has
    joined the worker threads, which wait for their requests in flight: a long answer would hold up the exit
    of an interrupted run). Their requests then fail at once, and a stopped server is not restarted."""
    server = sys.modules.get("programs.lm.server")
    if server is not None:
        server.stop_all_servers()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and getattr(exc, "filename", None) and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    if isinstance(exc, PermissionError) or "readonly" in text.lower() or "read-only" in text.lower():
        text += " (not writable: pick another path, e.g. SLEEPTIME_MLRUNS_DIR or --out, or fix permissions)"
    return redact(" ".join(text.split()))


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, user_error_types()):
        return True
    # A store that cannot be written (read-only mlruns or SQLite folder) is the user's to fix.
    text = str(exc).lower()
    return "readonly database" in text or "read-only" in text or "unable to open database file" in text


def report_error(exc: BaseException, *, debug: bool) -> int:
    """Print ``exc`` as the CLI does and return the exit status."""
    status = getattr(exc, "exit_status", None)
    if not _is_user_error(exc):
        if debug:
            traceback.print_exc()
        print(f"error: {_one_line(exc)} ({type(exc).__name__}; rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    if debug:
        traceback.print_exc()
    print(f"error: {_one_line(exc)}", file=sys.stderr)
    return int(status) if isinstance(status, int) else USER_ERROR_STATUS


def parse_command_line(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, except that a command whose trailing positional takes many values
    (``set_defaults(more_positionals=(dest, convert))``) also takes those given after an option: argparse
    alone stops filling it at the first option (``compare BASE --baseline-name X OTHER`` would fail)."""
    args, extra = parser.parse_known_args(argv)
    more = getattr(args, "more_positionals", None)
    if extra and more and not any(arg.startswith("-") for arg in extra):
        dest, convert = more
        try:
            setattr(args, dest, list(getattr(args, dest) or []) + [convert(arg) for arg in extra])
        except argparse.ArgumentTypeError as exc:
            parser.error(str(exc))
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    # --debug is global: accepted anywhere on the line, by every command (also those that do not list it).
    argv = [arg for arg in argv if arg != "--debug"]
    try:
        parser = build_parser()
        args = parse_command_line(parser, argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        from optimize.cli.console import library_logs_through_tqdm

        with library_logs_through_tqdm():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished work is saved and the next run resumes from it", file=sys.stderr)
        _stop_local_servers()
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place that turns any failure into a readable line
        return report_error(exc, debug=debug)


if __name__ == "__main__":
    raise SystemExit(main())
