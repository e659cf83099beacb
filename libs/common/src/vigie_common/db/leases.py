"""Due rows claimed with a lease: replicas share the work, and a crashed one's is taken over.

A row is *due* when ``due_at <= now`` and nobody holds a live lease on it. :func:`claim_due`
stamps the caller as ``lease_owner`` until ``now + lease``, in the caller's transaction;
commit it at once, do the work outside any transaction (SSH, SMTP take seconds), then
:func:`complete` (reschedule, or nothing more due) or :func:`release` it. A worker that dies
holding a lease simply lets it expire: the row is due again for every other replica.

On PostgreSQL the candidates are read and locked ``FOR UPDATE SKIP LOCKED`` first, so
concurrent claimers never wait on each other nor get the same row; then one ``UPDATE …
WHERE <those keys> AND <due and unleased> … RETURNING`` leases them. SQLite has no row locks
(and vigie runs one process on it); the same statements are still correct there, because
SQLite runs one writer at a time and the condition is checked again by the update itself.

Every change after the claim is conditional on ``lease_owner``: a worker whose lease expired
and was taken over cannot complete or release what is no longer its own.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, String, and_, inspect, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

__all__ = ["LeaseMixin", "claim_due", "complete", "extend", "lease_owner_name", "release"]


def lease_owner_name() -> str:
    """A name for this process's leases: host, pid and a random part (a restart is another)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseMixin:
    """Columns of a table whose rows are claimed by due time (``ScheduledProbe``, …).

    ``due_at`` is ``None`` when nothing more is due (the row is kept, never claimed again).
    """

    due_at: Mapped[datetime | None] = mapped_column(index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]


L = TypeVar("L", bound=LeaseMixin)


def _claimable(model: type[LeaseMixin], now: datetime) -> ColumnElement[bool]:
    return and_(
        model.due_at.is_not(None),
        model.due_at <= now,
        or_(model.lease_expires_at.is_(None), model.lease_expires_at <= now),
    )


async def claim_due(
    session: AsyncSession,
    model: type[L],
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> list[L]:
    """Lease up to ``limit`` due rows to ``owner`` until ``now + lease``; oldest due first.

    ``where`` narrows the candidates to the rows this caller can work on (the notifier
    claims only the channels it has), so it never leases a row it would leave untouched.
    Runs in the caller's transaction: commit right after, so the lease (not a held row
    lock) is what keeps other replicas away while the work runs.
    """
    if limit < 1 or lease <= timedelta(0):
        raise ValueError("claim_due needs limit >= 1 and a positive lease")
    key = _key(model)
    claimable = _claimable(model, now) if where is None else and_(_claimable(model, now), where)
    # Two statements, not ``UPDATE … WHERE key IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)``:
    # PostgreSQL may plan that subquery as the inner side of a semi join, rescanned for each
    # row, and lease far more than ``limit`` rows. The locked keys are read once here.
    candidates = (
        select(*key)
        .where(claimable)
        .order_by(model.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
    )
    found = [tuple(row) for row in (await session.execute(candidates)).all()]
    if not found:
        return []
    chosen = key[0].in_([k[0] for k in found]) if len(key) == 1 else tuple_(*key).in_(found)
    statement = (
        update(model)
        .where(chosen, claimable)  # checked again: correct without row locks
        .values(lease_owner=owner, lease_expires_at=now + lease)
        .returning(model)
        .execution_options(synchronize_session=False)
    )
    rows = list((await session.scalars(statement)).all())
    rows.sort(key=lambda row: (row.due_at or now, *_identity(row)))
    return rows


async def complete(
    session: AsyncSession, row: LeaseMixin, *, owner: str, next_due_at: datetime | None
) -> bool:
    """The work is done: reschedule the row (or ``None``: nothing more due), lease cleared.

    Returns ``False`` when ``owner`` no longer holds the lease: another replica took it over.
    """
    return await _update_owned(
        session, row, owner, due_at=next_due_at, lease_owner=None, lease_expires_at=None
    )


async def release(
    session: AsyncSession, row: LeaseMixin, *, owner: str, retry_at: datetime | None = None
) -> bool:
    """Give the row back undone: due again at once, or at ``retry_at`` (a backoff).

    Returns ``False`` when ``owner`` no longer holds the lease.
    """
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    if retry_at is not None:
        values["due_at"] = retry_at
    return await _update_owned(session, row, owner, **values)


async def extend(
    session: AsyncSession, row: LeaseMixin, *, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Keep the lease for long work: it now expires at ``now + lease``.

    Returns ``False`` when the lease was already taken over (stop the work: it is another's).
    """
    return await _update_owned(session, row, owner, lease_expires_at=now + lease)


async def _update_owned(session: AsyncSession, row: LeaseMixin, owner: str, **values: Any) -> bool:
    model = type(row)
    key = _key(model)
    where = [column == value for column, value in zip(key, _identity(row), strict=True)]
    statement = (
        update(model)
        .where(*where, model.lease_owner == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    for name, value in values.items():
        # In step with the row, without marking it dirty (no second, unconditional UPDATE).
        set_committed_value(row, name, value)
    return True


def _key(model: type[LeaseMixin]) -> Sequence[Any]:
    return list(inspect(model).primary_key)


def _identity(row: LeaseMixin) -> tuple[Any, ...]:
    return tuple(inspect(type(row)).primary_key_from_instance(row))
