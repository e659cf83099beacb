"""Processed-event table for idempotent consumers: at-least-once in, exactly-once effect."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import String, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column


class ProcessedEventMixin:
    """Columns of a service's ``processed_event`` table; the event id is the key."""

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(249))
    event_type: Mapped[str] = mapped_column(String(200))
    processed_at: Mapped[datetime]


async def seen(session: AsyncSession, model: type[ProcessedEventMixin], event_id: str) -> bool:
    """True when the event's effect is already stored."""
    query = select(exists().where(model.event_id == event_id))
    return bool(await session.scalar(query))


async def seen_among(
    session: AsyncSession, model: type[ProcessedEventMixin], event_ids: Iterable[str]
) -> set[str]:
    """The ids among ``event_ids`` whose effect is already stored (one query for a batch)."""
    wanted = list(dict.fromkeys(event_ids))
    if not wanted:
        return set()
    rows = await session.scalars(select(model.event_id).where(model.event_id.in_(wanted)))
    return set(rows)


def remember(
    session: AsyncSession,
    model: type[ProcessedEventMixin],
    *,
    event_id: str,
    topic: str,
    event_type: str,
    now: datetime,
) -> None:
    """Record the event in the same transaction as its effect."""
    row = model()
    row.event_id, row.topic, row.event_type, row.processed_at = event_id, topic, event_type, now
    session.add(row)
