"""The notifier's tables (its own metadata and migrations: no other service reads them).

Tickets as the notifier last heard of them, contacts, decisions, notifications (each one
rendered once and sent once), interventions awaiting a chase, and GTR clocks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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


class Ticket(Base):
    """The notifier's copy of a ticket (latest version): what templates and rules read."""

    __tablename__ = "ticket"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger())
    state: Mapped[str] = mapped_column(String(32))
    customer: Mapped[str | None] = mapped_column(String(500), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON())
    """The canonical ticket, as its last event carried it (``raw`` left out)."""
    thread_id: Mapped[str] = mapped_column(String(300))
    """The Message-ID every mail about the ticket refers to (threading)."""
    updated_at: Mapped[datetime]


class Contact(Base):
    """Who receives the customer's notifications, per customer and (optionally) per site.

    ``recipients`` is the team's ``NAME, phone, email;`` text, validated at import.
    """

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("customer", "site_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(500))
    site_code: Mapped[str] = mapped_column(String(200), default="")
    """Empty for the customer's default contacts."""
    recipients: Mapped[str] = mapped_column(Text())
    channel: Mapped[str] = mapped_column(String(16))
    """``mail``, ``sms`` or ``both``."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Decision(Base):
    """A rule that fired: the event that caused it, the template chosen, for whom."""

    __tablename__ = "decision"
    __table_args__ = (UniqueConstraint("ticket_id", "template", "cause_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(200), index=True)
    cause_event_id: Mapped[str] = mapped_column(String(200))
    cause_type: Mapped[str] = mapped_column(String(100))
    rule: Mapped[str] = mapped_column(String(100))
    template: Mapped[str] = mapped_column(String(20))
    audience: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(500))
    """``queued`` (sends written), or why nothing was sent (no contact, render error…)."""
    created_at: Mapped[datetime]


class Notification(LeaseMixin, Base):
    """One send (a mail to its recipients, or an SMS to one number), rendered once, sent once.

    ``key`` is the idempotency key (ticket, template, cause event, channel, recipient): a
    redelivered cause finds its row and adds nothing; ``message_id`` derives from it.
    """

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"), index=True)
    ticket_id: Mapped[str] = mapped_column(String(200), index=True)
    template: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(8))
    recipients: Mapped[list[dict[str, str | None]]] = mapped_column(JSON())
    """``[{"name": …, "email": …, "phone": …}]``: addresses stay here, events carry names."""
    message_id: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(Text())
    text: Mapped[str] = mapped_column(Text())
    html: Mapped[str | None] = mapped_column(Text())
    state: Mapped[str] = mapped_column(String(16), index=True)
    """``pending``, ``sent`` or ``failed``."""
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    cause_event_id: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Intervention(LeaseMixin, Base):
    """An intervention asked of a team (A0, A2): chased (A1, A3) while it stays open too long.

    ``due_at`` is when the chase is due; None once chased, or once the ticket is restored or
    closed.
    """

    __tablename__ = "intervention"
    __table_args__ = (UniqueConstraint("ticket_id", "template"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(200), index=True)
    template: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime]
    reminders: Mapped[int] = mapped_column(Integer(), default=0)
    closed_at: Mapped[datetime | None]


class GtrClock(LeaseMixin, Base):
    """A ticket's GTR clock: its contract, pauses, deadline, warnings fired, outcome.

    ``due_at`` is the next warning's instant (50, 75, 100 % of the budget), for the deadline
    watcher; None when no warning is left or the clock stopped.
    """

    __tablename__ = "gtr_clock"

    ticket_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    commitment: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(String(500))
    """Why no deadline: the commitment cannot be read (never a guessed deadline)."""
    contract: Mapped[dict[str, Any] | None] = mapped_column(JSON())
    tz: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(8))
    subdiv: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime]
    pauses: Mapped[list[list[str | None]]] = mapped_column(JSON(), default=list)
    """``[[start, end or null], …]`` in ISO 8601 UTC; an open pause has no end yet."""
    deadline: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16))
    """``running``, ``restored``, ``cancelled`` or ``unreadable``."""
    warned_percent: Mapped[int] = mapped_column(Integer(), default=0)
    restored_at: Mapped[datetime | None]
    business_minutes_used: Mapped[int | None] = mapped_column(Integer())
    met: Mapped[bool | None] = mapped_column(Boolean())
    margin_minutes: Mapped[int | None] = mapped_column(Integer())
    updated_at: Mapped[datetime]
