"""The prober's Kafka edge: a ticket event becomes a probe plan, in the loop's transaction.

The handler only records work (a diagnostic probe now, an observation, a cancellation); the
scheduler task runs the probes. A redelivered event is skipped by the loop's inbox, and an
older ticket version delivered late changes nothing.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.clock import Clock
from vigie_common.events.envelope import decode
from vigie_common.events.tickets import TICKET_RECEIVED, TICKET_UPDATED, TicketEvent
from vigie_common.kafka.consumer import Handler, ReceivedEvent
from vigie_common.kafka.errors import InvalidEvent
from vigie_common.logs import get_logger

from vigie_prober import service
from vigie_prober.settings import ObservationSettings

__all__ = ["HANDLED", "make_handler"]

log = get_logger(__name__)

HANDLED = frozenset({TICKET_RECEIVED, TICKET_UPDATED})


def make_handler(*, clock: Clock, observation: ObservationSettings) -> Handler:
    """The consume loop's handler, with the clock and the observation timings it plans with."""

    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        if event.event_type not in HANDLED:
            raise InvalidEvent(f"the prober does not handle {event.event_type!r} events")
        ticket_event = decode(event.raw, TicketEvent)  # InvalidEnvelope: dead-lettered
        ticket = ticket_event.data.ticket
        change = await service.record_ticket(
            session, ticket_event, now=clock.now(), observation=observation
        )
        log.info(
            "ticket planned",
            ticket_id=ticket.id,
            version=ticket.version,
            state=ticket.state.value,
            plan=change.value,
        )

    return handle
