"""The prober's Kafka edge: ticket events in, handed to the prober's logic."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.events.envelope import decode
from vigie_common.events.tickets import TICKET_RECEIVED, TICKET_UPDATED, TicketEvent
from vigie_common.kafka.consumer import ReceivedEvent
from vigie_common.kafka.errors import InvalidEvent
from vigie_common.logs import get_logger

log = get_logger(__name__)

HANDLED = frozenset({TICKET_RECEIVED, TICKET_UPDATED})


async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
    """Acknowledge a ticket event.

    Foundation only: probing the routers arrives with the prober issue.
    """
    if event.event_type not in HANDLED:
        raise InvalidEvent(f"the prober does not handle {event.event_type!r} events")
    data = decode(event.raw, TicketEvent).data
    del session  # the processed-event row, written by the loop, is the whole effect for now
    log.info(
        "ticket received",
        ticket_id=data.ticket.id,
        version=data.ticket.version,
        state=data.ticket.state.value,
    )
