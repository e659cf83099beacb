"""The outbox table's columns, and what services do with its rows besides relaying them.

A service's handler writes its events as rows in the same transaction as its effect
(:func:`add_event`), so an event leaves if and only if the effect is stored. A row the broker
refuses for good is set aside as *dead* (``dead_at``): it no longer blocks the rows after it,
and the service's edge lists it (:func:`list_dead`) and puts it back once the cause is fixed
(:func:`requeue_dead`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Table,
    Text,
    Update,
    bindparam,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from vigie_common.events.envelope import CONTENT_TYPE, CloudEvent, encode
from vigie_common.kafka.failures import describe

ERROR_TEXT_LIMIT: Final = 1000
"""Characters of a failure kept in ``last_error`` and in log lines: the root cause, bounded."""

PENDING: Final = "sent_at IS NULL AND dead_at IS NULL"
"""Rows waiting for the relay (the predicate of the ``…_pending`` partial index)."""

DEAD: Final = "dead_at IS NOT NULL"
"""Rows set aside (the predicate of the ``…_dead`` partial index)."""


class OutboxMixin:
    """Columns of a service's ``outbox_event`` table.

    A row is pending (``sent_at`` and ``dead_at`` null), sent, or dead (refused for good).
    ``attempts`` and ``last_error`` (bounded by :func:`error_text`) record the failures.
    """

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    topic: Mapped[str] = mapped_column(String(249))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[bytes] = mapped_column(LargeBinary())
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text())

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        # Both indexes stay tiny: the relay scans only pending rows, the edge only dead ones,
        # while the table also keeps a week of sent rows.
        name: str = cls.__tablename__  # type: ignore[attr-defined]
        pending, dead = text(PENDING), text(DEAD)
        return (
            Index(f"ix_{name}_pending", "seq", sqlite_where=pending, postgresql_where=pending),
            Index(f"ix_{name}_dead", "seq", sqlite_where=dead, postgresql_where=dead),
        )


def is_pending(model: type[OutboxMixin]) -> ColumnElement[bool]:
    """The pending predicate as a clause (written like the index's, so the index serves it)."""
    return model.sent_at.is_(None) & model.dead_at.is_(None)


def error_text(error: BaseException) -> str:
    """What ``last_error`` and the log lines keep of a failure: bounded, with its root cause.

    A failure wrapped again at each retry would grow with every attempt; the outermost
    exception says what was being done (and may name the setting that fixes it), the
    innermost what went wrong. Both are kept, each cut to its share of the limit.
    """
    root = _root_cause(error)
    if root is error:
        return describe(error, limit=ERROR_TEXT_LIMIT)
    cause = describe(root, limit=ERROR_TEXT_LIMIT // 2)
    outer = describe(error, limit=ERROR_TEXT_LIMIT - len(cause) - len(" (cause: )"))
    return f"{outer} (cause: {cause})"


def _root_cause(error: BaseException) -> BaseException:
    root, seen = error, {id(error)}
    while True:
        inner = root.__cause__
        if inner is None and not root.__suppress_context__:
            inner = root.__context__
        if inner is None or id(inner) in seen:
            return root
        seen.add(id(inner))
        root = inner


async def add_event(
    session: AsyncSession,
    model: type[OutboxMixin],
    event: CloudEvent[Any],
    *,
    topic: str,
    now: datetime | None = None,
) -> bool:
    """Write ``event`` as an outbox row in the session's transaction; False if already there.

    The key is the event's subject (so one ticket's events stay in order on one partition).
    ``created_at`` is ``now`` when given (the commit's time, for the backlog's age), else the
    event's time. Adding the same event id twice keeps one row: a handler run again for a
    redelivered cause, with :func:`vigie_common.events.ids.derived_event_id`, emits nothing new.

    Raises:
        ValueError: an id, subject or topic longer than its column.
    """
    _check_fits(event, topic)
    if await session.scalar(select(exists().where(model.event_id == event.id))):
        return False
    row = model()
    row.event_id, row.topic, row.key = event.id, topic, event.subject
    row.value, row.content_type = encode(event), CONTENT_TYPE
    row.created_at, row.attempts = now or event.time, 0
    session.add(row)
    await session.flush()  # seq now, so events added in one transaction leave in that order
    return True


def _check_fits(event: CloudEvent[Any], topic: str) -> None:
    for what, value, limit in (("id", event.id, 200), ("subject", event.subject, 200)):
        if len(value) > limit:
            raise ValueError(f"event {what} longer than {limit} characters: {value[:80]}…")
    if len(topic) > 249:
        raise ValueError(f"topic name longer than 249 characters: {topic[:80]}…")


@dataclass(frozen=True, slots=True)
class DeadEvent:
    """An outbox row set aside: what an operator needs to see why, and to put it back."""

    seq: int
    event_id: str
    topic: str
    key: str
    size: int
    created_at: datetime
    dead_at: datetime
    attempts: int
    last_error: str | None


async def list_dead(
    session: AsyncSession,
    model: type[OutboxMixin],
    *,
    limit: int = 50,
    before: int | None = None,
) -> list[DeadEvent]:
    """Dead rows, newest first; ``before`` is the ``seq`` of the last one of the previous page."""
    query = (
        select(
            model.seq,
            model.event_id,
            model.topic,
            model.key,
            func.length(model.value).label("size"),
            model.created_at,
            model.dead_at,
            model.attempts,
            model.last_error,
        )
        .where(model.dead_at.is_not(None))
        .order_by(model.seq.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(model.seq < before)
    return [DeadEvent(**row._asdict()) for row in await session.execute(query)]


async def count_dead(session: AsyncSession, model: type[OutboxMixin]) -> int:
    """How many rows are dead now (the ``…_outbox_dead`` gauge)."""
    return int(await session.scalar(select(func.count()).where(model.dead_at.is_not(None))) or 0)


async def requeue_dead(session: AsyncSession, model: type[OutboxMixin], *, event_id: str) -> bool:
    """Put a dead row back in the queue (in the caller's transaction); False if none is dead.

    The row keeps its place (its ``seq``), so it leaves before anything pending, but after
    the later events of its key that left while it was dead: consumers see it late, as they
    would see a redelivery. Call the relay's ``wake()`` after committing.
    """
    result = await session.execute(
        update(model)
        .where(model.event_id == event_id, model.dead_at.is_not(None))
        .values(dead_at=None)
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def select_pending(model: type[OutboxMixin], *, limit: int) -> Select[Any]:
    """The relay's scan: the next ``limit`` pending rows in ``seq`` order (the index's order)."""
    columns = _table(model).c
    return (
        select(
            columns.seq,
            columns.event_id,
            columns.topic,
            columns.key,
            columns.value,
            columns.content_type,
            columns.created_at,
        )
        .where(columns.sent_at.is_(None), columns.dead_at.is_(None))
        .order_by(columns.seq)
        .limit(limit)
    )


def mark_sent(model: type[OutboxMixin]) -> Update:
    """Marks the rows whose ``seq`` is in ``:seqs`` sent at ``:now`` (one statement a batch)."""
    table = _table(model)
    return (
        update(table)
        .where(table.c.seq.in_(bindparam("seqs", expanding=True)))
        .values(sent_at=bindparam("now"))
    )


async def record_failure(
    connection: AsyncConnection, model: type[OutboxMixin], *, seq: int, error: str
) -> None:
    """One more failed attempt on the row; it stays pending."""
    await connection.execute(
        update(model).where(model.seq == seq).values(attempts=model.attempts + 1, last_error=error)
    )


async def set_aside(
    connection: AsyncConnection, model: type[OutboxMixin], *, seq: int, error: str, now: datetime
) -> None:
    """Make the row dead: out of the pending scan, listed by :func:`list_dead`."""
    await connection.execute(
        update(model)
        .where(model.seq == seq)
        .values(dead_at=now, attempts=model.attempts + 1, last_error=error)
    )


def _table(model: type[OutboxMixin]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
