"""Ingest's use cases: accept mapped tickets (idempotent, ordered, outbox), keep rejections."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.events.envelope import CONTENT_TYPE, encode, new_event
from vigie_common.events.tickets import (
    TICKET_RECEIVED,
    TICKET_UPDATED,
    CanonicalTicket,
    TicketEvent,
    TicketState,
)
from vigie_common.events.topics import TICKETS

from vigie_ingest.models import OutboxEvent, RejectedWebhook, Ticket, TicketVersion
from vigie_ingest.schemas import RejectionPage, RejectionRead, TicketRead, TicketVersionRead
from vigie_ingest.sources.base import MappedTicket, UpstreamVersion

EVENT_SOURCE: Final = "/vigie/ingest"
_NAMESPACE: Final = uuid.UUID("6f0f7c2e-4c1a-4d8e-9f57-2b1e0c9d7a11")


def ticket_id(source: str, upstream_id: str) -> str:
    """Vigie's id for an upstream ticket: the same (source, number) always gives the same id."""
    return str(uuid.uuid5(_NAMESPACE, f"ticket\x00{source}\x00{upstream_id}"))


def event_id(ticket: str, version_key: str) -> str:
    """The event id of one ticket version: a re-sent webhook maps to the same event."""
    return str(uuid.uuid5(_NAMESPACE, f"event\x00{ticket}\x00{version_key}"))


@dataclass(frozen=True, slots=True)
class Acceptance:
    """What became of one webhook."""

    ticket_id: str
    version: int | None
    event_id: str | None
    duplicate: bool = False
    stale: bool = False

    @property
    def status(self) -> str:
        """``accepted``, ``duplicate`` or ``stale``."""
        return "duplicate" if self.duplicate else "stale" if self.stale else "accepted"


async def accept_batch(
    session: AsyncSession, *, items: Sequence[MappedTicket], now: datetime
) -> list[Acceptance]:
    """Store each ticket version and its event in the caller's transaction, in order.

    Same upstream version again → ``duplicate`` (nothing new); a version older than the
    ticket's current one → stored as ``stale``, no event; otherwise the ticket moves on and
    an event row goes to the outbox. One SELECT per table for the whole batch.
    """
    ids = [ticket_id(m.source, m.upstream_id) for m in items]
    tickets = {
        t.id: t for t in await session.scalars(select(Ticket).where(Ticket.id.in_(set(ids))))
    }
    pairs = {(tid, m.version.key) for tid, m in zip(ids, items, strict=True)}
    known: dict[tuple[str, str], Acceptance] = {}
    rows = await session.execute(
        select(
            TicketVersion.ticket_id,
            TicketVersion.upstream_version_key,
            TicketVersion.version,
            TicketVersion.event_id,
            TicketVersion.stale,
        ).where(tuple_(TicketVersion.ticket_id, TicketVersion.upstream_version_key).in_(pairs))
    )
    for tid, key, version, event, stale in rows:
        known[(tid, key)] = Acceptance(tid, version, event, duplicate=True, stale=stale)

    results: list[Acceptance] = []
    for tid, mapped in zip(ids, items, strict=True):
        seen = known.get((tid, mapped.version.key))
        if seen is not None:
            results.append(seen)
            continue
        outcome = _apply(session, tickets, tid, mapped, now)
        known[(tid, mapped.version.key)] = Acceptance(
            tid, outcome.version, outcome.event_id, duplicate=True, stale=outcome.stale
        )
        results.append(outcome)
    return results


def _apply(
    session: AsyncSession,
    tickets: dict[str, Ticket],
    tid: str,
    mapped: MappedTicket,
    now: datetime,
) -> Acceptance:
    fields = mapped.fields.model_dump(mode="json")
    ticket = tickets.get(tid)
    previous: TicketState | None = None
    if ticket is not None and mapped.version.is_older_than(_current_version(ticket)):
        _add_version(session, tid, mapped, fields, now, version=None, event=None)
        return Acceptance(tid, None, None, stale=True)
    if ticket is None:
        ticket = Ticket(
            id=tid,
            source=mapped.source,
            upstream_id=mapped.upstream_id,
            version=1,
            created_at=now,
        )
        tickets[tid] = ticket
        session.add(ticket)
    else:
        previous = TicketState(ticket.state)
        ticket.version += 1
    ticket.state = mapped.fields.state.value
    ticket.opened_at = mapped.fields.opened_at
    ticket.upstream_sequence = mapped.version.sequence
    ticket.upstream_updated_at = mapped.version.updated_at
    ticket.fields = fields
    ticket.updated_at = now

    eid = event_id(tid, mapped.version.key)
    canonical = CanonicalTicket(
        id=tid,
        source=mapped.source,
        upstream_id=mapped.upstream_id,
        version=ticket.version,
        raw=mapped.raw,
        **mapped.fields.model_dump(),
    )
    event = new_event(
        id=eid,
        type=TICKET_RECEIVED if previous is None else TICKET_UPDATED,
        source=EVENT_SOURCE,
        subject=tid,
        time=now,
        data=TicketEvent(ticket=canonical, previous_state=previous),
    )
    session.add(
        OutboxEvent(
            event_id=eid,
            topic=TICKETS,
            key=tid,
            value=encode(event),
            content_type=CONTENT_TYPE,
            created_at=now,
            attempts=0,
        )
    )
    _add_version(session, tid, mapped, fields, now, version=ticket.version, event=eid)
    return Acceptance(tid, ticket.version, eid)


def _current_version(ticket: Ticket) -> UpstreamVersion:
    return UpstreamVersion(
        digest="", sequence=ticket.upstream_sequence, updated_at=ticket.upstream_updated_at
    )


def _add_version(
    session: AsyncSession,
    tid: str,
    mapped: MappedTicket,
    fields: dict[str, Any],
    now: datetime,
    *,
    version: int | None,
    event: str | None,
) -> None:
    session.add(
        TicketVersion(
            ticket_id=tid,
            upstream_version_key=mapped.version.key,
            version=version,
            stale=version is None,
            state=mapped.fields.state.value,
            event_id=event,
            received_at=now,
            fields=fields,
            raw=mapped.raw,
        )
    )


async def reject(
    session: AsyncSession,
    *,
    source: str,
    status_code: int,
    reason: str,
    errors: list[dict[str, Any]] | None,
    content_type: str | None,
    body: bytes,
    keep_bytes: int,
    now: datetime,
) -> int:
    """Keep a refused webhook (bounded body) so an operator can see and replay it."""
    kept = body[:keep_bytes].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    row = RejectedWebhook(
        source=source,
        received_at=now,
        status_code=status_code,
        reason=reason[:2000],
        errors=errors[:100] if errors else None,
        content_type=(content_type or "")[:200] or None,
        body_size=len(body),
        body=kept,
        body_truncated=len(body) > keep_bytes,
    )
    session.add(row)
    await session.flush()
    return row.id


async def get_ticket(session: AsyncSession, tid: str) -> TicketRead | None:
    """The ticket's current form and its versions, oldest first; ``None`` when unknown."""
    ticket = await session.get(Ticket, tid)
    if ticket is None:
        return None
    versions = await session.scalars(
        select(TicketVersion).where(TicketVersion.ticket_id == tid).order_by(TicketVersion.id)
    )
    history = list(versions)
    latest_raw = next((v.raw for v in reversed(history) if not v.stale), {})
    current = CanonicalTicket.model_validate(
        {
            **ticket.fields,
            "id": ticket.id,
            "source": ticket.source,
            "upstream_id": ticket.upstream_id,
            "version": ticket.version,
            "raw": latest_raw,
        }
    )
    return TicketRead(
        ticket=current,
        history=[
            TicketVersionRead(
                upstream_version_key=v.upstream_version_key,
                version=v.version,
                stale=v.stale,
                state=TicketState(v.state),
                event_id=v.event_id,
                received_at=v.received_at,
            )
            for v in history
        ],
    )


async def list_rejections(
    session: AsyncSession, *, source: str | None, before: int | None, limit: int
) -> RejectionPage:
    """Rejected webhooks, newest first, keyset-paginated by id."""
    query = select(RejectedWebhook).order_by(RejectedWebhook.id.desc()).limit(limit + 1)
    if source is not None:
        query = query.where(RejectedWebhook.source == source)
    if before is not None:
        query = query.where(RejectedWebhook.id < before)
    rows = list(await session.scalars(query))
    page = rows[:limit]
    return RejectionPage(
        items=[RejectionRead.model_validate(r, from_attributes=True) for r in page],
        next_before=page[-1].id if len(rows) > limit else None,
    )
