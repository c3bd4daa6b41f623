"""Pipelines: ``@step`` and ``@pipeline``, executors, caching, triggers and built-in components."""
