"""The prober's logic over its tables: record work, claim rounds, save results, read them back.

Every function runs in the caller's session and transaction; none talks to a router. The
consume loop calls :func:`record_ticket` in its transaction (the ticket event and the plan
it makes commit together); the scheduler calls :func:`claim_rounds`, commits, probes outside
any transaction, then :func:`save_round` in one transaction with the outbox rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.db.leases import claim_due
from vigie_common.db.outbox import add_event
from vigie_common.events.envelope import CloudEvent
from vigie_common.events.probes import Purpose
from vigie_common.events.tickets import TicketEvent
from vigie_common.events.topics import OBSERVATIONS, VERDICTS

from vigie_prober.inventory_store import DeviceRecord, KnownSite, resolve_ticket_sites
from vigie_prober.models import Observation, OutboxEvent, ProbePlan, TicketVerdictRow
from vigie_prober.plans import (
    TICKET_CLOSED,
    Change,
    CurrentPlan,
    NextProbe,
    plan_ticket,
    ticket_sites,
)
from vigie_prober.results import EndResult, PlannedProbe, RoundEvents, as_end
from vigie_prober.settings import ObservationSettings

__all__ = [
    "Target",
    "claim_rounds",
    "latest_verdict",
    "list_observations",
    "record_ticket",
    "release_round",
    "resolve_targets",
    "save_round",
    "schedule_backlog",
]


async def record_ticket(
    session: AsyncSession,
    event: CloudEvent[TicketEvent],
    *,
    now: datetime,
    observation: ObservationSettings,
) -> Change:
    """Record what a ticket event asks of the prober (a probe now, an observation, a cancel)."""
    ticket = event.data.ticket
    row = await session.get(ProbePlan, ticket.id, with_for_update=True)
    if row is not None and row.ticket_version > ticket.version:
        return Change.NONE  # an older version delivered late: the plan is already newer
    current = None
    if row is not None:
        current = CurrentPlan(
            purpose=Purpose(row.purpose), sites=list(row.sites), pending=row.due_at is not None
        )
    timing = observation.for_product(ticket.product)
    change = plan_ticket(ticket, current=current, now=now, timing=timing)
    if change.change is Change.NONE:
        return change.change
    assert row is not None or change.change is Change.NEW
    if row is None:
        row = ProbePlan(ticket_id=ticket.id, created_at=now, round=0)
        session.add(row)
    row.source, row.upstream_id = ticket.source, ticket.upstream_id
    row.ticket_version, row.ticket_state = ticket.version, ticket.state.value
    row.product, row.updated_at = ticket.product, now
    if change.change is Change.CANCEL:
        row.due_at, row.outcome = None, TICKET_CLOSED
        row.lease_owner = row.lease_expires_at = None  # a running probe's result is dropped
    elif change.change is Change.NEW:
        assert change.purpose is not None
        row.plan_id, row.purpose, row.round = event.id, change.purpose.value, 0
        row.sites = ticket_sites(ticket)
        row.since, row.window_start, row.window_end = (
            change.since,
            change.window_start,
            change.window_end,
        )
        row.interval_s = change.interval.total_seconds() if change.interval else None
        row.due_at, row.outcome = change.due_at, None
        row.lease_owner = row.lease_expires_at = None
    await session.flush()
    return change.change


def _planned(row: ProbePlan) -> PlannedProbe:
    assert row.due_at is not None
    return PlannedProbe(
        ticket_id=row.ticket_id,
        plan_id=row.plan_id,
        source=row.source,
        upstream_id=row.upstream_id,
        ticket_version=row.ticket_version,
        purpose=Purpose(row.purpose),
        sites=tuple(row.sites),
        product=row.product,
        since=row.since,
        window_start=row.window_start,
        window_end=row.window_end,
        interval=timedelta(seconds=row.interval_s) if row.interval_s else None,
        round=row.round + 1,
        due_at=row.due_at,
    )


async def claim_rounds(
    session: AsyncSession, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[PlannedProbe]:
    """Lease up to ``limit`` due rounds to ``owner``; commit right after."""
    rows = await claim_due(session, ProbePlan, owner=owner, now=now, lease=lease, limit=limit)
    return [_planned(row) for row in rows]


@dataclass(frozen=True, slots=True)
class Target:
    """One end to probe: its devices, or why there is nothing to probe there."""

    end: str
    site_code: str
    devices: tuple[DeviceRecord, ...]
    reason: str | None = None
    """Set when ``devices`` is empty: ``unknown site …`` or ``site … has no device``."""


async def resolve_targets(session: AsyncSession, planned: PlannedProbe) -> list[Target]:
    """The ends' devices from the inventory; an end the inventory lacks is named, not raised.

    An end is looked up by its site code, then by its service reference. A reference that
    finds both sites of a point-to-point service on the ``a`` side (and no ``b`` given) gives
    both ends.
    """
    targets: list[Target] = []
    seen: set[str] = set()
    for site in planned.sites:
        code = site.get("code") or ""
        found = await resolve_ticket_sites(session, references=[code])
        if not any(isinstance(f, KnownSite) for f in found) and site.get("service_reference"):
            found = await resolve_ticket_sites(session, references=[site["service_reference"]])
        known = [f for f in found if isinstance(f, KnownSite) and f.code not in seen]
        if not known:
            if code not in seen:
                targets.append(Target(str(site["end"]), code, (), f"unknown site {code}"))
                seen.add(code)
            continue
        for index, entry in enumerate(known):
            seen.add(entry.code)
            end = site["end"] if index == 0 else ("b" if site["end"] == "a" else "a")
            reason = None if entry.devices else f"site {entry.code} has no device"
            targets.append(Target(str(end), entry.code, entry.devices, reason))
    return targets


async def save_round(
    session: AsyncSession,
    planned: PlannedProbe,
    *,
    owner: str,
    ends: Sequence[EndResult],
    events: RoundEvents,
    next_probe: NextProbe,
    now: datetime,
) -> bool:
    """Store the round (plan moved on, observations, verdict, outbox rows) if still ours.

    Returns ``False``, writing nothing, when the plan changed while probing (a newer ticket
    version, a closure) or the lease was taken over: the result belongs to nobody.
    """
    moved = await session.execute(
        update(ProbePlan)
        .where(
            ProbePlan.ticket_id == planned.ticket_id,
            ProbePlan.plan_id == planned.plan_id,
            ProbePlan.round == planned.round - 1,
            ProbePlan.lease_owner == owner,
        )
        .values(
            round=planned.round,
            due_at=next_probe.due_at,
            outcome=next_probe.outcome,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    for end, event in zip(ends, events.observations, strict=True):
        data = event.data
        session.add(
            Observation(
                event_id=event.id,
                ticket_id=planned.ticket_id,
                probe_id=data.probe_id,
                round=planned.round,
                end=as_end(end.end),
                site_code=end.site_code,
                hostname=data.device.hostname if data.device else None,
                verdict=data.verdict.value,
                failed_layer=data.failed_layer,
                started=data.started,
                finished=data.finished,
                body=data.model_dump(mode="json"),
            )
        )
        await add_event(session, OutboxEvent, event, topic=OBSERVATIONS, now=now)
    verdict = events.verdict
    session.add(
        TicketVerdictRow(
            event_id=verdict.id,
            ticket_id=planned.ticket_id,
            probe_id=verdict.data.probe_id,
            round=planned.round,
            verdict=verdict.data.verdict.value,
            final=next_probe.final,
            reached_at=verdict.data.until,
            body=verdict.data.model_dump(mode="json"),
        )
    )
    await add_event(session, OutboxEvent, verdict, topic=VERDICTS, now=now)
    await session.flush()
    return True


async def release_round(
    session: AsyncSession, planned: PlannedProbe, *, owner: str, retry_at: datetime
) -> bool:
    """Give a round back undone (its result could not be saved): due again at ``retry_at``."""
    return await _update_owned(
        session, planned, owner, lease_owner=None, lease_expires_at=None, due_at=retry_at
    )


async def extend_round(
    session: AsyncSession, planned: PlannedProbe, *, owner: str, until: datetime
) -> bool:
    """Keep the lease of a round still probing; ``False`` when it is no longer ours."""
    return await _update_owned(session, planned, owner, lease_expires_at=until)


async def _update_owned(
    session: AsyncSession, planned: PlannedProbe, owner: str, **values: Any
) -> bool:
    """Change the plan's row only while it is still this plan and ``owner`` holds it."""
    result = await session.execute(
        update(ProbePlan)
        .where(
            ProbePlan.ticket_id == planned.ticket_id,
            ProbePlan.plan_id == planned.plan_id,
            ProbePlan.lease_owner == owner,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def schedule_backlog(session: AsyncSession, *, now: datetime) -> tuple[int, float]:
    """Rounds due and not being probed, and how late the oldest is (seconds)."""
    due = (
        ProbePlan.due_at.is_not(None),
        ProbePlan.due_at <= now,
        (ProbePlan.lease_expires_at.is_(None)) | (ProbePlan.lease_expires_at <= now),
    )
    count, oldest = (
        await session.execute(select(func.count(), func.min(ProbePlan.due_at)).where(*due))
    ).one()
    late = (now - oldest).total_seconds() if oldest is not None else 0.0
    return int(count), max(late, 0.0)


async def latest_verdict(session: AsyncSession, ticket_id: str) -> dict[str, Any] | None:
    """The ticket's latest verdict and plan (next probe, outcome); None when never probed."""
    plan = await session.get(ProbePlan, ticket_id)
    if plan is None:
        return None
    row = await session.scalar(
        select(TicketVerdictRow)
        .where(TicketVerdictRow.ticket_id == ticket_id)
        .order_by(TicketVerdictRow.reached_at.desc(), TicketVerdictRow.id.desc())
        .limit(1)
    )
    return {
        "ticket_id": ticket_id,
        "verdict": row.body if row is not None else None,
        "final": row.final if row is not None else False,
        "plan": {
            "purpose": plan.purpose,
            "ticket_version": plan.ticket_version,
            "rounds_done": plan.round,
            "next_probe_at": plan.due_at.isoformat() if plan.due_at else None,
            "probing_now": plan.lease_owner is not None,
            "window_start": plan.window_start.isoformat() if plan.window_start else None,
            "window_end": plan.window_end.isoformat() if plan.window_end else None,
            "outcome": plan.outcome,
        },
    }


async def list_observations(
    session: AsyncSession, ticket_id: str, *, limit: int, before: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """The ticket's observations, newest first, ``limit`` a page; the next page's cursor."""
    query = select(Observation).where(Observation.ticket_id == ticket_id)
    if before is not None:
        query = query.where(Observation.id < before)
    rows = list(await session.scalars(query.order_by(Observation.id.desc()).limit(limit + 1)))
    cursor = rows[limit - 1].id if len(rows) > limit else None
    return [{"id": row.id, **row.body} for row in rows[:limit]], cursor
