"""Outage soak: ingest on PostgreSQL with no broker for 2 minutes under 50 signed webhooks/s.

Every webhook is answered 202, no log line grows past 4 KiB (a failed send used to wrap the
previous error, doubling the text each time: 16 MB lines after 40 webhooks), memory stays
bounded; then the broker comes up on the address ingest was given and every event arrives
once, in order per ticket.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from vigie_common.events.envelope import decode
from vigie_common.events.tickets import TicketEvent
from vigie_common.events.topics import TICKETS
from vigie_common.kafka.tansu import EmbeddedBroker, free_port

from tests.support import builders
from tests.support.builders import encode, signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db
from tests.support.ingest_process import ingest_process
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration

RATE = 50  # webhooks per second
SECONDS = 120
TICKET_COUNT = 200
MAX_LINE = 4096
MAX_RSS = 300 * 1024 * 1024


async def post_at_rate(client: httpx.AsyncClient, upstream_ids: list[str]) -> list[int]:
    """``RATE`` webhooks a second for ``SECONDS``: versions 1, 2, … of each ticket in turn."""
    statuses: list[int] = []
    pending: set[asyncio.Task[None]] = set()
    started = time.monotonic()

    async def one(upstream_id: str, version: int) -> None:
        body = encode(builders.canonical(upstream_id, version=version))
        answer = await client.post("/v1/tickets", content=body, headers=signed_headers(body))
        statuses.append(answer.status_code)

    for n in range(RATE * SECONDS):
        await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
        upstream_id = upstream_ids[n % len(upstream_ids)]
        task = asyncio.create_task(one(upstream_id, n // len(upstream_ids) + 1))
        pending.add(task)
        task.add_done_callback(pending.discard)
        # One ticket's versions must reach ingest in order: wait for the previous round.
        if n % len(upstream_ids) == len(upstream_ids) - 1:
            await asyncio.gather(*pending)
    await asyncio.gather(*pending)
    return statuses


@pytest.mark.timeout(420)
async def test_two_minutes_without_broker_at_50_per_second(
    postgres_factory: DatabaseFactory, tmp_path: Path
) -> None:
    port = free_port()  # the broker's address, where nothing answers yet
    bootstrap = f"127.0.0.1:{port}"
    upstream_ids = [builders.unique("SOAK") for _ in range(TICKET_COUNT)]
    async with (
        ingest_process(ingest_db(postgres_factory), bootstrap, tmp_path) as ingest,
        httpx.AsyncClient(base_url=ingest.url, timeout=30, trust_env=False) as client,
    ):
        statuses = await post_at_rate(client, upstream_ids)
        rss = ingest.rss_bytes()
        longest = max(len(line) for line in ingest.log_lines())
        log_size = ingest.log_file.stat().st_size
        ticket_ids = {
            (await client.post("/v1/tickets", content=b, headers=signed_headers(b))).json()[
                "ticket_id"
            ]
            for b in (encode(builders.canonical(u, version=1)) for u in upstream_ids)
        }  # version 1 again: a duplicate, answered with the ticket id
        async with EmbeddedBroker(port=port) as broker:
            records = await read_records(
                broker.bootstrap_servers, TICKETS, keys=ticket_ids, expect=len(statuses), within=90
            )

    figures = {"webhooks": len(statuses), "rss_mib": round(rss / 2**20, 1)}
    figures |= {"longest_log_line": longest, "log_bytes": log_size, "events": len(records)}
    (tmp_path / "figures.json").write_text(json.dumps(figures))  # for the closing note
    assert statuses == [202] * RATE * SECONDS
    assert longest <= MAX_LINE, f"a log line of {longest} bytes"
    assert log_size < 2 * 1024 * 1024, f"{log_size} bytes of log in {SECONDS} s"
    assert rss < MAX_RSS, f"ingest RSS {rss / 2**20:.0f} MiB"
    ids = [decode(r.value, TicketEvent).id for r in records]
    assert len(ids) == len(set(ids)) == RATE * SECONDS, "an event is missing or doubled"
    versions: dict[str, list[int]] = defaultdict(list)
    for record in records:
        event = decode(record.value, TicketEvent)
        versions[event.subject].append(event.data.ticket.version)
    for ticket_id, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{ticket_id} out of order"
