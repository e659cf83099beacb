"""Refusals found by review: each answers 4xx, stays bounded, and is kept for operators."""

from __future__ import annotations

import json

import pytest
from vigie_common.kafka.tansu import free_port

from tests.support import builders
from tests.support.builders import signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db, ingest_settings, running_ingest

pytestmark = pytest.mark.integration


async def test_servicenow_year_9999_west_of_utc_is_422_and_kept(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(
        ingest_db(sqlite_factory), kafka_bootstrap, servicenow_timezone="America/New_York"
    )
    body = builders.encode(builders.servicenow(closed_at="9999-12-31 23:00:00"))
    async with running_ingest(settings) as client:
        answer = await client.post(
            "/v1/webhooks/servicenow", content=body, headers=signed_headers(body)
        )
        kept = (await client.get("/v1/rejected")).json()["items"]
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"] == "closed_at"
    assert [item["status_code"] for item in kept] == [422]


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json; charset=latin-1; x=utf-8", 415),
        ("application/json; charset=iso-8859-1", 415),
        ('application/json; charset="utf-16"', 415),
        ("application/json; charset=UTF-8", 202),
        ("application/json", 202),
    ],
)
async def test_only_utf8_or_no_charset_is_accepted_whatever_else_the_header_says(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str, content_type: str, status: int
) -> None:
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    body = builders.encode(builders.oceane())
    async with running_ingest(settings) as client:
        answer = await client.post(
            "/v1/webhooks/oceane",
            content=body,
            headers=signed_headers(body) | {"content-type": content_type},
        )
    assert answer.status_code == status, answer.text


async def test_rejected_row_keeps_bounded_error_text_next_to_its_bounded_body(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    """A canonical body with a 800,000-character unknown key: the error names it, briefly."""
    settings = ingest_settings(ingest_db(databases), kafka_bootstrap, rejected_body_bytes=1024)
    payload = builders.canonical() | {"k" * 800_000: 1, **{f"extra{n}": n for n in range(500)}}
    body = json.dumps(payload).encode()
    async with running_ingest(settings) as client:
        answer = await client.post("/v1/tickets", content=body, headers=signed_headers(body))
        kept = (await client.get("/v1/rejected")).json()["items"]
    assert answer.status_code == 422
    assert len(answer.content) < 64 * 1024, "the 422 answer itself must stay small"
    [row] = kept
    assert row["body_truncated"] and len(row["body"]) == 1024
    assert len(json.dumps(row["errors"])) + len(row["reason"]) < 64 * 1024
    assert len(row["errors"]) <= 100


async def test_readyz_names_no_broker_host(
    sqlite_factory: DatabaseFactory,
) -> None:
    port = free_port()  # nothing listens there: the broker is "away"
    settings = ingest_settings(ingest_db(sqlite_factory), f"127.0.0.1:{port}")
    async with running_ingest(settings) as client:
        for _ in range(50):
            ready = await client.get("/readyz")
            if ready.json()["checks"]["broker"] != "ok":
                break
    broker = ready.json()["checks"]["broker"]
    assert broker.startswith("unavailable")
    assert "127.0.0.1" not in ready.text and str(port) not in ready.text
