"""The command line: ``sleeptime <command>``, one module per command group."""

from __future__ import annotations


def __getattr__(name: str):
    # Console scripts installed before the move point at ``optimize.cli:main``.
    if name == "main":
        import warnings

        from optimize.cli import app

        warnings.warn("optimize.cli.main is deprecated; use optimize.cli.app.main", DeprecationWarning,
                      stacklevel=2)
        return app.main
    raise AttributeError(f"module 'optimize.cli' has no attribute {name!r}")
