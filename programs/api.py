"""The calls most users need: build a program for a Budget and load a bundle (``programs.save_bundle`` /
``program.save_bundle(dir)`` saves one, in :mod:`programs.persistence`)."""

from __future__ import annotations

import os
import warnings

from programs.budget import Budget
from programs.lm.ledger import TokenLedger
from programs.persistence import PersistenceError, load_prompts, read_bundle, resolve_bundle
from programs.registry import BASELINES, class_for, program_class
from programs.store import InMemoryStore

__all__ = ["BASELINES", "build_program", "load"]


def build_program(budget: Budget, *, ledger: TokenLedger | None = None, store: InMemoryStore | None = None,
                  api_base: str | None = None, adapter: str = "chat", baseline: str | None = None,
                  baseline_samples: int = 5, **settings):
    """The program a Budget describes: ``SleepTimeProgram`` when ``use_sleep`` else ``TestTimeOnly``.

    ``baseline="majority"`` or ``"pass-at-k"`` builds that baseline instead, sampling ``baseline_samples``
    answers per question (``k=`` is the deprecated spelling). When
    ``budget.compiled`` names a bundle (a directory or a shipped name), its compiled prompts that fit are
    loaded with :func:`programs.persistence.load_prompts`, the same loader as :func:`load`.

    Example:
        >>> program = build_program(Budget(use_sleep=False, test_model="openai/m@http://127.0.0.1:9/v1"))
        >>> type(program).__name__
        'TestTimeOnly'
    """
    cls = class_for(budget, baseline)
    common = dict(ledger=ledger, store=store, api_base=api_base, adapter=adapter, **settings)
    if baseline is not None:
        common["baseline_samples"] = baseline_samples
    program = cls(budget, **common)
    if budget.compiled:
        load_prompts(program, budget.compiled)
    return program


def load(source: str | os.PathLike, *, sleep_model: str | None = None, test_model: str | None = None,
         ledger: TokenLedger | None = None, store: InMemoryStore | None = None, api_base: str | None = None,
         lm_options: dict | None = None):
    """Load a bundle: the right class, its Budget and its compiled prompts, in one call.

    ``source`` is a bundle directory or the name of one shipped with the package (``"<model>/<name>"``,
    see :func:`programs.persistence.shipped_programs`). ``sleep_model`` / ``test_model`` rebind the loaded
    program to other endpoints (any model spec a Budget accepts).

    Example:
        >>> import tempfile
        >>> directory = tempfile.mkdtemp()
        >>> spec = "openai/m@http://127.0.0.1:9/v1"
        >>> _ = build_program(Budget(sleep_model=spec, test_model=spec)).save_bundle(directory)
        >>> program = load(directory, test_model="openai/other@http://127.0.0.1:8/v1")
        >>> type(program).__name__, program.budget.test_model
        ('SleepTimeProgram', 'openai/other@http://127.0.0.1:8/v1')
    """
    directory = resolve_bundle(source)
    manifest, budget, _state = read_bundle(directory)
    models = {name: value for name, value in (("sleep_model", sleep_model), ("test_model", test_model))
              if value is not None}
    if models:
        budget = budget.replace(**models)
    config = dict(manifest.get("program_config") or {})
    try:
        cls = program_class(manifest.get("program_class"))
        # The class's constructor never reads budget.compiled (only build_program does): the bundle's own
        # prompts are what load_prompts puts in below.
        program = cls(budget, ledger=ledger, store=store, api_base=api_base, lm_options=lm_options, **config)
    except (TypeError, ValueError) as exc:
        raise PersistenceError(f"{directory}: cannot rebuild {manifest.get('program_class')!r} from its "
                               f"settings {config}: {exc}") from exc
    load_prompts(program, directory)
    program.manifest = manifest
    return program


def __getattr__(name: str):
    if name == "save_bundle":  # code that imported it from here keeps working, told the one spelling
        warnings.warn("programs.api.save_bundle is deprecated: call programs.save_bundle(program, dir) or "
                      "program.save_bundle(dir)", DeprecationWarning, stacklevel=2)
        from programs.persistence import save_bundle

        return save_bundle
    raise AttributeError(f"module 'programs.api' has no attribute {name!r}")
