"""Deployment: the HTTP service and its measurements (latency, load, restarts)."""
