"""A results file: its rows, the configuration they were made under, resuming it, and appending to it.

A results file (JSONL, one row per question) is tied to one configuration (:func:`run_config`: budget,
models, prompts, data file and its hash), written beside it as ``<file>.config.json`` with the server
settings the rows were made under. Resuming it under another configuration or other server settings raises
:class:`optimize.errors.ResumeMismatchError` before any work.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from optimize.errors import ResumeMismatchError
from optimize.reports.metrics import is_failed_row
from optimize.reports.rows import read_results
from optimize.reports.server_settings import SERVER_KEY, comparable, describe, recorded_settings
from programs.files import replace_text
from programs.redact import redact


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (the data file identity of a results file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prompt_hash(program) -> str:
    """A short hash of a program's prompts: every predictor's instructions, fields and demos.

    Two programs with the same hash send the same prompts (compiled or not), whatever LM they are bound to.
    """
    parts = []
    named = program.named_predictors() if hasattr(program, "named_predictors") else []
    for name, predictor in named:
        state = predictor.dump_state()
        parts.append({"name": name, "signature": state.get("signature"), "demos": state.get("demos")})
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_config(program, *, data: dict | None = None, api_base: str | None = None,
               **settings: Any) -> dict[str, Any]:
    """The identity of an evaluation, for ``evaluate(config=...)``: what determines a row's result.

    Budget (sleep fields dropped for a test-time-only run; the compiled path replaced by the prompt hash),
    models and ``api_base`` redacted, the program class, ``settings`` (adapter, baseline, sampler seed, ...)
    and ``data`` (e.g. ``{"source": ..., "sha256": ...}``). Thread count, retries and ``--n`` are left out:
    they do not change a row.

    Example::

        config = run_config(program, data={"source": "ours", "sha256": file_sha256("data/x.jsonl")})
        evaluate(program, examples, ledger=ledger, results_path="out.jsonl", config=config)
    """
    budget = getattr(program, "budget", None)
    budget_dict = dict(budget.identity_dict()) if budget is not None else {}
    budget_dict.pop("compiled", None)
    resolved = getattr(budget, "resolved_test_max_tokens", None)
    if resolved is not None:
        budget_dict["test_max_tokens"] = resolved
    if budget_dict and not budget_dict.get("use_sleep", True):
        budget_dict = {k: v for k, v in budget_dict.items() if not k.startswith("sleep_")}
    budget_dict = {k: redact(v) if isinstance(v, str) else v for k, v in budget_dict.items()}
    config = {"program": type(program).__name__, "budget": budget_dict, "prompts": prompt_hash(program),
              "api_base": redact(api_base) if api_base else None, "data": data or {}}
    config.update({k: (redact(v) if isinstance(v, str) else v) for k, v in settings.items()})
    return config


SEEDED_KEY = "seeded_from"
PROVENANCE_KEYS = (SERVER_KEY, SEEDED_KEY)
"""Keys of a ``.config.json`` that say how its rows were made (server settings) or where they were copied
from (``optimize.bench.seed``), not which configuration they answer: never part of an id."""


def recorded_identity(recorded: dict) -> dict:
    """A recorded ``.config.json`` without its :data:`PROVENANCE_KEYS`: what its rows' ``config_id`` hashes.

    Example:
        >>> recorded_identity({"program": "P", "server": {"slots": 1}, "seeded_from": {"rows": "a.jsonl"}})
        {'program': 'P'}
    """
    return {k: v for k, v in recorded.items() if k not in PROVENANCE_KEYS}


def config_id(config: dict) -> str:
    """A short stable id of a configuration (written in every row as ``config_id``)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _config_path(results_path: str | os.PathLike) -> Path:
    return Path(str(results_path) + ".config.json")


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Readable differences between two configurations: changed values first, then fields only one has."""
    changed, only = [], []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _differences(a, b, f"{prefix}{key}.")
        elif key not in old or key not in new:
            only.append(f"{prefix}{key}")
        elif a != b:
            changed.append(f"{prefix}{key} {a!r} -> {b!r}")
    return changed + ([f"fields in only one of them: {', '.join(only)}"] if only else [])


def current_identity(config: dict) -> dict:
    """A recorded configuration as this version identifies it: its Budget without the fields at their
    ``programs.budget.ID_DEFAULTS`` value (fields added after ids existed), its other keys unchanged.

    Example:
        >>> current_identity({"program": "P", "budget": {"test_verbosity": 0, "test_strategy": "answer"}})
        {'program': 'P', 'budget': {'test_verbosity': 0}}
    """
    from programs.budget import identity_fields

    if not isinstance(config.get("budget"), dict):
        return dict(config)
    return {**config, "budget": identity_fields(config["budget"])}


def upgrade_ids(results_path: str | os.PathLike) -> int:
    """Rewrite a results file's ``config_id`` (and its ``.config.json``) under this version's identity
    (:func:`current_identity`), so ``evaluate`` and ``benchmark`` resume it; rows are otherwise unchanged.
    Returns how many rows changed (0: already current). Refuses a file with no configuration beside it or
    a row of another configuration, naming the file and line.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "rows.jsonl"
        >>> old = {"program": "P", "budget": {"test_verbosity": 0, "test_strategy": "answer"}}
        >>> _ = Path(f"{path}.config.json").write_text(json.dumps(old))
        >>> _ = path.write_text(json.dumps({"question_id": "q1", "config_id": config_id(old)}) + "\\n")
        >>> upgrade_ids(path), upgrade_ids(path)
        (1, 0)
        >>> json.loads(path.read_text())["config_id"] == config_id(current_identity(old))
        True
    """
    path, saved = Path(results_path), _config_path(results_path)
    if not saved.exists():
        raise ResumeMismatchError(f"{path} has no {saved.name} beside it, so the configuration its rows "
                                  "were made under is unknown; it cannot be upgraded (answer it again with "
                                  "evaluate)")
    saved_config = json.loads(saved.read_text(encoding="utf-8"))
    provenance = {k: v for k, v in saved_config.items() if k in PROVENANCE_KEYS}
    recorded = recorded_identity(saved_config)
    current = current_identity(recorded)
    old_id, new_id = config_id(recorded), config_id(current)
    lines = path.read_text(encoding="utf-8").splitlines()
    rows, changed = [], 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("config_id") not in (old_id, new_id):
            raise ResumeMismatchError(f"{path}:{number}: config_id {row.get('config_id')!r} is neither the "
                                      f"recorded configuration's ({old_id}) nor its upgrade ({new_id}); "
                                      "the file mixes configurations: split it before upgrading")
        changed += row.get("config_id") != new_id
        rows.append({**row, "config_id": new_id})
    if changed or current != recorded:
        replace_text(path, "".join(json.dumps(r, default=str) + "\n" for r in rows))
        replace_text(saved, json.dumps({**current, **provenance}, indent=2, sort_keys=True, default=str)
                     + "\n")
    return changed


def check_resume(results_path: str | os.PathLike, rows: list[dict], config: dict) -> None:
    """Refuse to resume ``results_path`` if any of its rows was written under another configuration."""
    wanted = config_id(config)
    foreign = [row for row in rows if row.get("config_id") != wanted]
    if not foreign:
        return
    saved = _config_path(results_path)
    detail = ""
    if saved.exists():
        try:
            recorded = recorded_identity(json.loads(saved.read_text()))
            detail = "; it differs in " + "; ".join(_differences(recorded, config)[:8])
        except (OSError, json.JSONDecodeError):
            detail = ""
    elif any(row.get("config_id") is None for row in foreign):
        detail = "; its rows record no configuration (written by an older version)"
    if saved.exists() and _upgrades_to(saved, config):
        raise ResumeMismatchError(redact(
            f"{results_path} was written by an older version that identified this same configuration "
            f"differently: run `sleeptime rows upgrade {results_path}` once, then resume"))
    raise ResumeMismatchError(redact(
        f"{results_path} holds {len(foreign)} row(s) of another configuration{detail}. Its rows would be "
        "reported as this run's: write to a new --out file, or delete it to start over"))


def _upgrades_to(saved: Path, config: dict) -> bool:
    """Whether the configuration recorded in ``saved`` is ``config`` under this version's identity."""
    try:
        recorded = recorded_identity(json.loads(saved.read_text()))
    except (OSError, json.JSONDecodeError):
        return False
    return config_id(current_identity(recorded)) == config_id(config) != config_id(recorded)


def _write_config(results_path: str | os.PathLike, config: dict, *, fresh: bool,
                  server: dict | None = None) -> None:
    """Write the configuration beside the results (``fresh``: no rows yet, so replace any old file), with
    the server settings the rows are made under (:mod:`optimize.reports.server_settings`; not part of
    the id)."""
    path = _config_path(results_path)
    if fresh or not path.exists():
        payload = {**config, **({SERVER_KEY: server} if server is not None else {})}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def check_same_server(results_path: str | os.PathLike, rows: list[dict], server: dict | None) -> None:
    """Refuse to add rows made under other server settings (slots, speculative decoding) to a file whose
    rows recorded theirs: the file would mix two conditions under one configuration."""
    recorded = recorded_settings(results_path)
    if not rows or recorded is None or server is None or comparable(recorded, server):
        return
    raise ResumeMismatchError(
        f"{results_path} holds rows made at {describe(recorded)}; this run's server has {describe(server)}. "
        f"Set $SLEEPTIME_LOCAL_SLOTS / $SLEEPTIME_LOCAL_SPECULATIVE as before, or write to a new --out file")


def resume(results_path: str | os.PathLike, keys: list[str], *, config: dict | None, server: dict | None,
           retry_errors: bool) -> tuple[list[dict], dict[str, dict], list[str]]:
    """(every row already in the file, the finished row of each question id, the ids to answer again).

    Refuses a file of another configuration or server settings. A later row of a question replaces an
    earlier one; with ``retry_errors`` the failed rows of questions in ``keys`` are left out of the
    finished ones, to be answered again.
    """
    previous = read_results(results_path)
    if config is not None:
        check_resume(results_path, previous, config)
    check_same_server(results_path, previous, server)
    finished = {str(row["question_id"]): row for row in previous if row.get("question_id") is not None}
    retried: list[str] = []
    if retry_errors:
        wanted = set(keys)
        retried = [qid for qid, row in finished.items() if is_failed_row(row) and qid in wanted]
        for qid in retried:
            del finished[qid]
    return previous, finished, retried


class RowWriter:
    """Appends rows to a results file as they finish, one flushed JSON line each, from any thread.

    Opening it writes the configuration beside the file (``fresh``: the file holds no rows yet, so an old
    configuration file is replaced) and starts on a fresh line after an interrupted run's partial one.

    Example:
        >>> import json, tempfile
        >>> path = Path(tempfile.mkdtemp()) / "rows.jsonl"
        >>> path.write_text('{"question_id": "q1"}\\n{"question_id": "q2", "pred')  # a torn last line
        49
        >>> with RowWriter(path, config={"program": "P"}, server=None, fresh=False) as writer:
        ...     writer.write({"question_id": "q3"})
        >>> path.read_text().splitlines()[-1], json.loads(Path(f"{path}.config.json").read_text())
        ('{"question_id": "q3"}', {'program': 'P'})
    """

    def __init__(self, results_path: str | os.PathLike, *, config: dict | None, server: dict | None,
                 fresh: bool) -> None:
        path = Path(results_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if config is not None or server is not None:
            _write_config(path, config or {}, fresh=fresh, server=server)
        torn = False
        if path.exists() and path.stat().st_size > 0:
            with open(path, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                torn = existing.read(1) != b"\n"  # an interrupted run's partial line: start on a fresh one
        self._lock = threading.Lock()
        self._handle = open(path, "a", encoding="utf-8")  # closed by close()
        if torn:
            self._handle.write("\n")

    def write(self, row: dict) -> None:
        with self._lock:
            self._handle.write(json.dumps(row, default=str) + "\n")
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
