"""Benchmarks of vigie's services, each runnable with ``uv run python -m bench.<name>``."""
