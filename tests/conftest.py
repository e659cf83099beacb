"""Fixtures for real parts: PostgreSQL and SQLite, Kafka (testcontainers) or Tansu."""

pytest_plugins = ["tests.support.database", "tests.support.broker"]
