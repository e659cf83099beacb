"""Retention: old refusals and superseded versions go; a ticket's current version stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from vigie_common.clock import FrozenClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_ingest.models import RejectedWebhook, TicketVersion
from vigie_ingest.retention import prune_once

from tests.support import builders
from tests.support.builders import encode, signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db, ingest_settings, running_ingest

pytestmark = pytest.mark.integration

START = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


async def test_prune_deletes_old_refusals_and_superseded_versions_only(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    clock = FrozenClock(START)
    db_url = ingest_db(databases)
    settings = ingest_settings(db_url, kafka_bootstrap, signature_tolerance_s=3600)
    numero = builders.unique("25")
    async with running_ingest(settings, clock=clock) as client:

        async def post(body: bytes) -> int:
            headers = signed_headers(body, timestamp=int(clock.now().timestamp()))
            answer = await client.post("/v1/webhooks/oceane", content=body, headers=headers)
            return answer.status_code

        assert await post(encode(builders.oceane(numero))) == 202  # v1, old
        assert await post(b"[1]") == 400  # an old refusal
        clock.advance(timedelta(days=100))
        assert await post(encode(builders.oceane(numero, dernier_etat="Rétabli"))) == 202  # v2
        assert await post(b"[2]") == 400  # a recent refusal

    engine = make_engine(db_url)
    try:
        sessions = make_sessionmaker(engine)
        deleted = await prune_once(sessions, clock=clock, keep=timedelta(days=90))
        again = await prune_once(sessions, clock=clock, keep=timedelta(days=90))
        async with sessions() as session:
            versions = list(await session.scalars(select(TicketVersion.version)))
            refusals = await session.scalar(select(func.count()).select_from(RejectedWebhook))
    finally:
        await engine.dispose()
    assert deleted == {"rejected_webhook": 1, "ticket_version": 1}
    assert again == {"rejected_webhook": 0, "ticket_version": 0}
    assert versions == [2]  # the current version stays, whatever its age
    assert refusals == 1
