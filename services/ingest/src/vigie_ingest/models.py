"""Ingest's tables: tickets and their versions, rejected webhooks, the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from vigie_common.db.base import ServiceBase, new_metadata
from vigie_common.db.outbox import OutboxMixin

VERSION_TABLE = "alembic_version_ingest"


class Base(ServiceBase):
    """Root of ingest's tables (its own metadata: ingest's migrations own them)."""

    __abstract__ = True
    metadata = new_metadata()


class Ticket(Base):
    """The current state of one upstream ticket."""

    __tablename__ = "ticket"
    __table_args__ = (UniqueConstraint("source", "upstream_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    upstream_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer())
    state: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    upstream_sequence: Mapped[int | None] = mapped_column(BigInteger())
    upstream_updated_at: Mapped[datetime | None]
    upstream_version_key: Mapped[str | None] = mapped_column(String(200))
    """Key of the current version: a digest-only re-send is a duplicate only of this one."""
    fields: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TicketVersion(Base):
    """Every distinct version received; ``stale`` ones arrived after a newer one."""

    __tablename__ = "ticket_version"
    __table_args__ = (
        UniqueConstraint("ticket_id", "upstream_version_key"),
        # vigie's numbering: one row per (ticket, version); stale rows have none (NULL).
        Index("uq_ticket_version_ticket_id_version", "ticket_id", "version", unique=True),
        Index("ix_ticket_version_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    ticket_id: Mapped[str] = mapped_column(ForeignKey("ticket.id"), index=True)
    upstream_version_key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int | None] = mapped_column(Integer())
    stale: Mapped[bool]
    state: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(36))
    received_at: Mapped[datetime]
    raw: Mapped[dict[str, Any]]


class RejectedWebhook(Base):
    """An authenticated webhook that could not be accepted, kept for operators."""

    __tablename__ = "rejected_webhook"
    __table_args__ = (
        Index("ix_rejected_webhook_source_id", "source", "id"),
        Index("ix_rejected_webhook_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    source: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]
    status_code: Mapped[int] = mapped_column(Integer())
    reason: Mapped[str] = mapped_column(Text())
    errors: Mapped[list[dict[str, Any]] | None]
    content_type: Mapped[str | None] = mapped_column(String(200))
    body_size: Mapped[int] = mapped_column(Integer())
    body: Mapped[str] = mapped_column(Text())
    body_truncated: Mapped[bool]


class OutboxEvent(OutboxMixin, Base):
    """Events waiting for (or done with) the relay."""

    __tablename__ = "outbox_event"
