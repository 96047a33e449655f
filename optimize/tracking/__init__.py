"""Tracking: MLflow runs, traces and the MLflow UI."""
