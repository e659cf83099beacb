"""The prober's tables: inbox, outbox, inventory, probe plans and their results (own migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from vigie_common.db.base import ServiceBase, new_metadata
from vigie_common.db.inbox import ProcessedEventMixin
from vigie_common.db.leases import LeaseMixin
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


class ProbePlan(LeaseMixin, Base):
    """A ticket's probing plan: one row per ticket, replaced by each ticket event that changes it.

    ``plan_id`` is the id of the ticket event that made the plan: the ids of the events the
    plan's probes publish derive from it and ``round``, so a round run twice (a prober killed
    mid-probe, its lease taken over) publishes nothing new. ``due_at`` None: nothing more to
    probe (the diagnostic is done, the window closed, the ticket closed).
    """

    __tablename__ = "probe_plan"

    ticket_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100))
    upstream_id: Mapped[str] = mapped_column(String(200))
    ticket_version: Mapped[int] = mapped_column(BigInteger())
    ticket_state: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    sites: Mapped[list[dict[str, str | None]]] = mapped_column(JSON())
    """The ticket's ends: ``[{"end": "a", "code": …, "service_reference": …}, …]``."""
    product: Mapped[str | None] = mapped_column(String(500))
    since: Mapped[datetime | None]
    """Flaps are counted from here: the repair (restoration), or None for a diagnostic."""
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    interval_s: Mapped[float | None] = mapped_column(Float())
    round: Mapped[int] = mapped_column(Integer(), default=0)
    """Probes of this plan done so far; the next one is ``round + 1``."""
    outcome: Mapped[str | None] = mapped_column(String(200))
    """Why nothing more is due: ``diagnosed``, ``window closed``, ``line failed``,
    ``ticket closed``."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Observation(Base):
    """One device (or one unknown site) probed once: the data of its observation event."""

    __tablename__ = "observation"
    __table_args__ = (UniqueConstraint("event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[str] = mapped_column(String(200), index=True)
    probe_id: Mapped[str] = mapped_column(String(64), index=True)
    round: Mapped[int] = mapped_column(Integer())
    end: Mapped[str] = mapped_column(String(1))
    site_code: Mapped[str] = mapped_column(String(200))
    hostname: Mapped[str | None] = mapped_column(String(253))
    verdict: Mapped[str] = mapped_column(String(32))
    failed_layer: Mapped[str | None] = mapped_column(String(32))
    started: Mapped[datetime]
    finished: Mapped[datetime]
    body: Mapped[dict[str, Any]] = mapped_column(JSON())
    """The ``vigie.observation.recorded.v1`` data, with every evidence line."""


class TicketVerdictRow(Base):
    """A ticket's verdict of one probe round: the data of its verdict event."""

    __tablename__ = "ticket_verdict"
    __table_args__ = (UniqueConstraint("event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[str] = mapped_column(String(200), index=True)
    probe_id: Mapped[str] = mapped_column(String(64))
    round: Mapped[int] = mapped_column(Integer())
    verdict: Mapped[str] = mapped_column(String(32))
    final: Mapped[bool] = mapped_column(Boolean())
    reached_at: Mapped[datetime]
    body: Mapped[dict[str, Any]] = mapped_column(JSON())
    """The ``vigie.verdict.reached.v1`` data."""
