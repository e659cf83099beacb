"""The prober's tables: inbox, outbox and the inventory (its own metadata and migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from vigie_common.db.base import ServiceBase, new_metadata
from vigie_common.db.inbox import ProcessedEventMixin
from vigie_common.db.outbox import OutboxMixin

VERSION_TABLE = "alembic_version_prober"


class Base(ServiceBase):
    """Root of the prober's tables."""

    __abstract__ = True
    metadata = new_metadata()


class ProcessedEvent(ProcessedEventMixin, Base):
    """Events whose effect is stored: redeliveries are skipped."""

    __tablename__ = "processed_event"


class OutboxEvent(OutboxMixin, Base):
    """Events the prober emits, written in the transaction of their cause's effect.

    The relay publishes them; a redelivered cause adds nothing (derived event ids).
    """

    __tablename__ = "outbox_event"


class JumpHost(Base):
    """A bastion the prober reaches routers through (``rebond``), as the inventory names it.

    ``credentials`` is the *name* of a credentials profile; its secrets come from the
    environment or files at probe time, never from the inventory or this table.
    """

    __tablename__ = "jump_host"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    address: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer())
    credentials: Mapped[str] = mapped_column(String(100))
    known_hosts: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Site(Base):
    """A customer site end, as tickets name it (site code, or the service reference).

    Both ends of a point-to-point service usually share one ``service_reference``.
    """

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    service_reference: Mapped[str | None] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Device(Base):
    """A router (CPE) at a site end: how to reach it, log in, and read its log.

    ``credentials`` names a profile (never a secret); ``timezone`` is the zone of the
    router's own clock; ``host_key`` or ``known_hosts`` pin its SSH host key.
    """

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    address: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer())
    driver: Mapped[str] = mapped_column(String(32))
    credentials: Mapped[str] = mapped_column(String(100))
    jump_host_id: Mapped[int | None] = mapped_column(ForeignKey("jump_host.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    known_hosts: Mapped[str | None] = mapped_column(String(1024))
    host_key: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
