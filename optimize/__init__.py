"""Tooling on top of :mod:`programs`: data, compile, evaluate, search, tracking, reports and the CLI."""

import os as _os

_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")
_os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
