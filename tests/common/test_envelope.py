"""The CloudEvents 1.0 envelope: structured JSON, typed data, errors that say what is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from vigie_common.events.envelope import (
    CloudEvent,
    InvalidEnvelope,
    decode,
    encode,
    new_event,
    peek_head,
)
from vigie_common.events.tickets import (
    TICKET_RECEIVED,
    CanonicalTicket,
    Nature,
    Site,
    TicketEvent,
    TicketState,
)

OPENED = datetime(2025, 5, 30, 7, 52, tzinfo=UTC)
REQUIRED = {"specversion", "id", "source", "type"}
OPTIONAL = {"time", "subject", "datacontenttype", "data"}


def ticket(**overrides: Any) -> CanonicalTicket:
    values: dict[str, Any] = {
        "id": "tkt-oceane-2505057242",
        "source": "oceane",
        "upstream_id": "2505057242",
        "version": 1,
        "opened_at": OPENED,
        "state": TicketState.OPEN,
        "customer": "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
        "nature": Nature.DEGRADED,
        "commitment": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
        "site_a": Site(code="INL_MOIRA_EVPN_LA1", city="MOIRANS", timezone="Europe/Paris"),
        "site_b": Site(code="INU_CONF5_EVPN_LA1"),
        "alerts": ("Offre Service Client : Service Client Réseau",),
        "notes": '[BES2] INTER BOA 16/06 17h30 — l\'équipe "BOA" <ok>\n',
        "raw": {"numero": "2505057242", "alertes": ["a", "b"]},
    }
    values.update(overrides)
    return CanonicalTicket(**values)


def ticket_event(**overrides: Any) -> CloudEvent[TicketEvent]:
    data = TicketEvent(ticket=ticket(**overrides))
    return new_event(
        type=TICKET_RECEIVED,
        source="/vigie/ingest",
        subject=data.ticket.id,
        data=data,
        time=datetime(2025, 5, 30, 9, 52, tzinfo=timezone(timedelta(hours=2))),
    )


def test_encode_decode_round_trip_keeps_every_field() -> None:
    event = ticket_event()

    back = decode(encode(event), TicketEvent)

    assert back == event
    assert back.data.ticket.notes == event.data.ticket.notes
    assert back.time == event.time


def test_new_event_without_id_gets_a_fresh_one_and_with_id_keeps_it() -> None:
    data = TicketEvent(ticket=ticket())
    common: dict[str, Any] = {
        "type": TICKET_RECEIVED,
        "source": "/vigie/ingest",
        "subject": "t",
        "data": data,
        "time": OPENED,
    }

    first, second = new_event(**common), new_event(**common)
    fixed = new_event(**common, id="evt-1")

    assert first.id != second.id
    assert fixed.id == "evt-1"


def test_structured_json_has_exactly_the_cloudevents_attributes() -> None:
    event = ticket_event()

    document = json.loads(encode(event))

    assert set(document) == REQUIRED | OPTIONAL
    assert document["specversion"] == "1.0"
    assert document["id"] == event.id
    assert document["source"] == "/vigie/ingest"
    assert document["type"] == TICKET_RECEIVED
    assert document["subject"] == event.data.ticket.id
    assert document["datacontenttype"] == "application/json"
    assert datetime.fromisoformat(document["time"]) == event.time
    assert document["data"]["ticket"]["upstream_id"] == "2505057242"


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b'{"specversion": "1.0"}', b"\xff\xfe"],
    ids=["empty", "text", "array", "no-id-no-type", "bad-utf8"],
)
def test_decode_garbage_raises_invalid_envelope_with_detail(raw: bytes) -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        decode(raw, TicketEvent)

    assert caught.value.reason == "invalid TicketEvent event"
    assert isinstance(caught.value.detail, list)
    assert caught.value.detail, "the detail names at least one problem"
    assert {"loc", "msg", "type"} <= set(caught.value.detail[0])


class Verdict(BaseModel):
    verdict: str
    flaps: int


def test_decode_with_the_wrong_data_type_names_the_missing_fields() -> None:
    raw = encode(ticket_event())

    with pytest.raises(InvalidEnvelope) as caught:
        decode(raw, Verdict)

    assert caught.value.reason == "invalid Verdict event"
    locations = {error["loc"] for error in caught.value.detail}
    assert {"data.verdict", "data.flaps"} <= locations


def test_decode_refuses_another_specversion() -> None:
    document = json.loads(encode(ticket_event()))
    document["specversion"] = "0.3"

    with pytest.raises(InvalidEnvelope) as caught:
        decode(json.dumps(document).encode(), TicketEvent)

    assert any(error["loc"] == "specversion" for error in caught.value.detail)


def test_decode_refuses_a_naive_time() -> None:
    document = json.loads(encode(ticket_event()))
    document["time"] = "2025-05-30T09:52:00"

    with pytest.raises(InvalidEnvelope) as caught:
        decode(json.dumps(document).encode(), TicketEvent)

    assert any(error["loc"] == "time" for error in caught.value.detail)


def test_peek_head_reads_id_and_type_without_validating_data() -> None:
    raw = json.dumps(
        {"specversion": "1.0", "id": "evt-9", "type": "vigie.other.v1", "data": {"x": [1]}}
    ).encode()

    head = peek_head(raw)

    assert (head.id, head.type, head.specversion) == ("evt-9", "vigie.other.v1", "1.0")


def test_peek_head_of_a_full_event_matches_it() -> None:
    event = ticket_event()

    head = peek_head(encode(event))

    assert (head.id, head.type) == (event.id, event.type)


@pytest.mark.parametrize(
    "raw",
    [b"garbage", b'{"id": "e", "type": "t"}', b'{"specversion": "1.0", "type": "t"}'],
    ids=["garbage", "no-specversion", "no-id"],
)
def test_peek_head_of_a_non_envelope_raises_invalid_envelope(raw: bytes) -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        peek_head(raw)

    assert caught.value.reason == "not a CloudEvents 1.0 JSON envelope"
    assert caught.value.detail


# --- property: any ticket event round-trips ---------------------------------------------------

OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)
INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2199, 12, 30),  # noqa: DTZ001
    timezones=OFFSETS,
)
TEXT = st.text(max_size=40)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT
SITES = st.builds(
    Site,
    code=st.text(min_size=1, max_size=40),
    service_reference=st.none() | TEXT,
    city=st.none() | TEXT,
    timezone=st.none() | st.sampled_from(["Europe/Paris", "UTC", "America/Cayenne"]),
)
TICKETS = st.builds(
    CanonicalTicket,
    id=st.text(min_size=1, max_size=40),
    source=st.sampled_from(["oceane", "servicenow", "canonical"]),
    upstream_id=TEXT,
    version=st.integers(1, 2**62),
    opened_at=INSTANTS,
    state=st.sampled_from(TicketState),
    customer=st.none() | TEXT,
    nature=st.none() | st.sampled_from(Nature),
    priority=st.none() | st.integers(1, 5),
    commitment=st.none() | TEXT,
    site_a=st.none() | SITES,
    site_b=st.none() | SITES,
    access_reference=st.none() | TEXT,
    product=st.none() | TEXT,
    notes=st.none() | st.text(max_size=200),
    alerts=st.lists(TEXT, max_size=3).map(tuple),
    restored_at=st.none() | INSTANTS,
    raw=st.dictionaries(TEXT, JSON_SCALARS | st.lists(JSON_SCALARS, max_size=3), max_size=5),
)
EVENTS = st.builds(
    lambda t, previous, at, event_id: new_event(
        type=TICKET_RECEIVED,
        source="/vigie/ingest",
        subject=t.id,
        data=TicketEvent(ticket=t, previous_state=previous),
        time=at,
        id=event_id,
    ),
    TICKETS,
    st.none() | st.sampled_from(TicketState),
    INSTANTS,
    st.uuids().map(str),
)


@settings(max_examples=150, deadline=None)
@given(event=EVENTS)
def test_any_ticket_event_round_trips(event: CloudEvent[TicketEvent]) -> None:
    raw = encode(event)

    back = decode(raw, TicketEvent)

    assert back == event
    assert encode(back) == raw
    assert peek_head(raw).id == event.id
