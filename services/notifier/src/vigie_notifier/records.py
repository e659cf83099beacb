"""Reading the notifier's tables back: for the read API and the gauges (no writes here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vigie_notifier.models import Decision, GtrClock, Notification, Ticket

__all__ = ["counts", "gtr_of", "list_notifications", "notifications_of"]


def _notification(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "ticket_id": row.ticket_id,
        "template": row.template,
        "channel": row.channel,
        "state": row.state,
        "recipients": [r.get("name") for r in row.recipients],
        "message_id": row.message_id,
        "subject": row.subject,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "next_attempt_at": row.due_at.isoformat() if row.due_at else None,
        "rule": row.rule,
        "cause_event_id": row.cause_event_id,
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }


async def list_notifications(
    session: AsyncSession, *, state: str | None, limit: int, before: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """Notifications newest first (by state when given), a page and the next page's cursor."""
    query = select(Notification)
    if state is not None:
        query = query.where(Notification.state == state)
    if before is not None:
        query = query.where(Notification.id < before)
    rows = list(await session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)))
    cursor = rows[limit - 1].id if len(rows) > limit else None
    return [_notification(row) for row in rows[:limit]], cursor


async def notifications_of(session: AsyncSession, ticket_id: str) -> dict[str, Any] | None:
    """A ticket's decisions and their notifications, oldest first.

    None when the notifier never heard of the ticket; a known one without a decision yet
    answers an empty list.
    """
    decisions = list(
        await session.scalars(
            select(Decision).where(Decision.ticket_id == ticket_id).order_by(Decision.id)
        )
    )
    if not decisions and await session.get(Ticket, ticket_id) is None:
        return None  # a ticket the notifier never heard of; a known one answers its decisions
    sends = list(
        await session.scalars(
            select(Notification)
            .where(Notification.ticket_id == ticket_id)
            .order_by(Notification.id)
        )
    )
    by_decision: dict[int, list[dict[str, Any]]] = {}
    for row in sends:
        by_decision.setdefault(row.decision_id, []).append(_notification(row))
    return {
        "ticket_id": ticket_id,
        "decisions": [
            {
                "id": d.id,
                "rule": d.rule,
                "template": d.template,
                "audience": d.audience,
                "cause_event_id": d.cause_event_id,
                "cause_type": d.cause_type,
                "outcome": d.outcome,
                "created_at": d.created_at.isoformat(),
                "notifications": by_decision.get(d.id, []),
            }
            for d in decisions
        ],
    }


async def gtr_of(session: AsyncSession, ticket_id: str) -> dict[str, Any] | None:
    """A ticket's GTR clock and outcome; None when the notifier never saw the ticket."""
    row = await session.get(GtrClock, ticket_id)
    if row is None:
        return None

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "ticket_id": ticket_id,
        "state": row.state,
        "commitment": row.commitment,
        "error": row.error,
        "contract": row.contract,
        "started_at": iso(row.started_at),
        "deadline": iso(row.deadline),
        "pauses": [{"start": start, "end": end} for start, end in row.pauses],
        "warned_percent": row.warned_percent,
        "next_warning_at": iso(row.due_at),
        "restored_at": iso(row.restored_at),
        "business_minutes_used": row.business_minutes_used,
        "met": row.met,
        "margin_minutes": row.margin_minutes,
    }


async def counts(session: AsyncSession, *, now: datetime) -> dict[str, Any]:
    """What the gauges show: pending sends by channel, failures, clocks and outcomes."""
    pending = dict(
        (
            await session.execute(
                select(Notification.channel, func.count())
                .where(Notification.state == "pending")
                .group_by(Notification.channel)
            )
        ).all()
    )
    oldest = await session.scalar(
        select(func.min(Notification.created_at)).where(Notification.state == "pending")
    )
    failed = await session.scalar(
        select(func.count()).select_from(Notification).where(Notification.state == "failed")
    )
    states = dict(
        (await session.execute(select(GtrClock.state, func.count()).group_by(GtrClock.state))).all()
    )
    met = dict(
        (
            await session.execute(
                select(GtrClock.met, func.count())
                .where(GtrClock.state == "restored")
                .group_by(GtrClock.met)
            )
        ).all()
    )
    at_risk = dict(
        (
            await session.execute(
                select(GtrClock.warned_percent, func.count())
                .where(GtrClock.state == "running", GtrClock.warned_percent > 0)
                .group_by(GtrClock.warned_percent)
            )
        ).all()
    )
    return {
        "pending": {str(k): int(v) for k, v in pending.items()},
        "oldest_pending_s": (now - oldest).total_seconds() if oldest else 0.0,
        "failed": int(failed or 0),
        "running": int(states.get("running", 0)),
        "at_risk": {str(k): int(v) for k, v in at_risk.items()},
        "outcomes": {
            "met": int(met.get(True, 0)),
            "breached": int(met.get(False, 0)),
            "cancelled": int(states.get("cancelled", 0)),
            "unreadable": int(states.get("unreadable", 0)),
        },
    }
