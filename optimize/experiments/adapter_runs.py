"""One evaluation run as Python users call it: a Budget (or a saved program) answered and scored under
each prompt adapter asked for, each adapter's rows in their own results file.

``sleeptime evaluate`` is this function behind flags (:mod:`optimize.cli.run`).

Example:
    >>> out = "results.jsonl"
    >>> adapter_results_path(out, "plain", adapters=("chat", "plain"))
    'results.plain.jsonl'
    >>> adapter_results_path(out, "chat", adapters=("chat",))
    'results.jsonl'
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def check_models(budget, api_base: str | None) -> None:
    """Parse both model specs now (an unknown model is a one-line error before any work)."""
    from programs.lm import parse_model_spec

    for spec in {budget.test_model, *([budget.sleep_model] if budget.use_sleep else [])}:
        if spec is not None:  # None: the LM set with dspy.configure
            parse_model_spec(spec, api_base)


def data_identity(source: str) -> dict:
    """``{"source", "sha256"}`` of a dataset name or JSONL path (no hash for a hub dataset)."""
    from optimize.data.loaders import available_datasets
    from optimize.experiments.results_file import file_sha256

    path = Path(source)
    if not path.is_file():
        path = available_datasets().get(str(source))
    return {"source": str(source), "sha256": file_sha256(path) if path is not None else None}


def default_threads(test_model: str) -> int:
    """Concurrent requests the test model's server takes (``programs.lm.suggested_concurrency``); 1 without a
    test model (the program uses ``dspy.configure``'s LM, whose server is unknown)."""
    from programs.lm import suggested_concurrency

    return max(1, suggested_concurrency(test_model)) if test_model else 1


def adapter_results_path(out: str | None, adapter: str, *, adapters: Sequence[str]) -> str | None:
    """Where ``adapter``'s rows go: ``out`` itself for a single adapter, ``<out>.<adapter>.jsonl`` for
    several."""
    if out and len(adapters) > 1:
        return str(Path(out).with_suffix("")) + f".{adapter}.jsonl"
    return out


def evaluate_adapters(examples: list, *, budget=None, program: str | Path | None = None,
                      adapters: Sequence[str] = ("chat",), data: dict | None = None, store=None,
                      api_base: str | None = None, baseline: str | None = None, baseline_samples: int = 5,
                      sampler_seed: int = 0, threads: int | None = None, out: str | None = None,
                      retry_errors: bool = True, retries: int = 3) -> Iterator[tuple[str, Any, Any]]:
    """Answer and score ``examples`` with ``budget``'s program (or the saved ``program`` directory) under
    each of ``adapters``; ``baseline`` ("majority" or "pass-at-k") samples ``baseline_samples`` answers
    instead. ``data`` is :func:`data_identity` of the examples' source, recorded in the results file's
    configuration; ``threads`` defaults to :func:`default_threads` of the test model. Yields
    ``(adapter, program, rows)`` as each adapter finishes, the rows as
    :func:`optimize.experiments.evaluate.evaluate` returns them."""
    from optimize.experiments.evaluate import evaluate
    from optimize.experiments.results_file import run_config
    from programs.api import build_program, load
    from programs.lm import TokenLedger

    if (budget is None) == (program is None):
        raise ValueError("evaluate_adapters takes a budget or a saved program directory, not both or neither")
    lm_options = {"num_retries": retries}
    for adapter in adapters:
        ledger = TokenLedger()
        if program is not None:
            answering = load(program, ledger=ledger, store=store, api_base=api_base, lm_options=lm_options)
            check_models(answering.budget, api_base)
        else:
            answering = build_program(budget, ledger=ledger, store=store, api_base=api_base, adapter=adapter,
                                      baseline=baseline, baseline_samples=baseline_samples, seed=sampler_seed,
                                      lm_options=lm_options)
        config = run_config(answering, data=data, api_base=api_base, adapter=adapter, baseline=baseline,
                            baseline_samples=baseline_samples if baseline else None,
                            sampler_seed=sampler_seed)
        yield adapter, answering, evaluate(
            answering, examples, ledger=ledger,
            num_threads=threads if threads is not None else default_threads(answering.budget.test_model),
            results_path=adapter_results_path(out, adapter, adapters=adapters), config=config,
            retry_errors=retry_errors)
