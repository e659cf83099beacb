"""Tickets' GTR clocks in the notifier's table: started, paused, stopped, warned, judged.

The arithmetic is :mod:`vigie_notifier.gtr` (pure); this module keeps each ticket's clock
in step with its versions, in the caller's transaction, and returns the events to publish:

* The clock starts at the ticket's creation (``opened_at``), in the first site's zone (the
  configured default without one), with the country's holidays.
* A version on hold opens a pause at its ``updated_at``; the next version that is not on
  hold closes it. No warning is due while the clock is frozen.
* Restoration stops it: ``restored_at`` (``Rétabli``, ServiceNow Resolved), else the version
  that says restored, else the first ``stable`` verdict when upstream says nothing. A closure
  without restoration cancels it. Either way the outcome is stored and published once.
* A commitment that cannot be read is recorded with the reason; no deadline is ever guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.events.envelope import CloudEvent, new_event
from vigie_common.events.ids import derived_event_id
from vigie_common.events.notices import (
    GTR_OUTCOME,
    GTR_WARNING,
    GtrContract,
    GtrOutcome,
    GtrWarning,
)
from vigie_common.events.tickets import CanonicalTicket, TicketState

from vigie_notifier import gtr
from vigie_notifier.gtr_command import contract_json
from vigie_notifier.gtr_contract import CommitmentUnreadable, Contract, parse_commitment
from vigie_notifier.models import GtrClock

__all__ = [
    "THRESHOLDS",
    "ClockPlace",
    "due_warning",
    "next_warning_at",
    "restore",
    "track_ticket",
    "warning_event",
]

THRESHOLDS: Final = (50, 75, 100)
"""Shares of the budget used at which a warning is published."""
EVENT_SOURCE: Final = "/vigie/notifier"
_RESTORED_STATES: Final = frozenset({TicketState.RESTORED, TicketState.IN_OBSERVATION})


@dataclass(frozen=True, slots=True)
class ClockPlace:
    """Where clocks run when the ticket does not say: zone, country, holidays subdivision."""

    tz: str = "Europe/Paris"
    country: str = "FR"
    subdiv: str | None = None


def _site(row: GtrClock) -> gtr.Site:
    return gtr.Site(tz=row.tz, country=row.country, subdiv=row.subdiv)


def _pauses(row: GtrClock, now: datetime) -> list[gtr.Pause]:
    """The stored pauses; an open one counts as running until ``now``."""
    spans = []
    for start, end in row.pauses:
        assert start is not None
        begin = datetime.fromisoformat(start)
        finish = datetime.fromisoformat(end) if end else max(now, begin)
        if finish > begin:
            spans.append(gtr.Pause(begin, finish))
    return spans


def _paused(row: GtrClock) -> bool:
    return bool(row.pauses) and row.pauses[-1][1] is None


def _contract(row: GtrClock) -> Contract | None:
    if row.commitment is None or row.error is not None:
        return None
    return parse_commitment(row.commitment)


def _contract_data(row: GtrClock) -> GtrContract:
    contract = _contract(row)
    assert contract is not None and row.commitment is not None
    data = row.contract or {}
    schedule = data.get("schedule", {})
    days = schedule.get("days", [])
    hours = f"{schedule.get('opens')}-{schedule.get('closes')}"
    described = "24/7" if schedule.get("around_the_clock") else f"{','.join(days)} {hours}"
    return GtrContract(
        commitment=row.commitment,
        service_class=contract.service_class,
        budget_minutes=contract.budget_minutes,
        schedule=described,
        tz=row.tz,
        country=row.country,
        subdiv=row.subdiv,
    )


async def track_ticket(
    session: AsyncSession,
    ticket: CanonicalTicket,
    *,
    cause_event_id: str,
    heard_at: datetime,
    now: datetime,
    place: ClockPlace,
) -> list[CloudEvent[GtrOutcome]]:
    """Bring the ticket's clock in step with this version; the outcome event when it stops.

    ``heard_at`` (when ingest accepted the version) stands for the version's time when
    upstream gives no ``updated_at`` (Oceane): a hold starts or ends then.
    """
    row = await session.get(GtrClock, ticket.id, with_for_update=True)
    if row is None:
        row = _new_clock(ticket, now=now, place=place)
        session.add(row)
    row.updated_at = now
    if row.state != "running":
        return []
    at = ticket.updated_at or heard_at
    if ticket.on_hold and not _paused(row):
        row.pauses = [*row.pauses, [at.isoformat(), None]]
    elif not ticket.on_hold and _paused(row):
        start = row.pauses[-1][0]
        row.pauses = [
            *row.pauses[:-1],
            [start, max(at, datetime.fromisoformat(str(start))).isoformat()],
        ]
    if ticket.restored_at is not None or ticket.state in _RESTORED_STATES:
        return restore(row, at=ticket.restored_at or at, cause_event_id=cause_event_id, now=now)
    if ticket.state is TicketState.CLOSED:
        return _cancel(row, at=ticket.closed_at or at, cause_event_id=cause_event_id)
    _reschedule(row, now)
    return []


def _new_clock(ticket: CanonicalTicket, *, now: datetime, place: ClockPlace) -> GtrClock:
    site_zone = next(
        (s.timezone for s in (ticket.site_a, ticket.site_b) if s is not None and s.timezone),
        None,
    )
    row = GtrClock(
        ticket_id=ticket.id,
        commitment=ticket.commitment,
        tz=site_zone or place.tz,
        country=place.country,
        subdiv=place.subdiv,
        started_at=ticket.opened_at,
        pauses=[],
        state="running",
        warned_percent=0,
        updated_at=now,
    )
    if ticket.commitment is None:
        row.state, row.error = "unreadable", "the ticket has no commitment"
        return row
    try:
        contract = parse_commitment(ticket.commitment)
        row.contract = contract_json(contract, _site(row))
        row.deadline = gtr.deadline(contract, row.started_at, site=_site(row))
    except (CommitmentUnreadable, gtr.UnknownCalendar) as exc:
        row.state, row.error = "unreadable", str(exc)[:500]
    return row


def _reschedule(row: GtrClock, now: datetime) -> None:
    """Deadline with the pauses so far; the next warning's instant (none while frozen)."""
    contract = _contract(row)
    if contract is None:
        return
    pauses = _pauses(row, now)
    row.deadline = gtr.deadline(contract, row.started_at, site=_site(row), pauses=pauses)
    row.due_at = None if _paused(row) else next_warning_at(row, contract, pauses)


def next_warning_at(
    row: GtrClock, contract: Contract, pauses: Sequence[gtr.Pause]
) -> datetime | None:
    """When the next threshold above the last warning is reached; None when none is left."""
    for threshold in THRESHOLDS:
        if threshold > row.warned_percent:
            return gtr.instant_at_percent(
                contract, row.started_at, threshold, site=_site(row), pauses=pauses
            )
    return None


def restore(
    row: GtrClock, *, at: datetime, cause_event_id: str, now: datetime
) -> list[CloudEvent[GtrOutcome]]:
    """Stop a running clock at ``at``: the outcome, stored and returned as its event."""
    if row.state != "running":
        return []
    contract = _contract(row)
    assert contract is not None
    restored = max(at, row.started_at)
    result = gtr.outcome(
        contract,
        row.started_at,
        site=_site(row),
        pauses=_pauses(row, restored),
        restored_at=restored,
    )
    row.state, row.restored_at, row.due_at = "restored", result.restored_at, None
    row.deadline = result.deadline
    row.business_minutes_used = result.business_minutes_used
    row.met, row.margin_minutes = result.met, result.margin_minutes
    row.updated_at = now
    return [_outcome_event(row, cause_event_id)]


def _cancel(row: GtrClock, *, at: datetime, cause_event_id: str) -> list[CloudEvent[GtrOutcome]]:
    row.state, row.due_at = "cancelled", None
    return [_outcome_event(row, cause_event_id, closed_at=at)]


def _outcome_event(
    row: GtrClock, cause_event_id: str, *, closed_at: datetime | None = None
) -> CloudEvent[GtrOutcome]:
    assert row.deadline is not None
    data = GtrOutcome(
        ticket_id=row.ticket_id,
        contract=_contract_data(row),
        started_at=row.started_at,
        deadline=row.deadline,
        state=row.state,
        restored_at=row.restored_at,
        business_minutes_used=row.business_minutes_used,
        met=row.met,
        margin_minutes=row.margin_minutes,
    )
    return new_event(
        id=derived_event_id(row.ticket_id, GTR_OUTCOME, row.started_at.isoformat()),
        type=GTR_OUTCOME,
        source=EVENT_SOURCE,
        subject=row.ticket_id,
        data=data,
        time=row.restored_at or closed_at or row.updated_at,
    )


def due_warning(row: GtrClock, now: datetime) -> int | None:
    """The highest threshold reached by ``now`` and not yet warned; None when none is."""
    contract = _contract(row)
    if contract is None or row.state != "running" or _paused(row):
        return None
    pauses = _pauses(row, now)
    reached = None
    for threshold in THRESHOLDS:
        if threshold <= row.warned_percent:
            continue
        at = gtr.instant_at_percent(
            contract, row.started_at, threshold, site=_site(row), pauses=pauses
        )
        if at <= now:
            reached = threshold
    return reached


def warning_event(row: GtrClock, threshold: int, now: datetime) -> CloudEvent[GtrWarning]:
    """Mark ``threshold`` as warned, reschedule the next, and return the warning's event."""
    contract = _contract(row)
    assert contract is not None and row.deadline is not None
    pauses = _pauses(row, now)
    used = gtr.business_minutes_used(contract, row.started_at, now, site=_site(row), pauses=pauses)
    row.warned_percent = threshold
    row.due_at = next_warning_at(row, contract, pauses)
    row.updated_at = now
    data = GtrWarning(
        ticket_id=row.ticket_id,
        contract=_contract_data(row),
        threshold_percent=threshold,
        deadline=row.deadline,
        business_minutes_used=used,
        budget_minutes=contract.budget_minutes,
        at=now,
    )
    return new_event(
        id=derived_event_id(row.ticket_id, GTR_WARNING, row.started_at.isoformat(), str(threshold)),
        type=GTR_WARNING,
        source=EVENT_SOURCE,
        subject=row.ticket_id,
        data=data,
        time=now,
    )
