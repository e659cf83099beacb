"""Fixtures for real parts: PostgreSQL and SQLite, Kafka (testcontainers) or Tansu."""

import os

# Consumers join their group in about half the session timeout: 1.5 s instead of 5 s per
# worker the suite starts (subprocesses inherit it). Production keeps the 10 s default.
os.environ.setdefault("VIGIE_KAFKA_SESSION_TIMEOUT_MS", "3000")

pytest_plugins = ["tests.support.database", "tests.support.broker"]
