"""What operators keep and read: refused webhooks, a ticket's history, retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.db.outbox import list_dead, requeue_dead
from vigie_common.events.tickets import CanonicalTicket, TicketState

from vigie_ingest.models import OutboxEvent, RejectedWebhook, Ticket, TicketVersion
from vigie_ingest.schemas import (
    DeadEventPage,
    DeadEventRead,
    RejectionPage,
    RejectionRead,
    TicketRead,
    TicketVersionRead,
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


async def prune(session: AsyncSession, *, before: datetime) -> dict[str, int]:
    """Delete rejected webhooks and superseded versions received before ``before``.

    A ticket's current version is kept whatever its age: it is the ticket's record.
    """
    rejected = await session.execute(
        delete(RejectedWebhook).where(RejectedWebhook.received_at < before)
    )
    current = exists().where(
        and_(Ticket.id == TicketVersion.ticket_id, Ticket.version == TicketVersion.version)
    )
    versions = await session.execute(
        delete(TicketVersion).where(TicketVersion.received_at < before, ~current)
    )
    return {
        "rejected_webhook": int(rejected.rowcount or 0),  # type: ignore[attr-defined]
        "ticket_version": int(versions.rowcount or 0),  # type: ignore[attr-defined]
    }


async def list_dead_events(
    session: AsyncSession, *, before: int | None, limit: int
) -> DeadEventPage:
    """Events set aside by the relay, newest first, keyset-paginated by outbox seq."""
    rows = await list_dead(session, OutboxEvent, limit=limit + 1, before=before)
    page = rows[:limit]
    return DeadEventPage(
        items=[DeadEventRead.model_validate(r, from_attributes=True) for r in page],
        next_before=page[-1].seq if len(rows) > limit else None,
    )


async def requeue_dead_event(session: AsyncSession, *, event_id: str) -> bool:
    """Put a set-aside event back in the queue (in the caller's transaction)."""
    return await requeue_dead(session, OutboxEvent, event_id=event_id)
