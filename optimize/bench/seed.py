"""Seed a benchmark's rows from rows another run made under the same configuration, with no LM call.

The strategies study (``docs/benchmarks/strategies/test/``) answered the whole test split with ``optimize
evaluate`` under Budgets the standard benchmark's ``strategies`` group runs too. Those rows are the
benchmark's answers when the configuration recorded beside them is the one the benchmark would record
(:func:`benchmark_config`: program, Budget, prompts, endpoint), on the same data file, with the program built
as the benchmark builds it (:data:`BENCHMARK_SETTINGS`). :func:`seed_rows` checks that and writes them where
the benchmark resumes them (``<dataset>/<test model>/rows/<canonical id>.jsonl``): each row with the
``config_id`` the benchmark's resume check computes (``optimize evaluate`` records more settings, so its id
differs although the program is the same), the server settings they were made under (pairs need them) and
where they came from (``seeded_from``). Any other difference refuses the copy and names the field.
:func:`resume_check` then asks the benchmark's own resume logic, with no LM, which questions it would
still answer.

Run it from the repository root (``python3 -m optimize.cli.seed``), then rebuild the tables
(``python3 -m optimize.cli.rebuild``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimize.bench.errors import BenchmarkError
from optimize.experiments.results_file import PROVENANCE_KEYS, SEEDED_KEY

BENCHMARK_SETTINGS: dict[str, Any] = {"adapter": "chat", "baseline": None, "baseline_samples": None,
                                      "sampler_seed": 0}
"""Settings ``optimize evaluate`` records that the benchmark's program always has (``build_program``'s
defaults: the chat adapter, no sampling baseline, sampling seed 0); its own configuration leaves them out."""

NAMING_FIELDS = ("use_sleep", "sleep_strategy", "sleep_combine", "sleep_samples", "sleep_rounds",
                 "test_strategy", "test_verbosity", "test_model", "sleep_model")
"""The Budget fields that say which configuration a rows file holds; every other field must then agree."""


class SeedRefused(BenchmarkError):
    """Rows that are not the benchmark's answers (another configuration, data or question set)."""


def benchmark_config(budget, api_base: str | None = None) -> dict[str, Any]:
    """The configuration the benchmark records beside its rows of ``budget``: ``run_config`` of the program
    its evaluator builds. Building binds the LMs lazily, so no model is loaded or called.

    Example:
        >>> from programs.budget import Budget
        >>> config = benchmark_config(Budget(use_sleep=False, test_verbosity=3))
        >>> config["program"], config["budget"]["test_max_tokens"], config["data"]
        ('TestTimeOnly', 1024, {})
    """
    from optimize.experiments.results_file import run_config
    from programs.api import build_program

    return run_config(build_program(budget, api_base=api_base), api_base=api_base)


def _budget_value(budget: dict, name: str) -> Any:
    """A recorded Budget field, or the Budget's default when the record leaves it out (an id default, or a
    field added after the rows were made)."""
    from programs.budget import Budget

    return budget.get(name, getattr(Budget(), name))


def names_same_configuration(recorded: dict, expected: dict) -> bool:
    """Whether two recorded Budgets agree on :data:`NAMING_FIELDS` (a field left out is at its default).

    Example:
        >>> k8 = {"sleep_strategy": "compute", "sleep_samples": 8}
        >>> names_same_configuration(k8, {**k8, "sleep_combine": "agree"})  # agree is the default rule
        True
        >>> names_same_configuration(k8, {**k8, "sleep_combine": "union"})
        False
    """
    return all(_budget_value(recorded, f) == _budget_value(expected, f) for f in NAMING_FIELDS)


def config_differences(recorded: dict, expected: dict, data: dict) -> list[str]:
    """Each field in which rows recorded under ``recorded`` are not the benchmark's under ``expected``
    (:func:`benchmark_config`), named; empty when they are the same configuration. The benchmark records no
    data identity, so a recorded one must be ``data`` (the identity of the file the benchmark reads).

    Example:
        >>> expected = {"program": "P", "budget": {"test_max_tokens": 256}, "prompts": "a", "data": {}}
        >>> recorded = {**expected, "budget": {"test_max_tokens": 512}, "adapter": "chat", "sampler_seed": 1,
        ...             "data": {"source": "ours", "sha256": "x"}}
        >>> for line in config_differences(recorded, expected, {"source": "ours", "sha256": "x"}):
        ...     print(line)
        budget.test_max_tokens: 512 in the rows, 256 in the benchmark
        sampler_seed: 1 in the rows, 0 in the benchmark
    """
    out = []
    for key in sorted(set(recorded) | set(expected)):
        if key in (*PROVENANCE_KEYS, "data") or key in BENCHMARK_SETTINGS:
            continue
        mine, theirs = recorded.get(key), expected.get(key)
        if key == "budget" and isinstance(mine, dict) and isinstance(theirs, dict):
            out += [f"budget.{name}: {mine.get(name)!r} in the rows, {theirs.get(name)!r} in the benchmark"
                    for name in sorted(set(mine) | set(theirs)) if mine.get(name) != theirs.get(name)]
        elif key not in expected:
            out.append(f"{key}: recorded by the rows ({mine!r}), a setting the benchmark does not have")
        elif mine != theirs:
            out.append(f"{key}: {mine!r} in the rows, {theirs!r} in the benchmark")
    if recorded.get("data") not in ({}, None, data):
        out.append(f"data: {recorded.get('data')!r} in the rows, {data!r} in the benchmark")
    out += [f"{key}: {recorded[key]!r} in the rows, {value!r} in the benchmark"
            for key, value in BENCHMARK_SETTINGS.items() if key in recorded and recorded[key] != value]
    return out


def _read_config(rows_path: Path) -> dict:
    path = Path(f"{rows_path}.config.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SeedRefused(f"{rows_path}: its configuration {path.name} cannot be read ({exc}); rows without "
                          "one cannot be shown to be the benchmark's") from exc


def _checked_rows(source: Path, recorded: dict, question_ids: set[str]) -> list[dict]:
    """The source's rows, each checked to be of its recorded configuration and a question the benchmark
    asks."""
    from optimize.reports.rows import read_results

    rows = read_results(source, strict=True)
    own = recorded_id(recorded)
    foreign = [row for row in rows if row.get("config_id") != own]
    if foreign:
        raise SeedRefused(f"{source}: {len(foreign)} row(s) carry config_id {foreign[0].get('config_id')!r}, "
                          f"not {own!r} of the configuration recorded beside them")
    outside = sorted({str(row.get("question_id")) for row in rows} - question_ids)
    if outside:
        raise SeedRefused(f"{source}: {len(outside)} row(s) answer questions the benchmark does not ask "
                          f"(e.g. {outside[0]}): another split or data set")
    return rows


def seed_rows(source: str | os.PathLike, target: str | os.PathLike, budget, *, question_ids: Iterable[str],
              data: dict, api_base: str | None = None) -> str:
    """Write ``source``'s rows to ``target`` as the benchmark's rows of ``budget``, when they are (see the
    module's docstring); returns what was done. Refuses (:class:`SeedRefused`, naming the field) rows of
    another configuration, data file or question set, rows whose server settings were not recorded, and a
    ``target`` holding answers other than the source's. Seeding again after the source gained rows adds them.

    Example (the tests seed a tiny study; the repository's: ``python3 -m optimize.cli.seed``)::

        seed_rows("docs/benchmarks/strategies/test/sleep-compute-v0.jsonl",
                  "docs/benchmarks/standard/ours/local-qwen2.5-coder-1.5b/rows/5fb0c3fb9488.jsonl",
                  budget, question_ids=test_ids, data=data_identity("ours"))
    """
    from optimize.experiments.results_file import config_id
    from optimize.reports.rows import read_results

    source, target = Path(source), Path(target)
    recorded = _read_config(source)
    server = recorded.get("server")
    if not server or server.get("slots") is None:
        raise SeedRefused(f"{source}: the server settings its rows were made under are not recorded; the "
                          "benchmark pairs only runs made under equal settings")
    expected = benchmark_config(budget, api_base)
    differences = config_differences(recorded, expected, data)
    if differences:
        raise SeedRefused(f"{source} is not the benchmark's configuration: " + "; ".join(differences))
    rows = _checked_rows(source, recorded, set(map(str, question_ids)))
    wanted = config_id(expected)
    seeded = {str(row["question_id"]): {**row, "config_id": wanted} for row in rows}
    on_file = {str(row["question_id"]): row for row in read_results(target, strict=True)}
    other = [qid for qid, row in on_file.items() if seeded.get(qid) != row]
    if other:
        raise SeedRefused(f"{target} already holds {len(other)} answer(s) the source does not (e.g. question "
                          f"{other[0]}); it is not overwritten")
    if len(on_file) == len(seeded):
        return f"already on file: {len(on_file)} rows"
    origin = {"rows": str(source), "config_id": recorded_id(recorded)}
    _write(target, list(seeded.values()), {**expected, "server": server, SEEDED_KEY: origin})
    return f"seeded {len(seeded)} rows ({len(seeded) - len(on_file)} new)"


def recorded_id(recorded: dict) -> str:
    """The ``config_id`` rows made under a recorded configuration carry (its provenance left out)."""
    from optimize.experiments.results_file import config_id, recorded_identity

    return config_id(recorded_identity(recorded))


def _write(target: Path, rows: list[dict], config: dict) -> None:
    """Rows and their configuration, each written whole before it replaces what was there."""
    from programs.files import replace_text

    target.parent.mkdir(parents=True, exist_ok=True)
    replace_text(target, "".join(json.dumps(row, default=str) + "\n" for row in rows))
    replace_text(Path(f"{target}.config.json"),
                 json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")


def resume_check(budget, rows_path: str | os.PathLike, question_ids: Sequence[str]) -> tuple[int, int]:
    """(questions the benchmark would take from ``rows_path``, questions it would still answer): its own
    resume logic (``results_file.resume`` with the configuration and server settings it would run under),
    no LM call. A file of another configuration or other server settings raises as the run would.

    Example:
        >>> from programs.budget import Budget
        >>> resume_check(Budget(use_sleep=False), "no-such-rows.jsonl", ["q1", "q2"])
        (0, 2)
    """
    from optimize.experiments.results_file import resume
    from optimize.reports.server_settings import server_settings

    keys = [str(q) for q in question_ids]
    models = [budget.test_model, budget.sleep_model if budget.use_sleep else None]
    _, finished, retried = resume(rows_path, keys, config=benchmark_config(budget),
                                  server=server_settings(models), retry_errors=True)
    taken = len(set(finished) & set(keys))
    return taken, len(keys) - taken


@dataclass
class SeedResult:
    """What seeding did for one configuration of one part.

    Example:
        >>> SeedResult("local:qwen2.5-coder-1.5b", "compute k=1", "5fb0c3fb9488", None, "no rows").line()
        'local:qwen2.5-coder-1.5b compute k=1 (5fb0c3fb9488): no rows'
    """

    test_model: str
    label: str
    config_id: str
    source: str | None
    status: str
    refused: bool = False

    def line(self) -> str:
        source = f" from {self.source}" if self.source else ""
        return f"{self.test_model} {self.label} ({self.config_id}){source}: {self.status}"


def seed_strategies(study: str | os.PathLike, results: str | os.PathLike, preset, sleep_model: str,
                    test_models: Sequence[str], examples: Sequence, data: dict,
                    dataset: str = "ours") -> list[SeedResult]:
    """Seed the ``strategies`` group of every test model from the study's rows files: each configuration
    from the one file whose recorded Budget names it (:func:`names_same_configuration`), then checked by
    :func:`seed_rows`. A configuration no file names is reported as having no rows (the benchmark answers
    it when it runs); two files naming one are refused."""
    from optimize.bench.orchestration import model_label
    from optimize.bench.presets import base_budget, preset_budgets
    from optimize.bench.tables import canonical_id
    from optimize.errors import UserError

    recorded = {path: _read_config(path) for path in sorted(Path(study).glob("*.jsonl"))
                if Path(f"{path}.config.json").exists()}
    question_ids = {str(e.get("question_id")) for e in examples}
    out = []
    for test_model in test_models:
        base = base_budget(preset, test_model, sleep_model)
        rows_dir = Path(results) / dataset / model_label(test_model) / "rows"
        budgets = preset_budgets(preset, test_model, sleep_model)["strategies"]
        for strategy, budget in zip(preset.sleep_strategies, budgets, strict=True):
            config_id = canonical_id(budget, base)
            named = benchmark_config(budget)["budget"]
            sources = [path for path, config in recorded.items()
                       if names_same_configuration(config.get("budget") or {}, named)]
            result = SeedResult(test_model, strategy.label, config_id, None, "no rows in the study")
            if len(sources) > 1:
                result.status, result.refused = f"refused: {len(sources)} files name it: {sources}", True
            elif sources:
                result.source = str(sources[0])
                try:
                    result.status = seed_rows(sources[0], rows_dir / f"{config_id}.jsonl", budget,
                                              question_ids=question_ids, data=data)
                except (SeedRefused, UserError) as exc:  # UserError: a torn last line (a run still writing)
                    result.status, result.refused = f"refused: {exc}", True
            out.append(result)
    return out


__all__ = ["BENCHMARK_SETTINGS", "SeedRefused", "SeedResult", "benchmark_config", "config_differences",
           "names_same_configuration", "resume_check", "seed_rows", "seed_strategies"]
