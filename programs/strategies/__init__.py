"""Sleep-time strategies: DSPy modules that turn a context into a learned context in different ways."""
