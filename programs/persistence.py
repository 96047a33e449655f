"""Save a program to a directory and load it back with one call.

A saved program is a directory of three JSON files: ``program.json`` (DSPy state: instructions and demos
of every predictor), ``budget.json`` and ``manifest.json`` (format version, package version, program class
and settings, models, data, seed, scores, created_at). LMs are never saved: they are bound at run time.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from programs.budget import Budget, BudgetError

FORMAT_VERSION = 1
STATE_FILE, BUDGET_FILE, MANIFEST_FILE = "program.json", "budget.json", "manifest.json"
SAVED_FILES = (STATE_FILE, BUDGET_FILE, MANIFEST_FILE)


class PersistenceError(RuntimeError):
    """A saved program directory is missing a file, has another format version, or does not fit its class."""


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("sleeptime-compute")
    except Exception:  # not installed (running from a checkout)
        return "unknown"


def _program_classes() -> dict[str, type]:
    from programs.baselines import MajorityVote, PassAtK, TestTimeOnly
    from programs.program import SleepTimeProgram

    return {cls.__name__: cls for cls in (SleepTimeProgram, TestTimeOnly, MajorityVote, PassAtK)}


def _write_json(path: Path, payload: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{time.time_ns()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)  # a reader never sees half a file


def save_program(program, path: str | os.PathLike, *, data: dict | None = None, seed: int | None = None,
                 scores: dict | None = None) -> Path:
    """Write ``program``'s state, budget and manifest into directory ``path`` (created if needed)."""
    import dspy

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    budget: Budget = program.budget
    manifest = {
        "format_version": FORMAT_VERSION,
        "package_version": package_version(),
        "dspy_version": dspy.__version__,
        "program_class": type(program).__name__,
        "program_config": program.config(),
        "models": {"sleep": budget.sleep_model if budget.use_sleep else None, "test": budget.test_model},
        "data": data,
        "seed": seed,
        "scores": scores,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _write_json(directory / STATE_FILE, program.dump_state())
    _write_json(directory / BUDGET_FILE, budget.to_dict())
    _write_json(directory / MANIFEST_FILE, manifest)
    return directory


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PersistenceError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); re-save the "
                               "program with program.save(dir)") from exc


def read_saved(path: str | os.PathLike) -> tuple[dict, Budget, dict]:
    """(manifest, budget, state) of a saved program, after checking every file and the format version."""
    directory = Path(path)
    if not directory.is_dir():
        raise PersistenceError(f"no saved program at {directory}: expected a directory written by "
                               "program.save(dir) containing " + ", ".join(SAVED_FILES))
    missing = [name for name in SAVED_FILES if not (directory / name).is_file()]
    if missing:
        raise PersistenceError(f"saved program {directory} is missing {', '.join(missing)}; it is incomplete "
                               "or not a saved program: re-save it with program.save(dir)")
    manifest = _read_json(directory / MANIFEST_FILE)
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise PersistenceError(f"{directory / MANIFEST_FILE} has format_version {version!r}, this package "
                               f"reads version {FORMAT_VERSION}; re-save it with this version "
                               f"(package {package_version()})")
    try:
        budget = Budget.from_dict(_read_json(directory / BUDGET_FILE))
    except BudgetError as exc:
        raise PersistenceError(f"{directory / BUDGET_FILE}: {exc}") from exc
    state = _read_json(directory / STATE_FILE)
    if not isinstance(state, dict):
        raise PersistenceError(f"{directory / STATE_FILE} does not hold a DSPy state object; "
                               "re-save the program")
    return manifest, budget, state


def _apply_state(program, state: dict, source: Path) -> None:
    names = {name for name, _ in program.named_parameters()}
    if names != set(state):
        raise PersistenceError(f"{source / STATE_FILE} holds predictors {sorted(state)} but "
                               f"{type(program).__name__} has {sorted(names)}; it was saved from another "
                               "program shape: load it with programs.load(dir)")
    trial = program.deepcopy()  # apply to a copy first so a failure leaves nothing half-loaded
    try:
        trial.load_state(state)
    except Exception as exc:
        raise PersistenceError(f"{source / STATE_FILE} could not be loaded into {type(program).__name__}: "
                               f"{exc}") from exc
    program.load_state(state)


def load_program(path: str | os.PathLike, *, ledger=None, store=None, api_base: str | None = None,
                 lm_options: dict | None = None):
    """Rebuild the saved program's class from its manifest and load its state; one call, all or nothing."""
    manifest, budget, state = read_saved(path)
    classes = _program_classes()
    name = manifest.get("program_class")
    if name not in classes:
        raise PersistenceError(f"{Path(path) / MANIFEST_FILE} names program class {name!r}; known: "
                               f"{sorted(classes)}")
    config = dict(manifest.get("program_config") or {})
    try:
        program = classes[name](budget, ledger=ledger, store=store, api_base=api_base, lm_options=lm_options,
                                **config)
    except (TypeError, ValueError) as exc:
        raise PersistenceError(f"{Path(path) / MANIFEST_FILE}: cannot rebuild {name} from its settings "
                               f"{config}: {exc}") from exc
    _apply_state(program, state, Path(path))
    program.manifest = manifest
    return program


def load_state_into(program, path: str | os.PathLike) -> None:
    """Load saved prompts and demos into an existing program of the same shape (all or nothing)."""
    _manifest, _budget, state = read_saved(path)
    _apply_state(program, state, Path(path))


def load_compatible_state(program, path: str | os.PathLike) -> list[str]:
    """Load the parts of a compiled state that fit ``program`` (used for ``Budget.compiled``).

    The rewriter's prompts fit any budget with a sleep phase; the answerer's prompts carry the verbosity
    instruction, so they are loaded only when the saved budget has the same verbosity and the same use of
    a learned context. Returns the predictor names loaded.
    """
    _manifest, saved_budget, state = read_saved(path)
    same_answerer = (saved_budget.test_verbosity == program.budget.test_verbosity
                     and saved_budget.use_sleep == program.budget.use_sleep)
    loaded = []
    for name, predictor in program.named_parameters():
        if name not in state or (name.startswith("answerer.") and not same_answerer):
            continue
        predictor.load_state(state[name])
        loaded.append(name)
    if not same_answerer:
        warnings.warn(f"compiled state {path} was made for test_verbosity={saved_budget.test_verbosity}, "
                      f"use_sleep={saved_budget.use_sleep}; its answerer prompts were not loaded into a "
                      f"program with test_verbosity={program.budget.test_verbosity}", stacklevel=2)
    return loaded
