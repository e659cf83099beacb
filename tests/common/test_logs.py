"""Logs: one JSON object per line, secrets hidden before anything is written."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from vigie_common.logs import NOISY_LIBRARIES, REDACTED, configure_logging, get_logger, redact


@pytest.mark.parametrize(
    "key",
    [
        "webhook_secret",
        "client_secret",
        "token",
        "read_token",
        "password",
        "db_passwd",
        "Authorization",
        "x-vigie-signature",
        "api_key",
    ],
)
def test_redact_hides_secret_looking_keys(key: str) -> None:
    assert redact({key: "s3cr3t"}) == {key: REDACTED}


def test_redact_hides_secrets_in_nested_dicts_and_lists() -> None:
    value = {
        "source": "oceane",
        "headers": {"authorization": "Bearer abc", "content-type": "application/json"},
        "sources": [{"name": "servicenow", "token": "t0k3n"}, {"name": "oceane"}],
        "settings": {"kafka": {"sasl_password": "pw", "bootstrap": "k:9092"}},
    }

    assert redact(value) == {
        "source": "oceane",
        "headers": {"authorization": REDACTED, "content-type": "application/json"},
        "sources": [{"name": "servicenow", "token": REDACTED}, {"name": "oceane"}],
        "settings": {"kafka": {"sasl_password": REDACTED, "bootstrap": "k:9092"}},
    }


def test_redact_hides_a_whole_secret_subtree() -> None:
    assert redact({"webhook_secrets": {"oceane": ["a", "b"]}}) == {"webhook_secrets": REDACTED}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql+asyncpg://u:pw@h/db", "postgresql+asyncpg://u:***@h/db"),
        (
            "connect to postgresql://vigie:S3cr%40t@db:5432/vigie now",
            "connect to postgresql://vigie:***@db:5432/vigie now",
        ),
        ("amqp://a:b@h1 and redis://c:d@h2/0", "amqp://a:***@h1 and redis://c:***@h2/0"),
        # A raw "/" in a password (base64-generated ones): SQLAlchemy's make_url accepts it.
        ("postgresql+asyncpg://vigie:ab/c+d=@db/vigie", "postgresql+asyncpg://vigie:***@db/vigie"),
    ],
    ids=["asyncpg", "in-a-sentence", "two-urls", "slash-in-password"],
)
def test_redact_hides_passwords_in_urls(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact({"database_url": text}) == {"database_url": expected}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:pw-1@cache:6379/0", "redis://:***@cache:6379/0"),
        ("connect to amqp://:s3cr3t@mq/ now", "connect to amqp://:***@mq/ now"),
        ("https://h/cb?password=pw-2", "https://h/cb?password=***"),
        ("https://h/cb?a=1&token=tk-3&b=2", "https://h/cb?a=1&token=***&b=2"),
        ("GET /v1?access_token=tk-4 HTTP/1.1", "GET /v1?access_token=*** HTTP/1.1"),
        ("sasl_password=pw-5 sasl_mechanism=PLAIN", "sasl_password=*** sasl_mechanism=PLAIN"),
        ("options {'sasl_plain_password': 'pw-6'}", "options {'sasl_plain_password': '***'}"),
        ('{"client_secret": "pw-7", "id": 1}', '{"client_secret": "***", "id": 1}'),
        ("VIGIE_KAFKA_SASL_PASSWORD=pw-8", "VIGIE_KAFKA_SASL_PASSWORD=***"),
        ("Authorization: Bearer tk-9", "Authorization: Bearer ***"),
    ],
    ids=[
        "url-empty-user",
        "url-empty-user-in-a-sentence",
        "query-password",
        "query-token-among-others",
        "query-access-token",
        "key-equals-value",
        "python-repr-of-a-dict",
        "json-text",
        "environment-assignment",
        "bearer-header",
    ],
)
def test_redact_hides_secrets_written_inside_strings(text: str, expected: str) -> None:
    """Item 10: ``scheme://:pw@host`` and ``?password=`` forms used to pass through."""
    assert redact(text) == expected
    assert redact({"error": text}) == {"error": expected}


@pytest.mark.parametrize(
    "value",
    [
        "postgresql+asyncpg://vigie@db/vigie",
        "sqlite+aiosqlite:///./.vigie/vigie.db",
        "https://example.com/a:b",
        "time 12:30@noon",
        "https://h/search?q=token&page=2",
        "password policy: 16 characters",
        "the bearer of this ticket",
        42,
        None,
        3.5,
        True,
    ],
)
def test_redact_keeps_values_that_are_not_secrets(value: Any) -> None:
    assert redact({"value": value}) == {"value": value}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``configure_logging`` changes process-wide state: put it back after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name).level for name in NOISY_LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, library_level in libraries.items():
        logging.getLogger(name).setLevel(library_level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def json_lines(err: str) -> list[dict[str, Any]]:
    lines = [line for line in err.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_emits_one_json_object_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(service="ingest", level="INFO")
    log = get_logger("vigie.test.logs")

    log.info("ticket received", ticket_id="t-1", version=2)
    log.warning("outbox publish failed", pending=3)
    log.debug("not shown at INFO")

    records = json_lines(capsys.readouterr().err)
    assert len(records) == 2
    first, second = records
    assert first["service"] == "ingest"
    assert first["level"] == "info"
    assert first["event"] == "ticket received"
    assert (first["ticket_id"], first["version"]) == ("t-1", 2)
    assert first["timestamp"].endswith("Z")
    assert (second["level"], second["pending"]) == ("warning", 3)


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_redacts_secret_kwargs_and_url_passwords(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(service="ingest", level="INFO")
    log = get_logger("vigie.test.logs")

    log.info(
        "settings loaded",
        webhook_secret="s3cr3t-value",
        database_url="postgresql+asyncpg://vigie:pw-123@db/vigie",
        port=8000,
    )

    err = capsys.readouterr().err
    [record] = json_lines(err)
    assert record["webhook_secret"] == REDACTED
    assert record["database_url"] == "postgresql+asyncpg://vigie:***@db/vigie"
    assert record["port"] == 8000
    assert "s3cr3t-value" not in err
    assert "pw-123" not in err


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_renders_stdlib_records_as_redacted_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(service="prober", level="INFO")

    logging.getLogger("some.library").warning("cannot reach %s", "postgresql://u:pw-9@h/db")

    [record] = json_lines(capsys.readouterr().err)
    assert record["service"] == "prober"
    assert record["level"] == "warning"
    assert record["event"] == "cannot reach postgresql://u:***@h/db"


@pytest.mark.usefixtures("restore_logging")
def test_at_debug_the_libraries_that_log_every_statement_stay_at_warning() -> None:
    configure_logging(service="test", level="DEBUG", fmt="json")

    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("aiosqlite").level == logging.WARNING
    assert logging.getLogger("aiokafka").level == logging.WARNING
    assert logging.getLogger("asyncssh").level == logging.WARNING
