"""Webhooks end to end on real parts: PostgreSQL and SQLite, and a real broker read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from vigie_common.clock import FrozenClock
from vigie_common.events.envelope import CONTENT_TYPE, decode
from vigie_common.events.tickets import TICKET_RECEIVED, TICKET_UPDATED, TicketEvent
from vigie_common.events.topics import TICKETS

from tests.support import builders
from tests.support.builders import TOKEN, encode, signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db, ingest_settings, running_ingest
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration

PATHS = {
    "oceane": "/v1/webhooks/oceane",
    "servicenow": "/v1/webhooks/servicenow",
    "canonical": "/v1/tickets",
}


async def post(
    client: httpx.AsyncClient, path: str, payload: dict[str, Any], **kw: Any
) -> httpx.Response:
    body = encode(payload)
    return await client.post(path, content=body, headers=signed_headers(body, **kw))


@pytest.mark.parametrize(
    ("source", "payload", "upstream"),
    [
        ("oceane", builders.oceane, "numero"),
        ("servicenow", builders.servicenow, "number"),
        ("canonical", builders.canonical, "upstream_id"),
    ],
)
async def test_webhook_lands_as_one_event_on_kafka(
    databases: DatabaseFactory, kafka_bootstrap: str, source: str, payload, upstream: str
) -> None:
    settings = ingest_settings(ingest_db(databases), kafka_bootstrap)
    ticket = payload()
    async with running_ingest(settings) as client:
        answer = await post(client, PATHS[source], ticket)
        assert answer.status_code == 202, answer.text
        accepted = answer.json()
        assert accepted["status"] == "accepted" and accepted["version"] == 1
        records = await read_records(
            kafka_bootstrap, TICKETS, within=60, keys={accepted["ticket_id"]}, expect=1
        )

    assert len(records) == 1
    record = records[0]
    assert dict(record.headers)["content-type"] == CONTENT_TYPE.encode()
    event = decode(record.value, TicketEvent)
    assert event.id == accepted["event_id"]
    assert event.type == TICKET_RECEIVED
    assert event.subject == accepted["ticket_id"]
    assert event.data.ticket.upstream_id == ticket[upstream]
    assert event.data.ticket.raw == ticket


async def test_oceane_ticket_maps_to_canonical_fields(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(databases), kafka_bootstrap)
    async with running_ingest(settings) as client:
        accepted = (await post(client, PATHS["oceane"], builders.oceane())).json()
        read = await client.get(accepted["ticket_url"])
    assert read.status_code == 200
    ticket = read.json()["ticket"]
    assert ticket["opened_at"] == "2025-05-30T07:52:00Z"  # 09:52 Paris, summer time
    assert ticket["state"] == "open" and ticket["nature"] == "degraded"
    assert ticket["site_a"]["code"] == "INL_MOIRA_EVPN_LA1"
    assert ticket["site_b"]["code"] == "INU_CONF5_EVPN_LA1"
    assert ticket["commitment"] == "GTR S2 240 mn Lundi au Samedi 8h à 18h"


async def test_same_version_twice_gives_one_version_and_one_event(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(databases), kafka_bootstrap)
    ticket = builders.servicenow(mod_count=3)
    async with running_ingest(settings) as client:
        first = (await post(client, PATHS["servicenow"], ticket)).json()
        again = await post(client, PATHS["servicenow"], ticket)
        history = (await client.get(first["ticket_url"])).json()["history"]
        records = await read_records(
            kafka_bootstrap, TICKETS, within=60, keys={first["ticket_id"]}, expect=1
        )
    assert again.status_code == 202
    assert again.json()["status"] == "duplicate"
    assert again.json()["event_id"] == first["event_id"]
    assert len(history) == 1
    assert len(records) == 1


async def test_older_version_after_newer_is_stored_but_emits_nothing(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(databases), kafka_bootstrap)
    number = builders.unique("INC")
    newer = builders.servicenow(number, mod_count=5, state="6", resolved_at="2025-06-16 16:10:44")
    older = builders.servicenow(number, mod_count=4, state="2")
    async with running_ingest(settings) as client:
        first = (await post(client, PATHS["servicenow"], newer)).json()
        late = (await post(client, PATHS["servicenow"], older)).json()
        read = (await client.get(first["ticket_url"])).json()
        records = await read_records(
            kafka_bootstrap, TICKETS, within=60, keys={first["ticket_id"]}, expect=1
        )
    assert late["status"] == "stale" and late["stale"] and late["event_id"] is None
    assert read["ticket"]["state"] == "restored"  # the newer version stays current
    assert [v["stale"] for v in read["history"]] == [False, True]
    assert len(records) == 1


async def test_new_version_emits_update_with_previous_state(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(databases), kafka_bootstrap)
    numero = builders.unique("25")
    async with running_ingest(settings) as client:
        first = (await post(client, PATHS["oceane"], builders.oceane(numero))).json()
        second = (
            await post(client, PATHS["oceane"], builders.oceane(numero, dernier_etat="Rétabli"))
        ).json()
        records = await read_records(
            kafka_bootstrap, TICKETS, within=60, keys={first["ticket_id"]}, expect=2
        )
    assert second["version"] == 2 and second["ticket_id"] == first["ticket_id"]
    events = [decode(r.value, TicketEvent) for r in records]
    assert [e.type for e in events] == [TICKET_RECEIVED, TICKET_UPDATED]
    assert events[1].data.previous_state == "open"
    assert events[1].data.ticket.state == "restored"


async def test_signed_webhook_replayed_after_six_minutes_is_refused(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    body = encode(builders.oceane())
    headers = signed_headers(body, timestamp=int(clock.now().timestamp()))
    async with running_ingest(settings, clock=clock) as client:
        assert (
            await client.post(PATHS["oceane"], content=body, headers=headers)
        ).status_code == 202
        clock.advance(timedelta(minutes=6))
        replay = await client.post(PATHS["oceane"], content=body, headers=headers)
        rejected = (await client.get("/v1/rejected")).json()["items"]
    assert replay.status_code == 401
    assert "tolerance" in replay.json()["detail"]
    assert rejected == []  # unauthenticated bodies are never stored


async def test_rotated_secret_and_bearer_token_are_accepted(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    async with running_ingest(settings) as client:
        old = await post(client, PATHS["oceane"], builders.oceane(), secret=builders.OLD_SECRET)
        body = encode(builders.servicenow())
        bearer = await client.post(
            PATHS["servicenow"],
            content=body,
            headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
        )
    assert old.status_code == 202
    assert bearer.status_code == 202


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"content-type": "application/json"}, "missing"),
        ({"content-type": "application/json", "x-vigie-signature": "t=1,v1=zz"}, "malformed"),
        ({"content-type": "application/json", "authorization": "Bearer nope"}, "missing"),
    ],
)
async def test_missing_or_wrong_credentials_get_401(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str, headers: dict[str, str], detail: str
) -> None:
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    async with running_ingest(settings) as client:
        answer = await client.post(PATHS["oceane"], content=b"{}", headers=headers)
        wrong = await client.post(
            PATHS["oceane"], content=b"{}", headers=signed_headers(b"{}", secret="not-the-secret")
        )
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.json()["detail"]
    assert wrong.status_code == 401 and "no signature matches" in wrong.json()["detail"]


async def test_bad_inputs_get_their_status_and_are_kept(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(databases), kafka_bootstrap, max_body_bytes=2048)
    missing_field = builders.oceane()
    del missing_field["numero"]
    cases = [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (encode(builders.oceane()), "text/plain", 415),
        (encode(missing_field), "application/json", 422),
        (encode(builders.oceane(dernier_etat="Perdu")), "application/json", 422),
        (encode(builders.oceane(date_creation="2025-05-30")), "application/json", 422),
    ]
    async with running_ingest(settings) as client:
        for body, content_type, status in cases:
            headers = signed_headers(body) | {"content-type": content_type}
            answer = await client.post(PATHS["oceane"], content=body, headers=headers)
            assert answer.status_code == status, (body, answer.text)
            assert answer.json()["status"] == status
            assert answer.json()["detail"]
        big = b'{"x": "' + b"a" * 4096 + b'"}'
        too_big = await client.post(PATHS["oceane"], content=big, headers=signed_headers(big))
        page = (await client.get("/v1/rejected", params={"source": "oceane"})).json()

    assert too_big.status_code == 413
    kept = {item["status_code"] for item in page["items"]}
    assert kept == {400, 415, 422}
    assert len(page["items"]) == len(cases)
    schema_error = next(i for i in page["items"] if i["body"] == encode(missing_field).decode())
    assert schema_error["errors"][0]["loc"] == "numero"
    mapping_error = next(i for i in page["items"] if "Perdu" in i["body"])
    assert mapping_error["errors"][0]["loc"] == "dernier_etat"


async def test_schema_error_lists_each_field(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    bad = builders.canonical(version=0, state="lost", priority=9)
    async with running_ingest(settings) as client:
        answer = await post(client, PATHS["canonical"], bad)
    assert answer.status_code == 422
    locs = {e["loc"] for e in answer.json()["errors"]}
    assert {"version", "state", "priority"} <= locs


async def test_rejections_are_paginated_newest_first(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    async with running_ingest(settings) as client:
        for n in range(5):
            body = json.dumps([n]).encode()
            await client.post(PATHS["oceane"], content=body, headers=signed_headers(body))
        first = (await client.get("/v1/rejected", params={"limit": 2})).json()
        second = (
            await client.get("/v1/rejected", params={"limit": 2, "before": first["next_before"]})
        ).json()
    assert [i["body"] for i in first["items"]] == ["[4]", "[3]"]
    assert [i["body"] for i in second["items"]] == ["[2]", "[1]"]


async def test_unknown_ticket_is_404_problem(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    async with running_ingest(settings) as client:
        answer = await client.get("/v1/tickets/nope")
    assert answer.status_code == 404
    assert answer.json()["title"] == "Not found"


async def test_read_token_guards_the_read_endpoints(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(
        ingest_db(sqlite_factory), kafka_bootstrap, read_token="read-token-0123456789"
    )
    async with running_ingest(settings) as client:
        anonymous = await client.get("/v1/rejected")
        allowed = await client.get(
            "/v1/rejected", headers={"authorization": "Bearer read-token-0123456789"}
        )
    assert anonymous.status_code == 401
    assert allowed.status_code == 200


async def test_accepted_tickets_are_counted_by_source_outcome_and_state(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(ingest_db(sqlite_factory), kafka_bootstrap)
    numero = builders.unique("26")
    async with running_ingest(settings) as client:
        await post(client, PATHS["oceane"], builders.oceane(numero))
        await post(client, PATHS["oceane"], builders.oceane(numero, dernier_etat="Rétabli"))
        await post(client, PATHS["oceane"], builders.oceane(numero, dernier_etat="Rétabli"))
        page = (await client.get("/metrics")).text
    counted = {
        (s.labels["outcome"], s.labels["state"]): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
        if s.name == "vigie_ingest_tickets_total" and s.labels["source"] == "oceane"
    }
    assert counted == {
        ("accepted", "open"): 1,
        ("accepted", "restored"): 1,
        ("duplicate", "restored"): 1,
    }
