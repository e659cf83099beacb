"""Ingest's use cases: accept mapped tickets (idempotent, ordered, outbox), keep rejections."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, and_, bindparam, delete, exists, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.events.envelope import CONTENT_TYPE, CloudEvent, encode, new_event
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


@dataclass(slots=True)
class _TicketRow:
    """What the batch needs to know and change of one ticket."""

    values: dict[str, Any]
    exists: bool

    @property
    def version(self) -> UpstreamVersion:
        return UpstreamVersion(
            digest="",
            sequence=self.values["upstream_sequence"],
            updated_at=self.values["upstream_updated_at"],
        )


@dataclass(slots=True)
class _Batch:
    """Rows to write at the end of the batch, in a few multi-row statements."""

    tickets: dict[str, _TicketRow]
    versions: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    async def write(self, session: AsyncSession) -> None:
        new = [t.values for t in self.tickets.values() if not t.exists]
        changed = [t.values for t in self.tickets.values() if t.exists and t.values["_dirty"]]
        for rows in (new, changed):
            for row in rows:
                row.pop("_dirty", None)
        # Core statements on the session's connection: same transaction, no ORM bulk layer.
        connection = await session.connection()
        if new:
            await connection.execute(_INSERT_TICKET, new)
        if changed:
            await connection.execute(
                _UPDATE_TICKET, [{**row, "ticket_id": row["id"]} for row in changed]
            )
        if self.versions:
            await connection.execute(_INSERT_VERSION, self.versions)
        if self.outbox:
            await connection.execute(_INSERT_OUTBOX, self.outbox)


_TICKET = cast(Table, Ticket.__table__)
_VERSION = cast(Table, TicketVersion.__table__)
_INSERT_TICKET = insert(_TICKET)
_UPDATE_TICKET = update(_TICKET).where(_TICKET.c.id == bindparam("ticket_id"))
_INSERT_VERSION = insert(_VERSION)
_INSERT_OUTBOX = insert(cast(Table, OutboxEvent.__table__))
_SELECT_TICKETS = select(
    _TICKET.c.id,
    _TICKET.c.version,
    _TICKET.c.state,
    _TICKET.c.upstream_sequence,
    _TICKET.c.upstream_updated_at,
    _TICKET.c.upstream_version_key,
).where(_TICKET.c.id.in_(bindparam("ids", expanding=True)))
"""Built once: constructing statements per batch showed up in profiles."""
_LOCK_TICKETS = _SELECT_TICKETS.order_by(_TICKET.c.id).with_for_update()
"""PostgreSQL: the rows stay locked until commit, so two replicas serialise per ticket.

Ordered by id so that two batches sharing several tickets lock them in the same order and
cannot deadlock. SQLite has one writer at a time: the plain select is enough there.
"""


async def accept_batch(
    session: AsyncSession, *, items: Sequence[MappedTicket], now: datetime
) -> list[Acceptance]:
    """Store each ticket version and its event in the caller's transaction, in order.

    Same upstream version again → ``duplicate`` (nothing new); a version older than the
    ticket's current one → stored as ``stale``, no event; otherwise the ticket moves on and
    an event row goes to the outbox. Two SELECTs and at most four multi-row writes per batch.
    """
    ids = [ticket_id(m.source, m.upstream_id) for m in items]
    batch = _Batch(tickets=await _load_tickets(session, set(ids)))
    # A ticket unknown before this batch has no versions yet: ask only about the others.
    pairs = {(t, m.version.key) for t, m in zip(ids, items, strict=True) if t in batch.tickets}
    known = await _known_versions(session, pairs) if pairs else {}
    results: list[Acceptance] = []
    for tid, mapped in zip(ids, items, strict=True):
        if mapped.version.ordered:
            seen = known.get((tid, mapped.version.key))
            if seen is None:
                seen = _apply(batch, tid, mapped, mapped.version.key, now)
                known[(tid, mapped.version.key)] = replace(seen, duplicate=True)
        else:
            seen = _apply_unordered(batch, known, tid, mapped, now)
        results.append(seen)
    await batch.write(session)
    return results


def _apply_unordered(
    batch: _Batch,
    known: dict[tuple[str, str], Acceptance],
    tid: str,
    mapped: MappedTicket,
    now: datetime,
) -> Acceptance:
    """A version known by its digest only (Oceane): a duplicate only of the current version.

    The same body as an *earlier* version is a new version (a ticket reopened with the body
    it had when first opened); its key gets the version number so it stays unique.
    """
    key = mapped.version.key
    row = batch.tickets.get(tid)
    if row is not None and row.values["upstream_version_key"] in _same_body_keys(key, row):
        current = row.values["upstream_version_key"]
        return Acceptance(tid, row.values["version"], event_id(tid, current), duplicate=True)
    if row is not None and (tid, key) in known:
        key = f"{key}#v{row.values['version'] + 1}"
    seen = _apply(batch, tid, mapped, key, now)
    known[(tid, key)] = replace(seen, duplicate=True)
    return seen


def _same_body_keys(key: str, row: _TicketRow) -> tuple[str, str]:
    """The keys the current version has when its body is the one whose key is ``key``."""
    return key, f"{key}#v{row.values['version']}"


async def _load_tickets(session: AsyncSession, ids: set[str]) -> dict[str, _TicketRow]:
    connection = await session.connection()
    statement = _LOCK_TICKETS if connection.dialect.name == "postgresql" else _SELECT_TICKETS
    rows = await connection.execute(statement, {"ids": sorted(ids)})
    return {
        row.id: _TicketRow(values={**row._asdict(), "_dirty": False}, exists=True) for row in rows
    }


async def _known_versions(
    session: AsyncSession, pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], Acceptance]:
    rows = await session.execute(
        select(
            TicketVersion.ticket_id,
            TicketVersion.upstream_version_key,
            TicketVersion.version,
            TicketVersion.event_id,
            TicketVersion.stale,
        ).where(tuple_(TicketVersion.ticket_id, TicketVersion.upstream_version_key).in_(pairs))
    )
    return {
        (tid, key): Acceptance(tid, version, event, duplicate=True, stale=stale)
        for tid, key, version, event, stale in rows
    }


def _apply(batch: _Batch, tid: str, mapped: MappedTicket, key: str, now: datetime) -> Acceptance:
    row = batch.tickets.get(tid)
    if row is not None and mapped.version.is_older_than(row.version):
        batch.versions.append(_version_row(tid, mapped, key, now, version=None, event=None))
        return Acceptance(tid, None, None, stale=True)
    previous = None if row is None else TicketState(row.values["state"])
    if row is None:
        row = _TicketRow(
            values={
                "id": tid,
                "source": mapped.source,
                "upstream_id": mapped.upstream_id,
                "version": 0,
                "created_at": now,
            },
            exists=False,
        )
        batch.tickets[tid] = row
    version = row.values["version"] + 1
    row.values.update(
        version=version,
        state=mapped.fields.state.value,
        opened_at=mapped.fields.opened_at,
        upstream_sequence=mapped.version.sequence,
        upstream_updated_at=mapped.version.updated_at,
        upstream_version_key=key,
        fields=mapped.fields.model_dump(mode="json"),
        updated_at=now,
        _dirty=True,
    )
    eid = event_id(tid, key)
    batch.outbox.append(
        {
            "event_id": eid,
            "topic": TICKETS,
            "key": tid,
            "value": encode(_event(tid, mapped, version, previous, eid, now)),
            "content_type": CONTENT_TYPE,
            "created_at": now,
            "attempts": 0,
        }
    )
    batch.versions.append(_version_row(tid, mapped, key, now, version=version, event=eid))
    return Acceptance(tid, version, eid)


def _event(
    tid: str,
    mapped: MappedTicket,
    version: int,
    previous: TicketState | None,
    eid: str,
    now: datetime,
) -> CloudEvent[TicketEvent]:
    # The fields were validated by the source's model: build without validating again.
    ticket = CanonicalTicket.model_construct(
        **dict(mapped.fields),
        id=tid,
        source=mapped.source,
        upstream_id=mapped.upstream_id,
        version=version,
        raw=mapped.raw,
    )
    return new_event(
        id=eid,
        type=TICKET_RECEIVED if previous is None else TICKET_UPDATED,
        source=EVENT_SOURCE,
        subject=tid,
        time=now,
        data=TicketEvent.model_construct(ticket=ticket, previous_state=previous),
    )


def _version_row(
    tid: str,
    mapped: MappedTicket,
    key: str,
    now: datetime,
    *,
    version: int | None,
    event: str | None,
) -> dict[str, Any]:
    return {
        "ticket_id": tid,
        "upstream_version_key": key,
        "version": version,
        "stale": version is None,
        "state": mapped.fields.state.value,
        "event_id": event,
        "received_at": now,
        "raw": mapped.raw,
    }


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
