"""The LM layer: one factory, one ledger, the embedded local model, and a fake engine for tests.

- ``factory``: model specs (:func:`validate_spec`), :func:`make_lm`, :func:`suggested_concurrency`,
  :func:`sampling_config`;
- ``metered`` / ``ledger``: every call's tokens, time and finish reason;
- ``model_files`` / ``server`` (re-exported by ``local``): the embedded model's file and its server process;
- ``bench``: throughput of the local server at a slot count; ``fake_engine``: a loopback endpoint for tests.

Names are imported on first use (see :mod:`programs`): the server child process must start fast.
"""

import importlib as _importlib

_EXPORTS = {
    **dict.fromkeys(["DEFAULT_MODEL", "LMSetupError", "ModelSpec", "check_endpoint", "make_lm",
                     "parse_model_spec", "sampling_config", "suggested_concurrency", "validate_spec"],
                    "programs.lm.factory"),
    **dict.fromkeys(["LMCall", "LedgerScope", "TokenLedger", "Usage", "default_ledger", "summarize"],
                    "programs.lm.ledger"),
    "MeteredLM": "programs.lm.metered",
    "find_free_port": "programs.lm.server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'programs.lm' has no attribute {name!r}")
    return getattr(_importlib.import_module(_EXPORTS[name]), name)
