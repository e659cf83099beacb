"""Test-only tables built the way a service builds its own: outbox, inbox and a timestamp."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapped, mapped_column
from vigie_common.db.base import ServiceBase, new_metadata
from vigie_common.db.inbox import ProcessedEventMixin
from vigie_common.db.outbox import OutboxMixin

from tests.support.database import DatabaseFactory

SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg"}


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class OutboxEvent(OutboxMixin, Base):
    __tablename__ = "outbox_event"


class Seen(ProcessedEventMixin, Base):
    __tablename__ = "processed_event"


class Stamp(Base):
    __tablename__ = "stamp"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    maybe: Mapped[datetime | None]


def sync_url(async_url: str) -> str:
    """The same database through a blocking driver."""
    url = make_url(async_url)
    return url.set(drivername=SYNC_DRIVERS[url.drivername]).render_as_string(hide_password=False)


def create_tables(async_url: str) -> None:
    """``factory.create``'s migrate callable: the test tables, created synchronously."""
    engine = create_engine(sync_url(async_url))
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def common_db(factory: DatabaseFactory) -> str:
    """A fresh database holding the test tables; returns its async URL."""
    return factory.create("common", create_tables)
