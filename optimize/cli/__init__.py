"""The command line: ``sleeptime <command>`` (:mod:`optimize.cli.app`), its shared flags (``flags``), the
console (``console``) and one module per command group (``lm``, ``data``, ``run``, ``search``, ``demo``,
``benchmark``, ``compare``, ``serve``; ``measurements``, ``throughput``, ``overload``, ``rebuild`` and
``repeats`` run as ``python3 -m optimize.cli.<name>``). A command module parses arguments and calls a
function that Python users can call too.

May import: every other folder of ``optimize/`` and :mod:`programs`; nothing imports it.
"""

from __future__ import annotations


def __getattr__(name: str):
    # A console script generated from installed package metadata may name ``optimize.cli:main``.
    if name == "main":
        import warnings

        from optimize.cli import app

        warnings.warn("optimize.cli.main is deprecated; use optimize.cli.app.main", DeprecationWarning,
                      stacklevel=2)
        return app.main
    raise AttributeError(f"module 'optimize.cli' has no attribute {name!r}")
