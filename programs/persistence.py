"""Program bundles: the project's folder format for a compiled program, and the one loader of its prompts.

A bundle is a directory of three JSON files: ``program.json`` (DSPy state: instructions and demos of every
predictor), ``budget.json`` and ``manifest.json`` (format version, package version, program class and
settings, models, data, seed, scores, created_at). LMs are never saved: they are bound at run time.
``program.save(path)`` keeps DSPy's meaning (one state file); ``program.save_bundle(dir)`` (the same as
``programs.save_bundle(program, dir)``) writes a bundle and ``programs.load(dir_or_name)`` loads one.
:class:`SavableProgram` gives a program its copy, pickle, save and load behaviour.

Bundles shipped with the package live in ``programs/compiled/<model>/<name>/`` and load by name
(``programs.load("qwen2.5-coder-1.5b/sleep-v0")``); :func:`resolve_bundle` maps a name or path to a folder.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from programs.budget import Budget, BudgetError
from programs.files import replace_text
from programs.redact import redact

FORMAT_VERSION = 1
STATE_FILE, BUDGET_FILE, MANIFEST_FILE = "program.json", "budget.json", "manifest.json"
SAVED_FILES = (STATE_FILE, BUDGET_FILE, MANIFEST_FILE)
COMPILED_ROOT = Path(__file__).resolve().parent / "compiled"  # bundles shipped as package data
_MODEL_FIELDS = ("sleep_model", "test_model")
# Names that used to ship, so code that loads them is told why they went and what to load instead:
# name -> (why it no longer ships, the shipped program to load, where the repository keeps the old bundle).
WITHDRAWN_PROGRAMS = {
    "qwen2.5-coder-1.5b/sleep-v0-bootstrap": (
        "it was shipped on its test result (it lost to the hand-written prompts on its own 24 dev "
        "questions), and the selection protocol's re-make (docs/benchmarks/compiled/remake-shipped.sh) "
        "chose another draw",
        "qwen2.5-coder-1.5b/sleep-v0-bootstrap-seed2",
        "docs/benchmarks/compiled/1.5b-sleep-v0-bootstrap-program"),
}


class PersistenceError(ValueError):
    """A bundle is missing, incomplete, of another format version, or does not fit the program."""


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("sleeptime-compute")
    except Exception:  # not installed (running from a checkout)
        return "unknown"


def _write_json(path: Path, payload: Any) -> None:
    replace_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def save_bundle(program, path: str | os.PathLike, *, data: dict | None = None, seed: int | None = None,
                scores: dict | None = None, compiled_with: dict | None = None,
                selection: dict | None = None) -> Path:
    """Write ``program``'s state, budget and manifest into directory ``path`` (created if needed): the one
    way to save a bundle, spelled ``programs.save_bundle(program, dir)`` or ``program.save_bundle(dir)``.

    ``data``, ``seed``, ``scores`` and ``compiled_with`` (optimizer and its settings) go into the manifest.

    ``selection`` is the record of how the program was chosen among compiled draws and the hand-written
    program (:mod:`optimize.experiments.selection`); the manifest keeps it as written.

    Model specs are written through :func:`programs.redact.redact`: a password in an API base never
    reaches the files (rebind with ``programs.load(dir, test_model=...)``).
    """
    import dspy

    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise PersistenceError(f"{directory} is a file; a bundle is a directory: pass a directory path "
                               "(program.save(file.json) writes DSPy's single state file)")
    directory.mkdir(parents=True, exist_ok=True)
    budget: Budget = program.budget
    budget_dict = budget.to_dict()
    for name in _MODEL_FIELDS:
        if budget_dict[name] is not None:
            budget_dict[name] = redact(budget_dict[name])
    manifest = {
        "format_version": FORMAT_VERSION,
        "package_version": package_version(),
        "dspy_version": dspy.__version__,
        "program_class": type(program).__name__,
        "program_config": program.config(),
        "models": {"sleep": budget_dict["sleep_model"] if budget.use_sleep else None,
                   "test": budget_dict["test_model"]},
        "data": data,
        "seed": seed,
        "scores": scores,
        "compiled_with": {k: redact(v) if isinstance(v, str) else v for k, v in (compiled_with or {}).items()}
        or None,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if selection is not None:
        manifest["selection"] = selection
    _write_json(directory / STATE_FILE, program.dump_state())
    _write_json(directory / BUDGET_FILE, budget_dict)
    _write_json(directory / MANIFEST_FILE, manifest)
    return directory


def rebuild_program(cls: type, budget: Budget, config: dict, state: dict):
    """Unpickle a program: rebuild it from its Budget and settings, then put its prompts back."""
    program = cls(budget, **config)
    program.load_state(state)
    return program


def shipped_programs() -> list[str]:
    """Names (``<model>/<name>``) of the bundles shipped in ``programs/compiled/``.

    Example:
        >>> isinstance(shipped_programs(), list)
        True
    """
    if not COMPILED_ROOT.is_dir():
        return []
    return sorted(f"{path.parent.parent.name}/{path.parent.name}"
                  for path in COMPILED_ROOT.glob(f"*/*/{MANIFEST_FILE}"))


def resolve_bundle(source: str | os.PathLike) -> Path:
    """The bundle directory for ``source``: an existing directory, else a shipped bundle's name.

    Example:
        >>> try:
        ...     resolve_bundle("no/such-program")
        ... except PersistenceError as error:
        ...     print(str(error)[:48])
        no saved program at no/such-program: it is not a
    """
    path = Path(source)
    if path.is_dir():
        return path
    name = str(source)
    if name and not path.is_absolute() and ".." not in path.parts:
        shipped = COMPILED_ROOT / name
        if (shipped / MANIFEST_FILE).is_file():
            return shipped
    if name in WITHDRAWN_PROGRAMS:
        why, instead, kept_at = WITHDRAWN_PROGRAMS[name]
        raise PersistenceError(f"{name} is no longer shipped: {why}. Load {instead!r} instead (the "
                               f"protocol's choice); to reproduce old results, load the bundle the "
                               f"repository keeps at {kept_at}")
    names = ", ".join(shipped_programs()) or "none yet"
    raise PersistenceError(f"no saved program at {source}: it is not a directory written by "
                           f"program.save_bundle(dir), nor a program shipped with the package "
                           f"(shipped: {names})")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PersistenceError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); re-save the "
                               "program with program.save_bundle(dir)") from exc


def read_bundle(source: str | os.PathLike) -> tuple[dict, Budget, dict]:
    """(manifest, budget, state) of a bundle, after checking every file and the format version."""
    directory = resolve_bundle(source)
    missing = [name for name in SAVED_FILES if not (directory / name).is_file()]
    if missing:
        raise PersistenceError(f"saved program {directory} is missing {', '.join(missing)}; it is incomplete "
                               "or not a bundle: re-save it with program.save_bundle(dir)")
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


def _fitting(program, saved: Budget, state: dict) -> dict[str, dict]:
    """The saved predictor states that fit ``program``.

    The rewriter's prompts fit any program with a rewriter; the answerer's prompts carry the verbosity
    instruction and the learned-context input, so they fit only the same verbosity and use of sleep.
    """
    names = {name for name, _ in program.named_parameters()}
    same_answerer = (saved.test_verbosity == program.budget.test_verbosity
                     and saved.use_sleep == program.budget.use_sleep)
    return {name: value for name, value in state.items()
            if name in names and (same_answerer or not name.startswith("answerer."))}


def load_prompts(program, source: str | os.PathLike) -> list[str]:
    """Load the compiled prompts and demos of bundle ``source`` that fit ``program``; the one loader.

    ``programs.load`` and ``Budget.compiled`` (through ``programs.build_program``) come here. All or
    nothing: a failure leaves ``program`` untouched. Nothing fitting is an error; a part that does not fit
    is left out with a warning naming it. Returns the predictor names loaded.
    """
    directory = resolve_bundle(source)
    _manifest, saved, state = read_bundle(directory)
    fits = _fitting(program, saved, state)
    shape = (f"{type(program).__name__} (predictors {sorted(n for n, _ in program.named_parameters())}, "
             f"test_verbosity={program.budget.test_verbosity}, use_sleep={program.budget.use_sleep})")
    if not fits:
        raise PersistenceError(f"{directory / STATE_FILE} holds predictors {sorted(state)} saved for "
                               f"test_verbosity={saved.test_verbosity}, use_sleep={saved.use_sleep}; "
                               f"none fit {shape}: load it as its own program with programs.load(dir)")
    for target in (program.deepcopy(), program):  # a copy first, so a failure leaves nothing half-loaded
        predictors = dict(target.named_parameters())
        for name, value in fits.items():
            try:
                predictors[name].load_state(value)
            except Exception as exc:
                raise PersistenceError(f"{directory / STATE_FILE}: predictor {name} could not be loaded into "
                                       f"{type(program).__name__}: {exc}") from exc
    left_out = sorted(set(state) - set(fits))
    if left_out:
        warnings.warn(f"bundle {directory} was compiled for test_verbosity={saved.test_verbosity}, "
                      f"use_sleep={saved.use_sleep}; its prompts for {left_out} do not fit {shape} and were "
                      "not loaded", stacklevel=2)
    return sorted(fits)


class SavableProgram:
    """How a program is copied, pickled, saved and loaded; mixed in before ``dspy.Module``.

    State is prompts only: LMs, the ledger and the store are run-time things. A copy shares them and copies
    the prompts; a pickle (DSPy's ``save_program=True``, ``mlflow.dspy.log_model``) carries the Budget,
    the settings of :meth:`config` and the prompts, and is rebuilt with fresh run-time things.
    ``save(path)`` / ``load(path)`` keep DSPy's meaning (one state file); :meth:`save_bundle` writes the
    project's bundle folder, which ``programs.load(dir)`` reads.

    Example:
        >>> import copy, pickle
        >>> from programs import build_program
        >>> program = build_program(Budget(use_sleep=False, test_verbosity=2))
        >>> copied, unpickled = copy.deepcopy(program), pickle.loads(pickle.dumps(program))
        >>> copied.ledger is program.ledger, unpickled.budget == program.budget
        (True, True)
    """

    def dump_state(self, json_mode: bool = True) -> dict:
        """DSPy's state (instructions and demos per predictor) without LMs: the Budget names the models."""
        from programs.binding import without_lms

        return without_lms(super().dump_state(json_mode=json_mode))

    def __deepcopy__(self, memo: dict):
        # LMs are run-time clients (dspy.LM.copy shares them too): a copy shares them and copies the prompts.
        for predictor in self.predictors():
            if predictor.lm is not None:
                memo.setdefault(id(predictor.lm), predictor.lm)
        new = object.__new__(type(self))
        memo[id(self)] = new
        for name, value in self.__dict__.items():
            new.__dict__[name] = copy.deepcopy(value, memo)
        return new

    def __copy__(self):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __reduce__(self):
        return rebuild_program, (type(self), self.budget, self.config(), self.dump_state())

    def save(self, path, save_program: bool = False, modules_to_serialize: list | None = None,
             **bundle: Any) -> None:
        """DSPy's save: a ``.json``/``.pkl`` state file, or with ``save_program=True`` a pickled directory.

        The project's bundle folder is :meth:`save_bundle`. Passing ``data``/``seed``/``scores`` here writes
        a bundle with a DeprecationWarning naming :meth:`save_bundle`.
        """
        if bundle:
            unknown = sorted(set(bundle) - {"data", "seed", "scores"})
            if unknown:
                raise TypeError(f"save() got unexpected keyword arguments {unknown}")
            warnings.warn("program.save(dir, data=..., seed=..., scores=...) writes a bundle: call "
                          "program.save_bundle(dir, ...) instead; save(path) keeps DSPy's meaning",
                          DeprecationWarning, stacklevel=2)
            self.save_bundle(path, **bundle)
            return
        super().save(path, save_program=save_program, modules_to_serialize=modules_to_serialize)

    def load(self, path, allow_pickle: bool = False, allow_unsafe_lm_state: bool = False):
        """DSPy's load of a ``.json``/``.pkl`` state file; a bundle directory is pointed to programs.load."""
        if Path(path).is_dir():
            raise PersistenceError(f"{path} is a directory: load a bundle with programs.load(dir); "
                                   "program.load(file) reads a DSPy state file")
        super().load(path, allow_pickle=allow_pickle, allow_unsafe_lm_state=allow_unsafe_lm_state)
        return self

    def save_bundle(self, path: str | os.PathLike, **manifest: Any) -> Path:
        """Write this program as a bundle into directory ``path``: :func:`save_bundle` (its keywords too)."""
        return save_bundle(self, path, **manifest)

    def load_bundle(self, path: str | os.PathLike):
        """Deprecated: load a bundle with ``programs.load(dir)``, or build a program for another Budget with
        ``programs.build_program(budget.replace(compiled=dir))``; both load the prompts that fit."""
        warnings.warn("program.load_bundle(dir) is deprecated: load a bundle with programs.load(dir), or its "
                      "prompts into a program for another Budget with "
                      "programs.build_program(budget.replace(compiled=dir))",
                      DeprecationWarning, stacklevel=2)
        load_prompts(self, path)
        return self
