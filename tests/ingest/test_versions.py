"""Versions of one ticket: reopened Oceane tickets, re-sends, and a ticket's version numbers."""

from __future__ import annotations

import pytest
from vigie_common.events.envelope import decode
from vigie_common.events.tickets import TicketEvent
from vigie_common.events.topics import TICKETS

from tests.support import builders
from tests.support.builders import encode, signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db, ingest_settings, running_ingest
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration

OCEANE = "/v1/webhooks/oceane"


async def test_reopened_oceane_ticket_is_a_new_version_not_a_duplicate(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    """open → restored → the identical "open" body again: the ticket is open again (v3)."""
    settings = ingest_settings(ingest_db(databases), kafka_bootstrap)
    numero = builders.unique("25")
    opened = encode(builders.oceane(numero))
    restored = encode(builders.oceane(numero, dernier_etat="Rétabli"))
    async with running_ingest(settings) as client:
        answers = [
            (await client.post(OCEANE, content=body, headers=signed_headers(body))).json()
            for body in (opened, restored, opened, opened)
        ]
        ticket = (await client.get(answers[0]["ticket_url"])).json()
        records = await read_records(
            kafka_bootstrap, TICKETS, within=60, keys={answers[0]["ticket_id"]}, expect=3
        )

    assert [a["status"] for a in answers] == ["accepted", "accepted", "accepted", "duplicate"]
    assert [a["version"] for a in answers] == [1, 2, 3, 3]
    assert answers[3]["event_id"] == answers[2]["event_id"]  # a re-send maps to the same event
    assert len({a["event_id"] for a in answers[:3]}) == 3
    assert ticket["ticket"]["state"] == "open" and ticket["ticket"]["version"] == 3
    events = [decode(r.value, TicketEvent) for r in records]
    assert [(e.data.ticket.version, e.data.ticket.state) for e in events] == [
        (1, "open"),
        (2, "restored"),
        (3, "open"),
    ]
    assert events[2].data.previous_state == "restored"
