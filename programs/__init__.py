"""Sleep-time compute as DSPy programs: the library users import.

The LM layer lives in :mod:`programs.lm`; the method (budgets, rewriter, answerer, store) beside it.
"""

import os as _os

# Offline-friendly defaults: without these, first use of litellm/mlflow stalls on network retries.
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")
_os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
