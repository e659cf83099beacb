"""The notifier's tables (its own metadata and migrations: no other service reads them)."""

from __future__ import annotations

from vigie_common.db.base import ServiceBase, new_metadata
from vigie_common.db.inbox import ProcessedEventMixin
from vigie_common.db.outbox import OutboxMixin

VERSION_TABLE = "alembic_version_notifier"


class Base(ServiceBase):
    """Root of the notifier's tables."""

    __abstract__ = True
    metadata = new_metadata()


class ProcessedEvent(ProcessedEventMixin, Base):
    """Events whose effect is stored: redeliveries are skipped."""

    __tablename__ = "processed_event"


class OutboxEvent(OutboxMixin, Base):
    """Events the notifier emits, written in the transaction of their cause's effect.

    The relay publishes them; a redelivered cause adds nothing (derived event ids).
    """

    __tablename__ = "outbox_event"
