"""`python3 -m optimize.cli.seed`: the flags of :mod:`optimize.bench.seed`.

Seeds the size's ``strategies`` group from the strategies study's rows, then says, per configuration, how
many questions the benchmark would take from the rows on file and how many it would still answer (its own
resume check; no model is loaded or called). Exit status 2 when a copy was refused.
"""

from __future__ import annotations

import argparse

from optimize.bench import seed
from optimize.bench.presets import LARGE_MODEL, PRESETS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m optimize.cli.seed",
                                     description=seed.__doc__.split("\n\n")[0])
    parser.add_argument("--study", default="docs/benchmarks/strategies/test",
                        help="folder of rows files made by `optimize evaluate` on the test split")
    parser.add_argument("--results", default="docs/benchmarks/standard", help="the benchmark's folder")
    parser.add_argument("--size", choices=list(PRESETS), default="standard", help="the preset it runs")
    parser.add_argument("--sleep-model", default=LARGE_MODEL, help="the benchmark's sleep-time model")
    parser.add_argument("--test-models", default=None, help="comma list (default: the size's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from optimize.bench.orchestration import model_label
    from optimize.bench.presets import preset_budgets
    from optimize.data.loaders import load_examples
    from optimize.experiments.adapter_runs import data_identity

    args = build_parser().parse_args(argv)
    preset = PRESETS[args.size]
    models = args.test_models.split(",") if args.test_models else list(preset.test_models)
    examples = load_examples("ours", split="test")
    results = seed.seed_strategies(args.study, args.results, preset, args.sleep_model, models, examples,
                                   data_identity("ours"))
    question_ids = [str(e.get("question_id")) for e in examples]
    for result in results:
        print(result.line())
    print("the benchmark's resume check (no LM): questions on file / still to answer")
    budgets = [b for model in models for b in preset_budgets(preset, model, args.sleep_model)["strategies"]]
    for result, budget in zip(results, budgets, strict=True):  # seed_strategies' order: model, strategy
        path = f"{args.results}/ours/{model_label(result.test_model)}/rows/{result.config_id}.jsonl"
        taken, missing = seed.resume_check(budget, path, question_ids)
        print(f"  {result.test_model} {result.label}: {taken} / {missing}")
    return 2 if any(r.refused for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
