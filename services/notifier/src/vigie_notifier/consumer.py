"""The notifier's Kafka edge: ticket and verdict events, handed to the notifier's logic.

The handler only records (in the loop's transaction): the ticket's copy, its GTR clock, the
decisions and the rendered sends; the sender task delivers them.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.clock import Clock
from vigie_common.events.envelope import decode
from vigie_common.events.probes import VERDICT_REACHED, VerdictReached
from vigie_common.events.tickets import TICKET_RECEIVED, TICKET_UPDATED, TicketEvent
from vigie_common.kafka.consumer import Handler, ReceivedEvent
from vigie_common.kafka.errors import InvalidEvent
from vigie_common.logs import get_logger

from vigie_notifier import service
from vigie_notifier.metrics import NotifierMetrics
from vigie_notifier.service import Notify

__all__ = ["HANDLED", "make_handler"]

log = get_logger(__name__)

HANDLED = frozenset({TICKET_RECEIVED, TICKET_UPDATED, VERDICT_REACHED})


def make_handler(*, deps: Notify, clock: Clock, metrics: NotifierMetrics | None = None) -> Handler:
    """The consume loop's handler, with what the logic needs."""

    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        if event.event_type not in HANDLED:
            raise InvalidEvent(f"the notifier does not handle {event.event_type!r} events")
        now = clock.now()
        if event.event_type == VERDICT_REACHED:
            verdict = decode(event.raw, VerdictReached)
            outcomes = await service.handle_verdict(session, verdict, deps=deps, now=now)
            log.info(
                "verdict received",
                ticket_id=verdict.data.ticket_id,
                verdict=verdict.data.verdict.value,
                round=verdict.data.round,
            )
        else:
            ticket = decode(event.raw, TicketEvent)
            outcomes = await service.handle_ticket(session, ticket, deps=deps, now=now)
            log.info(
                "ticket received",
                ticket_id=ticket.data.ticket.id,
                version=ticket.data.ticket.version,
                state=ticket.data.ticket.state.value,
            )
        for outcome in outcomes:
            if metrics is not None and outcome.business_minutes_used is not None:
                metrics.restoration.observe(outcome.business_minutes_used)
            log.info(
                "gtr outcome",
                ticket_id=outcome.ticket_id,
                state=outcome.state,
                met=outcome.met,
                margin_minutes=outcome.margin_minutes,
            )

    return handle
