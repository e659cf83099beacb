"""Sizes: an accepted webhook always fits one Kafka message, and never blocks the others."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.events.envelope import decode
from vigie_common.events.tickets import TicketEvent
from vigie_common.events.topics import TICKETS
from vigie_ingest import service
from vigie_ingest.models import OutboxEvent
from vigie_ingest.sources.base import MappingOptions
from vigie_ingest.sources.oceane import OceanePayload, OceaneSource

from tests.support import builders
from tests.support.builders import signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db, ingest_settings, running_ingest
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration

LARGEST_ACCEPTED = 1_048_558
"""The body size of the review's finding, just under the 1 MiB limit."""


def padded_oceane(size: int, numero: str | None = None) -> bytes:
    """An Oceane ticket whose body is exactly ``size`` bytes (an extra field pads it)."""
    payload = builders.oceane(numero) | {"pad": ""}
    bare = len(json.dumps(payload).encode())
    payload["pad"] = "x" * (size - bare)
    body = json.dumps(payload).encode()
    assert len(body) == size
    return body


async def test_largest_accepted_body_reaches_kafka_and_the_next_ticket_too(
    postgres_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(postgres_factory), kafka_bootstrap)
    big = padded_oceane(LARGEST_ACCEPTED)
    small = builders.encode(builders.oceane())
    async with running_ingest(settings) as client:
        first = await client.post("/v1/webhooks/oceane", content=big, headers=signed_headers(big))
        second = await client.post(
            "/v1/webhooks/oceane", content=small, headers=signed_headers(small)
        )
        ids = {first.json()["ticket_id"], second.json()["ticket_id"]}
        records = await read_records(kafka_bootstrap, TICKETS, keys=ids, expect=2, within=60)
    assert first.status_code == 202 and second.status_code == 202
    events = {decode(r.value, TicketEvent).subject: decode(r.value, TicketEvent) for r in records}
    assert set(events) == ids
    assert events[first.json()["ticket_id"]].data.ticket.raw["pad"].startswith("xxx")


async def test_event_leaves_the_raw_payload_out_when_it_would_not_fit(
    sqlite_factory: DatabaseFactory,
) -> None:
    payload = builders.oceane() | {"pad": "x" * 50_000}
    mapped = OceaneSource().to_ticket(OceanePayload.model_validate(payload), MappingOptions())
    engine = make_engine(ingest_db(sqlite_factory))
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            [accepted] = await service.accept_batch(
                session, items=[mapped], now=datetime.now(UTC), max_event_bytes=20_000
            )
            row = await session.scalar(select(OutboxEvent))
    finally:
        await engine.dispose()
    assert row is not None and accepted.event_id == row.event_id
    assert len(row.value) < 20_000
    ticket = decode(row.value, TicketEvent).data.ticket
    assert ticket.raw == {} and ticket.raw_omitted
    assert ticket.site_a is not None and ticket.site_a.code == "INL_MOIRA_EVPN_LA1"


def test_a_body_limit_that_would_not_fit_a_kafka_message_is_refused() -> None:
    with pytest.raises(ValidationError, match="VIGIE_INGEST_MAX_BODY_BYTES"):
        ingest_settings("sqlite+aiosqlite:///x.db", "unused:9092", max_body_bytes=2 * 1024 * 1024)
    fits = ingest_settings(
        "sqlite+aiosqlite:///x.db",
        "unused:9092",
        max_body_bytes=3 * 1024 * 1024,
        kafka_max_message_bytes=4 * 1024 * 1024,
    )
    assert fits.max_event_bytes > fits.max_body_bytes


async def test_an_event_refused_for_good_is_set_aside_listed_and_blocks_nothing(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    """A row over the message limit (written by an older version, say) is a dead row."""
    db_url = ingest_db(databases)
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            session.add(
                OutboxEvent(
                    event_id="too-large-event",
                    topic=TICKETS,
                    key="some-ticket",
                    value=b"x" * (3 * 1024 * 1024),
                    content_type="application/cloudevents+json",
                    created_at=datetime.now(UTC),
                    attempts=0,
                )
            )
    finally:
        await engine.dispose()
    settings = ingest_settings(db_url, kafka_bootstrap, read_token="read-token-0123456789")
    auth = {"authorization": "Bearer read-token-0123456789"}
    body = builders.encode(builders.oceane())
    async with running_ingest(settings) as client:
        accepted = await client.post(
            "/v1/webhooks/oceane", content=body, headers=signed_headers(body)
        )
        records = await read_records(
            kafka_bootstrap, TICKETS, keys={accepted.json()["ticket_id"]}, expect=1, within=30
        )
        dead = (await client.get("/v1/outbox/dead", headers=auth)).json()
        ready = (await client.get("/readyz")).json()
        requeued = await client.post("/v1/outbox/dead/too-large-event/requeue", headers=auth)
        unknown = await client.post("/v1/outbox/dead/nope/requeue", headers=auth)
        anonymous = await client.get("/v1/outbox/dead")
    assert len(records) == 1, "the ticket after the refused event must still leave"
    [row] = dead["items"]
    assert row["event_id"] == "too-large-event" and "VIGIE_KAFKA_MAX_MESSAGE_BYTES" in (
        row["last_error"] or ""
    )
    assert ready["checks"]["outbox"]["dead"] == 1
    assert requeued.status_code == 200 and unknown.status_code == 404
    assert anonymous.status_code == 401
