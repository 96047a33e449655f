"""Tracking: MLflow runs and their artifacts (``runs``), per-question traces (``traces``) and the MLflow UI
(``ui``).

May import: :mod:`programs`, :mod:`optimize.errors` and :mod:`optimize.markdown`."""
