"""GTR holds end to end: each source's hold and update time reach the ticket and its events.

A hold is ServiceNow's On Hold state (``3``), Oceane's ``gel_gtr: true`` or the canonical
``on_hold: true``. Starting or ending one makes a new version; re-sending the same body is a
duplicate; a hold value that is not a boolean is refused with a 422 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from vigie_common.events.envelope import decode
from vigie_common.events.tickets import TicketEvent, TicketState
from vigie_common.events.topics import TICKETS

from tests.support import builders
from tests.support.builders import encode, signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db, ingest_settings, running_ingest
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration

SERVICENOW = "/v1/webhooks/servicenow"
OCEANE = "/v1/webhooks/oceane"
CANONICAL = "/v1/tickets"


@dataclass(frozen=True)
class Hold:
    """One source's on-hold body, the next body that is not, and their expected update times."""

    path: str
    held: dict[str, Any]
    released: dict[str, Any]
    held_at: str | None
    released_at: str | None


def servicenow_hold() -> Hold:
    """On Hold (mod 1, 15:01 UTC) then In Progress (mod 2, 15:02 UTC)."""
    number = builders.unique("INC")
    return Hold(
        SERVICENOW,
        held=builders.servicenow(number, mod_count=1, state="3"),
        released=builders.servicenow(number, mod_count=2, state="2"),
        held_at="2025-06-16T15:01:00Z",
        released_at="2025-06-16T15:02:00Z",
    )


def oceane_hold() -> Hold:
    """``gel_gtr: true`` then the same ticket without it (no update time in that contract)."""
    numero = builders.unique("25")
    return Hold(
        OCEANE,
        held=builders.oceane(numero, gel_gtr=True),
        released=builders.oceane(numero),
        held_at=None,
        released_at=None,
    )


def canonical_hold() -> Hold:
    """``on_hold: true`` (version 1) then ``on_hold: false`` (version 2), times in Paris."""
    upstream_id = builders.unique("SUP")
    return Hold(
        CANONICAL,
        held=builders.canonical(
            upstream_id, version=1, on_hold=True, updated_at="2025-06-16T17:01:00+02:00"
        ),
        released=builders.canonical(
            upstream_id, version=2, on_hold=False, updated_at="2025-06-16T17:02:00+02:00"
        ),
        held_at="2025-06-16T15:01:00Z",
        released_at="2025-06-16T15:02:00Z",
    )


HOLDS = {"servicenow": servicenow_hold, "oceane": oceane_hold, "canonical": canonical_hold}


def zulu(value: datetime | None) -> str | None:
    """An instant as the API writes it (``…Z``), or None."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


async def post(client: httpx.AsyncClient, path: str, payload: dict[str, Any]) -> httpx.Response:
    """Sign and post one body."""
    body = encode(payload)
    return await client.post(path, content=body, headers=signed_headers(body))


@pytest.mark.parametrize("source", sorted(HOLDS))
async def test_hold_then_release_gives_two_versions_and_a_resend_is_a_duplicate(
    databases: DatabaseFactory, kafka_bootstrap: str, source: str
) -> None:
    hold = HOLDS[source]()
    settings = ingest_settings(ingest_db(databases), kafka_bootstrap)
    async with running_ingest(settings) as client:
        answers = []
        for payload in (hold.held, hold.held, hold.released):
            answer = await post(client, hold.path, payload)
            assert answer.status_code == 202, answer.text
            answers.append(answer.json())
        read = (await client.get(answers[0]["ticket_url"])).json()
        records = await read_records(
            kafka_bootstrap, TICKETS, within=60, keys={answers[0]["ticket_id"]}, expect=2
        )

    assert [a["status"] for a in answers] == ["accepted", "duplicate", "accepted"]
    assert [a["version"] for a in answers] == [1, 1, 2]
    assert answers[1]["event_id"] == answers[0]["event_id"]
    events = [decode(r.value, TicketEvent).data.ticket for r in records]
    assert [(t.version, t.on_hold, t.state) for t in events] == [
        (1, True, TicketState.OPEN),
        (2, False, TicketState.OPEN),
    ]
    assert [zulu(t.updated_at) for t in events] == [hold.held_at, hold.released_at]
    assert read["ticket"]["on_hold"] is False
    assert read["ticket"]["updated_at"] == hold.released_at
    assert len(read["history"]) == 2


async def test_servicenow_on_hold_resent_after_release_is_a_duplicate_not_a_new_hold(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    hold = servicenow_hold()
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    async with running_ingest(settings) as client:
        first = (await post(client, SERVICENOW, hold.held)).json()
        await post(client, SERVICENOW, hold.released)
        late = (await post(client, SERVICENOW, hold.held)).json()
        read = (await client.get(first["ticket_url"])).json()

    assert late["status"] == "duplicate" and late["event_id"] == first["event_id"]
    assert read["ticket"]["on_hold"] is False and read["ticket"]["version"] == 2


async def test_oceane_freeze_again_with_the_first_body_is_a_new_version(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    """frozen → running → frozen with the identical body: frozen again (v3), as reopening."""
    hold = oceane_hold()
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    async with running_ingest(settings) as client:
        answers = [
            (await post(client, OCEANE, payload)).json()
            for payload in (hold.held, hold.released, hold.held)
        ]
        read = (await client.get(answers[0]["ticket_url"])).json()

    assert [a["status"] for a in answers] == ["accepted"] * 3
    assert [a["version"] for a in answers] == [1, 2, 3]
    assert read["ticket"]["on_hold"] is True


@pytest.mark.parametrize(
    ("path", "payload", "loc"),
    [
        (OCEANE, builders.oceane(gel_gtr="maybe"), "gel_gtr"),
        (OCEANE, builders.oceane(gel_gtr="true"), "gel_gtr"),
        (CANONICAL, builders.canonical(on_hold="maybe"), "on_hold"),
        (SERVICENOW, builders.servicenow(sys_updated_on="2300-01-01 00:00:00"), "sys_updated_on"),
    ],
    ids=["oceane-maybe", "oceane-string", "canonical-maybe", "servicenow-year-2300"],
)
async def test_bad_hold_value_is_422_naming_the_field_and_kept(
    sqlite_factory: DatabaseFactory,
    kafka_bootstrap: str,
    path: str,
    payload: dict[str, Any],
    loc: str,
) -> None:
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    async with running_ingest(settings) as client:
        answer = await post(client, path, payload)
        kept = (await client.get("/v1/rejected")).json()["items"]

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [error["loc"] for error in answer.json()["errors"]] == [loc]
    assert [(item["status_code"], item["errors"][0]["loc"]) for item in kept] == [(422, loc)]
