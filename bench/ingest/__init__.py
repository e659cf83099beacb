"""Ingest throughput benchmark: ``uv run python -m bench.ingest`` (see ``bench/README.md``)."""
