"""``sleeptime evaluate`` and ``sleeptime compile``: run or compile a program for a Budget from the shell.

Examples::

    sleeptime evaluate --data ours --split test --n 30 --test-verbosity 0 --no-sleep --out results.jsonl
    sleeptime evaluate --budget-json '{"sleep_samples": 3, "test_verbosity": 2}' --adapter both
    sleeptime compile --data ours --test-verbosity 2 --out-dir compiled/v2

Every value is checked before any LM work: an out-of-range Budget field, a negative ``--n``, an unknown
model spec or a missing data file ends with one ``error:`` line. A run in which rows failed (after retries)
says how many and exits with status 3 unless ``--tolerate-errors`` is given; a run in which most rows
failed always does. Rerunning with the same ``--out`` retries the failed rows. Both commands log to MLflow
(the project's store, ``sleeptime ui``) unless ``--no-mlflow``: each evaluation is one run of the experiment
``sleeptime-evaluate`` (its Budget, summary and results file; closed KILLED by Ctrl-C or ``kill``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from optimize.cli.flags import (
    add_budget_flags,
    add_budget_json_flag,
    add_data_flags,
    add_run_flags,
    add_subcommand,
    budget_changes,
    budget_from_args,
    examples_from_flags,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from optimize.data.splits import spread_contexts
from optimize.errors import FailedRowsError, UserError
from optimize.experiments.adapter_runs import (
    adapter_results_path,
    check_models,
    data_identity,
    evaluate_adapters,
)
from optimize.experiments.optimizers import OPTIMIZERS, PHASES

MOSTLY_FAILED = 0.5
"""A run whose failed-row share is above this always exits non-zero, even with --tolerate-errors."""


def command_line() -> str | None:
    """The shell command of this process, credentials redacted; None when not run from the shell."""
    import sys

    from programs.redact import redact

    program = Path(sys.argv[0]).name if sys.argv else ""
    if program not in ("__main__.py", "sleeptime"):
        return None
    return redact(" ".join(["python3 -m optimize", *sys.argv[1:]]))


def _store(args: argparse.Namespace):
    from programs.store import default_store_path, open_store

    return open_store(args.store if args.store is not None else default_store_path())


def _print_summary(title: str, summary: dict) -> None:
    from programs.redact import redact

    print(f"\n{redact(title)}")  # the title shows the Budget, whose model specs may carry a password
    for key, value in summary.items():
        shown = f"{value:.4g}" if isinstance(value, float) else redact(value)
        print(f"  {key:<28} {shown}")


def check_writable_dir(path: Path, what: str, fix: str) -> None:
    """Create ``path`` and a file in it now, so an unwritable folder fails before any LM work."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".sleeptime-write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"{what} {path} is not writable ({exc.strerror or exc}); {fix}") from exc


def check_failures(frames: dict, *, tolerate: bool, out: str | None) -> None:
    """Say how many rows failed; raise :class:`FailedRowsError` unless tolerated (never if most failed)."""
    from optimize.reports.metrics import failed_rows

    masks = [(frame, failed_rows(frame)) for frame in frames.values()]
    failed = sum(int(mask.sum()) for _, mask in masks)
    total = sum(len(frame) for frame in frames.values())
    if not failed:
        return
    first = next(frame.loc[mask, "error"].iloc[0] for frame, mask in masks if mask.any())
    rerun = (f"rerun with --out {out} to retry them" if out else "pass --out FILE to keep rows and retry "
             "only the failed ones")
    message = f"{failed} of {total} rows failed after retries (first: {str(first)[:200]}); {rerun}"
    if tolerate and failed <= MOSTLY_FAILED * total:
        print(f"warning: {message}; counted as wrong (--tolerate-errors)")
        return
    if tolerate:
        message += "; more than half failed, so --tolerate-errors does not apply"
    else:
        message += "; pass --tolerate-errors to accept a run with some failed rows"
    raise FailedRowsError(message)


def run_evaluate(args: argparse.Namespace) -> int:
    from optimize.experiments.runner import stop_on_signals
    from optimize.reports.metrics import failed_rows, paired_difference, summarize
    from optimize.tracking.evaluations import tracked_evaluation

    if args.program and (budget_changes(args) or args.budget_json):
        raise UserError("--program takes its budget from the saved program; drop the budget flags "
                        f"({', '.join(sorted(budget_changes(args)))}) or --program")
    if args.adapter == "both" and args.program:
        raise UserError("--adapter both builds programs from a budget; drop --program or pick one adapter")
    _check_mlflow_store(args)
    budget = None if args.program else budget_from_args(args)
    if budget is not None:
        check_models(budget, args.api_base)
    data = data_identity(args.data)
    examples = examples_from_flags(args)
    if not examples:
        raise UserError(f"no examples in --data {args.data} --split {args.split}; pick another --split or "
                        "--data")
    sampler_seed = args.sampler_seed if args.sampler_seed is not None else args.seed
    adapters = ("chat", "plain") if args.adapter == "both" else (args.adapter,)
    tracked = tracked_evaluation(not args.no_mlflow, args.tracking_uri, name=_run_name(args, budget),
                                 params=_run_params(args, budget, data, examples, sampler_seed),
                                 examples=examples, split=args.split, adapters=len(adapters),
                                 command=command_line())
    frames = {}
    with stop_on_signals(), tracked as run:  # kill stops it as Ctrl-C does: rows kept, its run closed KILLED
        runs = evaluate_adapters(examples, budget=budget, program=args.program, adapters=adapters,
                                 data=data, store=_store(args), api_base=args.api_base,
                                 baseline=args.baseline, baseline_samples=args.baseline_samples,
                                 sampler_seed=sampler_seed,
                                 threads=args.threads, out=args.out, retry_errors=args.retry_errors,
                                 retries=args.retries)
        for adapter, program, rows in runs:
            frames[adapter] = rows
            retried = rows.attrs.get("retried") or []
            if retried:
                print(f"retried {len(retried)} row(s) that had failed before: {', '.join(retried[:20])}")
            summary = summarize(rows, questions_per_context=args.questions_per_context,
                                price_ratio=args.price_ratio, tokens=args.tokens)
            summary["truncated"] = int(rows["truncated"].fillna(False).astype(bool).sum())
            summary["parse_errors"] = int(rows["parse_error"].fillna(False).astype(bool).sum())
            _print_summary(f"{type(program).__name__} adapter={adapter} "
                           f"budget={json.dumps(program.budget.to_dict())}", summary)
            if run is not None:
                run.log_adapter(adapter, {**summary, "failed_rows": int(failed_rows(rows).sum())}, rows=rows,
                                results_path=adapter_results_path(args.out, adapter, adapters=adapters))
        if len(frames) == 2:
            _print_summary("plain minus chat (paired on question_id)",
                           paired_difference(frames["plain"], frames["chat"]))
        check_failures(frames, tolerate=args.tolerate_errors, out=args.out)  # mostly failed: a FAILED run
    return 0


def _run_name(args: argparse.Namespace, budget) -> str:
    """The MLflow run's name: what was evaluated, as search and sweep runs name their trials."""
    from optimize.experiments.runner import run_label

    what = f"program {Path(args.program).name}" if args.program else run_label(budget)
    return f"evaluate {what}" + (f" ({args.baseline})" if args.baseline else "")


def _run_params(args: argparse.Namespace, budget, data: dict, examples: list, sampler_seed: int) -> dict:
    """The MLflow run's params: what was evaluated, on which questions (credentials redacted by the
    tracker)."""
    from optimize.experiments.runner import safe_budget_dict

    what = {"program": str(args.program)} if args.program else safe_budget_dict(budget)
    return {**what, "adapter": args.adapter, "data": data["source"], "data_sha256": data["sha256"] or "",
            "split": args.split, "questions": len(examples),
            "contexts": len({getattr(e, "context_id", None) for e in examples}),
            "baseline": args.baseline or "", "sampler_seed": sampler_seed, "out": args.out or ""}


def run_compile(args: argparse.Namespace) -> int:
    from optimize.experiments.compile import compile_program
    from optimize.experiments.selection import check_selection_split

    if args.adapter == "both":
        raise UserError("--adapter both is for evaluate; compile one adapter at a time (chat or plain)")
    check_selection_split(args.select_on)
    _check_mlflow_store(args)
    budget = budget_from_args(args)
    check_models(budget, args.api_base)
    for spec in (args.reflection_model, args.teacher_model):
        if spec:
            from programs.lm import parse_model_spec

            parse_model_spec(spec, args.api_base)
    if args.optimizer == "gepa" and not args.reflection_model:
        raise UserError("--optimizer gepa needs --reflection-model SPEC (the model that reads the feedback "
                        "and rewrites instructions, e.g. local:qwen2.5-coder-1.5b)")
    if args.phase == "sleep" and not budget.use_sleep:
        raise UserError("--phase sleep compiles the sleep-time rewriter: drop --no-use-sleep")
    train = examples_from_flags(args, split="train")
    dev = examples_from_flags(args, split="dev", limit=args.dev_n)
    if args.train_contexts:
        train = spread_contexts(train, args.train_contexts)
    if args.dev_contexts:
        dev = spread_contexts(dev, args.dev_contexts)
    out_dir = args.out_dir or f"compiled/{args.optimizer}"
    # Only a test-phase compile may reuse stored notes: compiling the rewriter needs it to really run.
    store = _store(args) if args.phase == "test" and args.store != ":memory:" else None
    if args.draws > 1:
        return _compile_draws(args, budget, train, dev, store, out_dir)
    _, scores = compile_program(
        budget, train, devset=dev, optimizer=args.optimizer, max_demos=args.max_demos,
        token_penalty=args.token_penalty, phase=args.phase, reflection_model=args.reflection_model,
        teacher_model=args.teacher_model, candidates=args.candidates, max_metric_calls=args.max_metric_calls,
        store=store, api_base=args.api_base,
        adapter=args.adapter, out_dir=out_dir, num_threads=args.threads,
        seed=args.sampler_seed if args.sampler_seed is not None else args.seed,
        data={"source": args.data, "train": len(train), "dev": len(dev), "seed": args.seed,
              "train_contexts": args.train_contexts, "dev_contexts": args.dev_contexts},
        track=not args.no_mlflow, tracking_uri=args.tracking_uri, lm_options={"num_retries": args.retries},
        command=command_line(), shuffle_train=args.shuffle_train)
    _print_summary(f"compiled -> {out_dir}", scores)
    return 0


def _compile_draws(args: argparse.Namespace, budget, train: list, dev: list, store, out_dir: str) -> int:
    """``compile --draws N``: the protocol of :mod:`optimize.experiments.selection` (dev only, never test)."""
    from optimize.experiments.draws import compile_draws
    from optimize.experiments.selection import format_selection

    _, record = compile_draws(
        budget, train, dev, draws=args.draws, select_on=args.select_on, out_dir=out_dir,
        optimizer=args.optimizer, max_demos=args.max_demos, token_penalty=args.token_penalty,
        phase=args.phase,
        reflection_model=args.reflection_model, teacher_model=args.teacher_model, candidates=args.candidates,
        max_metric_calls=args.max_metric_calls, store=store, api_base=args.api_base, adapter=args.adapter,
        num_threads=args.threads, seed=args.sampler_seed if args.sampler_seed is not None else args.seed,
        shuffle_train=args.shuffle_train,
        data={"source": args.data, "train": len(train), "dev": len(dev), "seed": args.seed,
              "train_contexts": args.train_contexts, "dev_contexts": args.dev_contexts},
        track=not args.no_mlflow, tracking_uri=args.tracking_uri, lm_options={"num_retries": args.retries},
        command=command_line())
    print(format_selection(record))
    print(f"saved -> {out_dir} (the chosen program; every draw under {out_dir}/draws/). Its test result is "
          f"a separate step: sleeptime evaluate --split test --program {out_dir}")
    return 0


def _adapter_flag(parser: argparse.ArgumentParser, *, both: bool) -> None:
    parser.add_argument("--adapter", default="chat", choices=("chat", "plain", "both") if both else
                        ("chat", "plain"), help="prompt format" + ("; 'both' runs each and compares them"
                                                                   if both else ""))


def _check_mlflow_store(args: argparse.Namespace) -> None:
    """The project's MLflow store folder must be writable before any LM work (unless not logging)."""
    if not args.no_mlflow and args.tracking_uri is None:
        from optimize.tracking.runs import default_mlruns_dir

        check_writable_dir(default_mlruns_dir(), "the MLflow store folder",
                           "set SLEEPTIME_MLRUNS_DIR to a writable folder, or pass --tracking-uri or "
                           "--no-mlflow")


def _mlflow_flags(group) -> None:
    group.add_argument("--tracking-uri", default=None,
                       help="MLflow store (default: the project's store, $SLEEPTIME_MLRUNS_DIR or mlruns/)")
    group.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")


def register(subparsers) -> None:
    evaluate = add_subcommand(subparsers, "evaluate", help="answer and score a split with one program/budget",
                              epilog=__doc__.split("\n\n", 1)[1])
    add_data_flags(evaluate)
    add_budget_json_flag(evaluate)
    add_budget_flags(evaluate)
    add_run_flags(evaluate, threads=None)
    _adapter_flag(evaluate, both=True)
    out = evaluate.add_argument_group("evaluate")
    out.add_argument("--program", default=None, help="a saved program directory (instead of a budget)")
    out.add_argument("--baseline", default=None, choices=("majority", "pass-at-k"),
                     help="a sampled test-time baseline instead of the budget's program")
    out.add_argument("--baseline-samples", type=positive_int, default=5, metavar="N",
                     help="answers --baseline samples per question")
    out.add_argument("--sampler-seed", type=int, default=None,
                     help="seed of sampled LM calls (default: the --seed value)")
    out.add_argument("--out", default=None, help="results JSONL; resumed if it exists (same configuration "
                     "only), failed rows retried")
    out.add_argument("--retry-errors", action=argparse.BooleanOptionalAction, default=True,
                     help="on resume, redo rows of --out that failed before")
    out.add_argument("--tolerate-errors", action="store_true",
                     help="exit 0 even if some rows failed (never when most rows failed)")
    out.add_argument("--price-ratio", type=positive_float, default=10.0,
                     help="price of a test-time token in sleep-time tokens (t)")
    out.add_argument("--questions-per-context", type=positive_float, default=None,
                     help="N for amortization (default: observed)")
    out.add_argument("--tokens", default="completion", choices=("completion", "total"),
                     help="which tokens the cost counts")
    _mlflow_flags(out)
    evaluate.set_defaults(func=run_evaluate)

    compile_ = add_subcommand(subparsers, "compile",
                              help="compile prompts with a DSPy optimizer (train split, scored on dev)")
    add_data_flags(compile_, split=None, n_help="use only the first N train examples (default: all)")
    add_budget_json_flag(compile_)
    add_budget_flags(compile_, skip=("compiled",))
    add_run_flags(compile_)
    _adapter_flag(compile_, both=False)
    opts = compile_.add_argument_group("compile")
    opts.add_argument("--optimizer", default="bootstrap", choices=OPTIMIZERS,
                      help="DSPy optimizer (see optimize.experiments.optimizers)")
    opts.add_argument("--phase", default="both", choices=PHASES,
                      help="which phase's prompts the optimizer may change; the other keeps the hand-written "
                      "ones (test: notes come from --store and are reused by every candidate)")
    opts.add_argument("--candidates", type=positive_int, default=None,
                      help="candidate programs (random-search), instruction candidates and trials (mipro) or "
                      "steps (simba) (default: 4; mipro 4 candidates, 6 trials)")
    opts.add_argument("--max-metric-calls", type=positive_int, default=None,
                      help="GEPA's budget of program runs (default: 4 x the train set, at least 40)")
    opts.add_argument("--train-contexts", type=positive_int, default=None,
                      help="train on every question of this many train contexts, spread across templates "
                      "(default: all, or the first --n)")
    opts.add_argument("--dev-contexts", type=positive_int, default=None,
                      help="score on every question of this many dev contexts, spread across templates "
                      "(default: all, or the first --dev-n)")
    opts.add_argument("--max-demos", type=non_negative_int, default=2, help="demos per predictor")
    opts.add_argument("--shuffle-train", action="store_true",
                      help="visit the train questions in an order drawn with --sampler-seed instead of the "
                      "data's (bootstrapping optimizers keep the first successful traces, so this draws "
                      "other demos)")
    opts.add_argument("--token-penalty", type=non_negative_float, default=0.0,
                      help="lambda: score = correct - lambda * test tokens / test_max_tokens")
    opts.add_argument("--reflection-model", default=None, help="model spec for GEPA/MIPRO proposals")
    opts.add_argument("--teacher-model", default=None,
                      help="model spec of the teacher that bootstraps demos (e.g. 1.5B teaching 0.5B)")
    opts.add_argument("--dev-n", type=non_negative_int, default=None,
                      help="score only the first N dev examples (default: all)")
    opts.add_argument("--sampler-seed", type=int, default=None,
                      help="seed of the optimizer and sampled LM calls (default: the --seed value)")
    opts.add_argument("--draws", type=positive_int, default=1, metavar="N",
                      help="compile N draws (seed + i; draw i > 0 shuffles the train order), score each "
                      "and the hand-written program on the selection set and keep the one the fixed rule "
                      "picks (optimize.experiments.selection); the record goes into the manifest "
                      "(default: 1, one "
                      "compile)")
    opts.add_argument("--select-on", default="dev", metavar="SPLIT",
                      help="the split draws are chosen on: dev (the default, every dev question unless "
                      "--dev-n/--dev-contexts). test is refused: it is where the result is reported")
    opts.add_argument("--out-dir", default=None, help="where to save (default: compiled/<optimizer>)")
    _mlflow_flags(opts)
    compile_.set_defaults(func=run_compile)
