"""Two ingest processes on one PostgreSQL database: per ticket, versions serialise.

The kustomize base runs two replicas. Versions of one ticket reaching both at once must not
overwrite each other (a lost update), and the ticket's events must leave in version order.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from vigie_common.events.envelope import decode
from vigie_common.events.tickets import TicketEvent
from vigie_common.events.topics import TICKETS

from tests.support import builders
from tests.support.builders import encode, signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db
from tests.support.ingest_process import ingest_process, read_headers
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration

TICKETS_SENT = 50
VERSIONS = 10


def state_of(version: int) -> str:
    return (
        "open"
        if version < 5
        else "restored"
        if version < 8
        else "in_observation"
        if (version < VERSIONS)
        else "closed"
    )


async def send(client: httpx.AsyncClient, upstream_id: str, version: int) -> dict[str, Any]:
    payload = builders.canonical(upstream_id, version=version, state=state_of(version))
    body = encode(payload)
    for _attempt in range(5):  # as an upstream does: 503 means "retry later"
        answer = await client.post("/v1/tickets", content=body, headers=signed_headers(body))
        if answer.status_code != 503:
            break
        await asyncio.sleep(0.2)
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_two_replicas_serialise_versions_of_one_ticket(
    postgres_factory: DatabaseFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    db_url = ingest_db(postgres_factory)
    upstream_ids = [builders.unique("REP") for _ in range(TICKETS_SENT)]
    sends = [(u, v) for u in upstream_ids for v in range(1, VERSIONS + 1)]
    random.Random(7).shuffle(sends)
    limit = asyncio.Semaphore(48)
    async with (
        ingest_process(db_url, kafka_bootstrap, tmp_path, name="a") as a,
        ingest_process(db_url, kafka_bootstrap, tmp_path, name="b") as b,
        httpx.AsyncClient(base_url=a.url, timeout=30, trust_env=False) as to_a,
        httpx.AsyncClient(base_url=b.url, timeout=30, trust_env=False) as to_b,
    ):

        async def one(index: int, upstream_id: str, version: int) -> dict[str, Any]:
            async with limit:
                return await send((to_a, to_b)[index % 2], upstream_id, version)

        answers = await asyncio.gather(*(one(i, u, v) for i, (u, v) in enumerate(sends)))
        ticket_ids = {a["ticket_id"] for a in answers}
        reads = [
            (await to_a.get(f"/v1/tickets/{t}", headers=read_headers())).json() for t in ticket_ids
        ]
        accepted = [a for a in answers if a["status"] == "accepted"]
        records = await read_records(
            kafka_bootstrap, TICKETS, keys=ticket_ids, expect=len(accepted), within=60
        )

    assert len(ticket_ids) == TICKETS_SENT
    for read in reads:
        assert read["ticket"]["raw"]["version"] == VERSIONS, read["ticket"]["upstream_id"]
        assert read["ticket"]["state"] == "closed"
        numbers = [v["version"] for v in read["history"] if not v["stale"]]
        assert numbers == list(range(1, len(numbers) + 1))  # no number given twice
    ids = [decode(r.value, TicketEvent).id for r in records]
    assert len(ids) == len(set(ids)) == len(accepted), "an event is missing or doubled"
    upstream: dict[str, list[int]] = defaultdict(list)
    numbered: dict[str, list[int]] = defaultdict(list)
    for record in records:
        ticket = decode(record.value, TicketEvent).data.ticket
        upstream[ticket.id].append(int(ticket.raw["version"]))
        numbered[ticket.id].append(ticket.version)
    for ticket_id, seen in upstream.items():
        assert seen == sorted(set(seen)), f"{ticket_id}: upstream versions out of order {seen}"
        assert seen[-1] == VERSIONS
        assert numbered[ticket_id] == list(range(1, len(seen) + 1))
