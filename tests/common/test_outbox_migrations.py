"""The prober's and the notifier's ``outbox_event`` tables: migrated, relayed, reversible."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from pydantic import BaseModel
from sqlalchemy import create_engine, inspect
from vigie_common.clock import FrozenClock
from vigie_common.db.engine import make_engine, make_sessionmaker, transaction
from vigie_common.db.migrations import alembic_config
from vigie_common.db.outbox import OutboxMixin, OutboxRelay, add_event
from vigie_common.events.envelope import new_event
from vigie_common.events.ids import derived_event_id
from vigie_common.kafka.records import OutgoingRecord
from vigie_notifier import models as notifier_models
from vigie_prober import models as prober_models

from tests.common.tables import sync_url
from tests.support.database import DatabaseFactory

pytestmark = pytest.mark.integration

START = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
SERVICES = [
    ("prober", prober_models.OutboxEvent, prober_models.VERSION_TABLE),
    ("notifier", notifier_models.OutboxEvent, notifier_models.VERSION_TABLE),
]


class Checked(BaseModel):
    ok: bool


class Acknowledging:
    """A broker that takes everything and remembers the keys."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        self.keys.extend(r.key for r in records)
        return [None] * len(records)


def migrated(factory: DatabaseFactory, service: str, version_table: str) -> str:
    """A fresh database at the service's head revision."""

    def apply(url: str) -> None:
        command.upgrade(_config(service, url, version_table), "head")

    return factory.create(f"outbox_{service}", apply)


def _config(service: str, url: str, version_table: str) -> Any:
    return alembic_config(package=f"vigie_{service}", url=url, version_table=version_table)


def _outbox_indexes(url: str) -> dict[str, Any]:
    engine = create_engine(sync_url(url))
    try:
        inspector = inspect(engine)
        if not inspector.has_table("outbox_event"):
            return {}
        indexes = inspector.get_indexes("outbox_event")
        return {str(ix["name"]): ix for ix in indexes if str(ix["name"]).startswith("ix_")}
    finally:
        engine.dispose()


@pytest.mark.parametrize(("service", "model", "version_table"), SERVICES)
async def test_the_service_outbox_table_is_migrated_and_relayed(
    databases: DatabaseFactory, service: str, model: type[OutboxMixin], version_table: str
) -> None:
    url = migrated(databases, service, version_table)
    indexes = _outbox_indexes(url)
    assert set(indexes) == {"ix_outbox_event_pending", "ix_outbox_event_dead"}
    assert all(ix["column_names"] == ["seq"] for ix in indexes.values())
    if databases.backend == "postgresql":  # SQLite does not reflect index predicates
        pending = indexes["ix_outbox_event_pending"]["dialect_options"]["postgresql_where"]
        dead = indexes["ix_outbox_event_dead"]["dialect_options"]["postgresql_where"]
        assert (pending, dead) == (
            "((sent_at IS NULL) AND (dead_at IS NULL))",
            "(dead_at IS NOT NULL)",
        )
    event = new_event(
        id=derived_event_id("cause-1", f"{service}-test"),
        type=f"vigie.{service}.tested.v1",
        source=f"/vigie/{service}",
        subject="tkt-1",
        data=Checked(ok=True),
        time=START,
    )
    engine = make_engine(url)
    publisher = Acknowledging()
    sessions = make_sessionmaker(engine)
    relay = OutboxRelay(
        sessions=sessions,
        model=model,
        publisher=publisher,
        clock=FrozenClock(START),
        service=service,
    )
    try:
        async with transaction(sessions) as session:
            assert await add_event(session, model, event, topic="vigie.test.v1")
        assert await relay.drain_once() == 1
    finally:
        await relay.close()
        await engine.dispose()
    assert publisher.keys == ["tkt-1"]


@pytest.mark.parametrize(("service", "model", "version_table"), SERVICES)
def test_the_outbox_migration_goes_down_and_up_again(
    databases: DatabaseFactory, service: str, model: type[OutboxMixin], version_table: str
) -> None:
    url = migrated(databases, service, version_table)
    config = _config(service, url, version_table)

    command.downgrade(config, "0001")
    assert _outbox_indexes(url) == {}
    command.upgrade(config, "head")
    assert set(_outbox_indexes(url)) == {"ix_outbox_event_pending", "ix_outbox_event_dead"}
