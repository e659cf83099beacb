"""Nothing lost: webhooks answered 202 while the broker is away are published when it returns."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import httpx
import pytest
from vigie_common.events import topics
from vigie_common.events.envelope import decode
from vigie_common.events.tickets import TicketEvent
from vigie_common.kafka.tansu import EmbeddedBroker

from tests.support import builders
from tests.support.builders import encode, signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db, ingest_settings, running_ingest
from tests.support.kafka import eventually, read_records

pytestmark = pytest.mark.integration

TICKET_COUNT = 50
VERSIONS = 10  # 500 webhooks


async def post_versions(client: httpx.AsyncClient, upstream_id: str) -> list[httpx.Response]:
    """Versions 1..n of one ticket, in order (different tickets run concurrently)."""
    answers = []
    for version in range(1, VERSIONS + 1):
        state = "open" if version < VERSIONS else "restored"
        body = encode(builders.canonical(upstream_id, version=version, state=state))
        answers.append(await client.post("/v1/tickets", content=body, headers=signed_headers(body)))
    return answers


async def backlog(client: httpx.AsyncClient) -> int:
    checks = (await client.get("/readyz")).json()["checks"]
    return int(checks["outbox"]["backlog"])


def assert_exactly_once_in_order(records: list[Any], ticket_ids: set[str]) -> None:
    assert len(records) == TICKET_COUNT * VERSIONS
    ids = [decode(r.value, TicketEvent).id for r in records]
    assert len(set(ids)) == len(ids), "an event was published twice"
    versions: dict[str, list[int]] = defaultdict(list)
    for record in records:
        event = decode(record.value, TicketEvent)
        versions[event.subject].append(event.data.ticket.version)
    assert set(versions) == ticket_ids
    for ticket_id, seen in versions.items():
        assert seen == list(range(1, VERSIONS + 1)), f"{ticket_id} out of order: {seen}"


async def test_broker_paused_during_500_webhooks_loses_nothing(
    postgres_factory: DatabaseFactory, own_broker: EmbeddedBroker
) -> None:
    await own_broker.start()
    settings = ingest_settings(ingest_db(postgres_factory), own_broker.bootstrap_servers)
    upstream_ids = [builders.unique("OUT") for _ in range(TICKET_COUNT)]
    async with running_ingest(settings) as client:
        await eventually(lambda: _broker_ok(client), within=30)
        own_broker.pause()
        try:
            answers = await asyncio.gather(*(post_versions(client, u) for u in upstream_ids))
            flat = [a for per_ticket in answers for a in per_ticket]
            assert [a.status_code for a in flat] == [202] * (TICKET_COUNT * VERSIONS)
            assert await backlog(client) > 0  # held while the broker is frozen
        finally:
            own_broker.resume()
        await eventually(lambda: _drained(client), within=90)
        ticket_ids = {a.json()["ticket_id"] for a in flat}
        records = await read_records(
            own_broker.bootstrap_servers,
            topics.TICKETS,
            within=60,
            keys=ticket_ids,
            expect=TICKET_COUNT * VERSIONS,
            grace=2,
        )
    assert_exactly_once_in_order(records, ticket_ids)


async def test_ingest_started_before_the_broker_publishes_once_it_comes(
    sqlite_factory: DatabaseFactory,
) -> None:
    broker = EmbeddedBroker()  # its port is chosen, nothing listens yet
    settings = ingest_settings(ingest_db(sqlite_factory), broker.bootstrap_servers)
    upstream_ids = [builders.unique("LATE") for _ in range(TICKET_COUNT)]
    try:
        async with running_ingest(settings) as client:
            answers = await asyncio.gather(*(post_versions(client, u) for u in upstream_ids))
            flat = [a for per_ticket in answers for a in per_ticket]
            assert all(a.status_code == 202 for a in flat)
            ready = (await client.get("/readyz")).json()
            assert ready["checks"]["broker"].startswith("unavailable")
            assert ready["checks"]["outbox"]["backlog"] == TICKET_COUNT * VERSIONS
            await broker.start()
            await eventually(lambda: _drained(client), within=90)
            ticket_ids = {a.json()["ticket_id"] for a in flat}
            records = await read_records(
                broker.bootstrap_servers,
                topics.TICKETS,
                within=60,
                keys=ticket_ids,
                expect=TICKET_COUNT * VERSIONS,
                grace=2,
            )
    finally:
        await broker.stop()
    assert_exactly_once_in_order(records, ticket_ids)


async def _broker_ok(client: httpx.AsyncClient) -> bool:
    broker: str = (await client.get("/readyz")).json()["checks"]["broker"]
    return broker == "ok"


async def _drained(client: httpx.AsyncClient) -> bool:
    return await backlog(client) == 0
