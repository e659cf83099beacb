"""Accepting tickets: idempotent versions, one lock per ticket, events through the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, insert, select, tuple_, update
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

from vigie_ingest.models import OutboxEvent, Ticket, TicketVersion
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
    max_event_bytes: int
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


DEFAULT_MAX_EVENT_BYTES: Final = 2 * 1024 * 1024 - 1024
"""Kafka's message limit (``VIGIE_KAFKA_MAX_MESSAGE_BYTES``) less the key and headers."""


async def accept_batch(
    session: AsyncSession,
    *,
    items: Sequence[MappedTicket],
    now: datetime,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> list[Acceptance]:
    """Store each ticket version and its event in the caller's transaction, in order.

    Same upstream version again → ``duplicate`` (nothing new); a version older than the
    ticket's current one → stored as ``stale``, no event; otherwise the ticket moves on and
    an event row goes to the outbox. Two SELECTs and at most four multi-row writes per batch.
    """
    ids = [ticket_id(m.source, m.upstream_id) for m in items]
    batch = _Batch(tickets=await _load_tickets(session, set(ids)), max_event_bytes=max_event_bytes)
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
            "value": _encoded(
                _event(tid, mapped, version, previous, eid, now), batch.max_event_bytes
            ),
            "content_type": CONTENT_TYPE,
            "created_at": now,
            "attempts": 0,
        }
    )
    batch.versions.append(_version_row(tid, mapped, key, now, version=version, event=eid))
    return Acceptance(tid, version, eid)


def _encoded(event: CloudEvent[TicketEvent], limit: int) -> bytes:
    """The event's bytes; without the raw payload when it would not fit a Kafka message.

    Every mapped field comes from the body, so the event without ``raw`` is no larger than
    the body plus a constant: with ``max_body_bytes`` below the limit it always fits.
    """
    value = encode(event)
    if len(value) <= limit:
        return value
    ticket = event.data.ticket.model_copy(update={"raw": {}, "raw_omitted": True})
    data = event.data.model_copy(update={"ticket": ticket})
    return encode(event.model_copy(update={"data": data}))


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
