"""Experiments: evaluate, compile, search, sweep and the runner they share."""
