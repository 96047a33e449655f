"""Tooling on top of :mod:`programs`, in layers (each folder imports only from the layers before it)::

    errors.py, markdown.py     shared: user errors and the one markdown table writer
    data/, tracking/           templates and datasets; MLflow runs, traces and UI
    reports/                   rows files, metrics, analysis, Pareto fronts, figures, tables
    experiments/               evaluate, compile, runner, search, sweep, demo
    bench/, deploy/            the paper's questions; the HTTP service and its measurements
    cli/                       ``sleeptime <command>``: argument parsing only

tests/test_layout.py checks the layers and that no two folders import each other.
"""

import os as _os

_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")
_os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
