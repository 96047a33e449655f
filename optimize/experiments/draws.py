"""``sleeptime compile --draws N``: compile N draws, score them and the hand-written program on dev, pick one.

Draw ``i`` is :func:`optimize.experiments.compile.compile_program` with seed ``seed + i``; draw 0 visits
the train
questions in the data's order (unless ``shuffle_train``), every later draw in an order shuffled with its
seed, so each keeps other demos. The selection itself (rule, record, power) is
:mod:`optimize.experiments.selection`.

Written into ``out_dir``: the chosen program (a bundle whose manifest holds the selection record), every
draw's bundle under ``draws/draw-<i>/`` and every candidate's rows on the selection set under
``selection/`` (so each number of the record can be recomputed). No test row is made here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optimize.experiments.selection import (
    HANDWRITTEN,
    SelectionError,
    check_selection_split,
    selection_record,
)
from programs.budget import Budget


def compile_draws(budget: Budget, trainset: list, selection_set: list, *, draws: int, out_dir,
                  select_on: str = "dev", seed: int = 0, shuffle_train: bool = False, phase: str = "both",
                  optimizer: str = "bootstrap", store=None, api_base: str | None = None,
                  adapter: str = "chat",
                  num_threads: int = 1, data: dict | None = None, track: bool = True,
                  tracking_uri: str | None = None, lm_options: dict | None = None, progress: bool = True,
                  command: str | None = None, **compile_options: Any) -> tuple[Any, dict]:
    """Compile ``draws`` draws, score each and the hand-written program on ``selection_set`` (dev), choose
    by :data:`optimize.experiments.selection.SELECTION_RULE`, save the choice to ``out_dir``; return
    (program, record).

    ``compile_options`` go to :func:`optimize.experiments.compile.compile_program` (``max_demos``,
    ``token_penalty``,
    ``teacher_model``, ...). ``select_on="test"`` is refused.

    Example::

        program, record = compile_draws(Budget(test_verbosity=0), train, dev, draws=3, out_dir="runs/v0")
        print(record["chosen"]["name"])   # "hand-written" or "draw <i>"
    """
    from optimize.experiments.compile import _mlflow_run, compile_program, log_program_model
    from optimize.experiments.evaluate import evaluate
    from optimize.experiments.results_file import run_config
    from programs.api import build_program
    from programs.lm import TokenLedger
    from programs.store import InMemoryStore

    check_selection_split(select_on)
    if draws < 1:
        raise SelectionError(f"--draws must be at least 1, got {draws}")
    if not selection_set:
        raise SelectionError(f"the selection set ({select_on} split) is empty; the protocol scores every "
                             "draw on it: drop --dev-n 0 or use a dataset with a dev split")
    out = Path(out_dir)
    budget = budget.replace(compiled=None)
    # A test-phase compile reads stored notes, the same for every candidate; any other makes its own notes.
    shared = store if phase == "test" and store is not None else None

    def rows_of(program, ledger, name: str):
        path = out / "selection" / f"{name}.jsonl"
        config = run_config(program, data={"split": select_on, **(data or {})}, api_base=api_base,
                            adapter=adapter)
        frame = evaluate(program, selection_set, ledger=ledger, num_threads=num_threads, results_path=path,
                         progress=progress, config=config)
        return frame, f"selection/{name}.jsonl"

    params = {**budget.to_dict(), "optimizer": optimizer, "phase": phase, "draws": draws,
              "select_on": select_on, "seed": seed, "selection_questions": len(selection_set),
              "train_size": len(trainset)}
    with _mlflow_run(track, tracking_uri, f"compile-{optimizer}-{phase}-{draws}-draws", params) as run:
        hand_ledger = TokenLedger()
        handwritten = build_program(budget, ledger=hand_ledger, store=shared or InMemoryStore(),
                                    api_base=api_base, adapter=adapter, seed=seed, lm_options=lm_options)
        hand_rows, _ = rows_of(handwritten, hand_ledger, "handwritten")
        programs, scored = [], []
        for index in range(draws):
            ledger = TokenLedger()
            bundle = out / "draws" / f"draw-{index}"
            program = finished_draw(bundle, budget, seed=seed + index, optimizer=optimizer, phase=phase,
                                    ledger=ledger, store=shared, api_base=api_base, lm_options=lm_options)
            if program is None:
                program, _ = compile_program(
                    budget, trainset, devset=None, optimizer=optimizer, phase=phase, ledger=ledger,
                    store=shared, api_base=api_base, adapter=adapter, out_dir=bundle, seed=seed + index,
                    shuffle_train=shuffle_train or index > 0, num_threads=num_threads, data=data,
                    track=False, lm_options=lm_options, progress=progress, command=command,
                    **compile_options)
            rows, rows_path = rows_of(program, ledger, f"draw-{index}")
            manifest = json.loads((out / "draws" / f"draw-{index}" / "manifest.json").read_text())
            programs.append((program, manifest))
            scored.append((rows, {"seed": seed + index,
                                  "train_order": manifest["compiled_with"]["train_order"],
                                  "bundle": f"draws/draw-{index}", "rows_file": rows_path,
                                  "compile_cost": manifest["compiled_with"].get("cost")}))
        record = selection_record(hand_rows, scored, split=select_on)
        record["handwritten"]["rows_file"] = "selection/handwritten.jsonl"
        record["draws_made"] = {"count": draws, "seeds": [seed + i for i in range(draws)],
                                "how": "draw i: compile with seed + i; draw 0 in the data's train order "
                                       "(unless --shuffle-train), later draws shuffled with their seed"}
        if command:
            record["command"] = command
        choice = record["chosen"]["draw"]
        if choice is None:
            chosen = handwritten
            compiled_with = {"optimizer": None, "phase": phase, "adapter": adapter,
                             "note": f"the {HANDWRITTEN} program: no draw of {optimizer} beat it on the "
                                     f"selection set ({select_on})"}
            scores, chosen_seed = {}, seed
        else:
            chosen, manifest = programs[choice]
            compiled_with, scores, chosen_seed = manifest["compiled_with"], manifest["scores"], seed + choice
        scores = {**(scores or {}), **{f"{select_on}_{k}": v for k, v in record["chosen"].items()
                                       if k in ("accuracy", "mean_test_tokens")}}
        chosen.save_bundle(out, data=data, seed=chosen_seed, scores=scores, compiled_with=compiled_with,
                           selection=record)
        (out / "selection" / "selection.json").write_text(json.dumps(record, indent=2, default=str) + "\n",
                                                         encoding="utf-8")
        if run is not None:
            _log_selection(record, out)
            log_program_model(chosen)
    return chosen, record


def finished_draw(bundle: Path, budget: Budget, *, seed: int, optimizer: str, phase: str, **binding: Any):
    """The draw a stopped ``compile --draws`` already saved in ``bundle``, loaded and bound (``binding``:
    ledger, store, api_base, lm_options), so a rerun resumes instead of compiling it again (a new compile
    need not give the same demos, and the selection rows already on file are this bundle's); None when
    ``bundle`` holds no finished draw (its manifest is written last). A bundle of another seed, optimizer,
    phase or Budget is refused, naming the difference.

    Example::

        program = finished_draw(Path("runs/v0/draws/draw-1"), budget, seed=1, optimizer="bootstrap",
                                phase="both")
    """
    from programs.api import load
    from programs.persistence import MANIFEST_FILE

    if not (bundle / MANIFEST_FILE).is_file():
        return None
    program = load(bundle, sleep_model=budget.sleep_model, test_model=budget.test_model, **binding)
    how = program.manifest.get("compiled_with") or {}
    saved = {"seed": program.manifest.get("seed"), "optimizer": how.get("optimizer"),
             "phase": how.get("phase"), "budget": program.budget.replace(compiled=None).identity_dict()}
    wanted = {"seed": seed, "optimizer": optimizer, "phase": phase, "budget": budget.identity_dict()}
    differing = [f"{key}: {saved[key]!r} saved, {wanted[key]!r} asked" for key in wanted
                 if saved[key] != wanted[key]]
    if differing:
        raise SelectionError(f"{bundle} holds a draw made with other settings ({'; '.join(differing)}); "
                             "resume with the settings it was made with, or use a new --out-dir")
    return program


def _log_selection(record: dict, out: Path) -> None:
    """The selection into the active MLflow run: one metric series over draws, the choice, set and power."""
    import mlflow

    for candidate in record["draws"]:
        mlflow.log_metric("selection_accuracy", float(candidate["accuracy"]), step=candidate["draw"])
        mlflow.log_metric("selection_minus_handwritten_points",
                          float(candidate["minus_handwritten"]["points"]), step=candidate["draw"])
    metrics = {"selection_handwritten_accuracy": record["handwritten"]["accuracy"],
               "selection_chosen_accuracy": record["chosen"]["accuracy"],
               "selection_chosen_draw": -1 if record["chosen"]["draw"] is None else record["chosen"]["draw"],
               "selection_questions": record["set"]["questions"],
               "selection_contexts": record["set"]["contexts"],
               "selection_detectable_difference": record["power"]["detectable_difference"]}
    if "spread_over_draws" in record:
        for key, value in record["spread_over_draws"]["accuracy"].items():
            metrics[f"selection_draw_accuracy_{key}"] = value
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    mlflow.set_tag("sleeptime.selection_chosen", record["chosen"]["name"])
    mlflow.set_tag("sleeptime.selection_rule", record["rule"][:5000])
    mlflow.log_dict(record, "selection.json")
    mlflow.log_artifacts(str(out), artifact_path="program")
