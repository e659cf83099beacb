"""vigie's canonical ticket payload, the sources registry and the shared digest."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from vigie_common.events.tickets import Nature, Site, TicketFields, TicketState
from vigie_ingest.sources import default_sources, payload_digest
from vigie_ingest.sources.base import MappingOptions, Source
from vigie_ingest.sources.canonical import CanonicalSource, TicketPayload

SOURCE = CanonicalSource()


def body(**changes: Any) -> dict[str, Any]:
    return {
        "source": "supervision",
        "upstream_id": "ALM-871",
        "version": 2,
        "opened_at": "2025-06-16T14:55:40Z",
        "state": "restored",
        "customer": "RTE",
        "nature": "down",
        "site_a": {"code": "INL_MOIRA_EVPN_LA1", "timezone": "Europe/Paris"},
        "alerts": ["LOC"],
    } | changes


def test_payload_maps_to_ticket_fields_when_valid() -> None:
    ticket = SOURCE.to_ticket(TicketPayload.model_validate(body()), MappingOptions())

    assert ticket.source == "supervision"
    assert ticket.upstream_id == "ALM-871"
    assert type(ticket.fields) is TicketFields
    assert ticket.fields == TicketFields(
        opened_at=datetime(2025, 6, 16, 14, 55, 40, tzinfo=UTC),
        state=TicketState.RESTORED,
        customer="RTE",
        nature=Nature.DOWN,
        site_a=Site(code="INL_MOIRA_EVPN_LA1", timezone="Europe/Paris"),
        alerts=("LOC",),
    )
    assert ticket.raw == body()


def test_version_orders_by_payload_version_when_updated_at_given() -> None:
    payload = TicketPayload.model_validate(body(version=7, updated_at="2025-06-16T15:00:00Z"))
    version = SOURCE.to_ticket(payload, MappingOptions()).version
    assert version.sequence == 7
    assert version.updated_at == datetime(2025, 6, 16, 15, 0, tzinfo=UTC)
    assert version.digest == payload_digest(payload.model_dump(mode="json", exclude_unset=True))


@pytest.mark.parametrize("name", ["servicenow", "oceane"])
def test_source_is_rejected_when_name_reserved(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TicketPayload.model_validate(body(source=name))
    error = caught.value.errors()[0]
    assert error["loc"] == ("source",)
    assert "reserved" in error["msg"]


@pytest.mark.parametrize("name", ["", "a", "Supervision", "9sup", "sup ervision", "s" * 33])
def test_source_is_rejected_when_name_breaks_pattern(name: str) -> None:
    with pytest.raises(ValidationError):
        TicketPayload.model_validate(body(source=name))


@pytest.mark.parametrize("name", ["canonical", "nms", "zabbix_prod", "centreon-2", "s" * 32])
def test_source_is_accepted_when_name_fits_pattern(name: str) -> None:
    assert TicketPayload.model_validate(body(source=name)).source == name


@pytest.mark.parametrize("version", [0, -1, None])
def test_payload_is_rejected_when_version_not_positive(version: int | None) -> None:
    with pytest.raises(ValidationError):
        TicketPayload.model_validate(body(version=version))


def test_payload_is_rejected_when_version_missing() -> None:
    data = body()
    del data["version"]
    with pytest.raises(ValidationError):
        TicketPayload.model_validate(data)


@pytest.mark.parametrize("field", ["opened_at", "updated_at"])
def test_payload_is_rejected_when_datetime_naive(field: str) -> None:
    with pytest.raises(ValidationError):
        TicketPayload.model_validate(body(**{field: "2025-06-16T14:55:40"}))


def test_payload_is_rejected_when_field_unknown() -> None:
    with pytest.raises(ValidationError) as caught:
        TicketPayload.model_validate(body(numero="2505057242"))
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_to_ticket_raises_type_error_when_payload_is_another_model() -> None:
    with pytest.raises(TypeError, match="TicketPayload"):
        SOURCE.to_ticket(Site(code="X"), MappingOptions())


def test_registry_holds_the_three_sources_when_built() -> None:
    assert set(default_sources()) == {"servicenow", "oceane", "canonical"}
    assert all(name == source.name for name, source in default_sources().items())


@pytest.mark.parametrize("name", sorted(default_sources()))
def test_example_maps_when_registered(name: str) -> None:
    source: Source = default_sources()[name]
    payload: BaseModel = source.payload_model.model_validate(source.example)
    ticket = source.to_ticket(payload, MappingOptions())
    assert ticket.raw == source.example
    assert ticket.version.digest == payload_digest(source.example)


def test_payload_digest_is_sha256_of_sorted_compact_json_when_hashed() -> None:
    expected = hashlib.sha256('{"a":[1,"é"],"b":null}'.encode()).hexdigest()
    assert payload_digest({"b": None, "a": [1, "é"]}) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(raw=st.dictionaries(st.text(), json_values, max_size=6))
def test_payload_digest_ignores_key_order_for_any_payload(raw: dict[str, Any]) -> None:
    reordered = dict(reversed(list(raw.items())))
    assert payload_digest(reordered) == payload_digest(raw)
    assert len(payload_digest(raw)) == 64


def test_on_hold_and_updated_at_pass_through_when_given() -> None:
    payload = TicketPayload.model_validate(
        body(state="open", on_hold=True, updated_at="2025-06-16T17:20:03+02:00")
    )
    ticket = SOURCE.to_ticket(payload, MappingOptions())
    assert ticket.fields.on_hold is True
    assert ticket.fields.updated_at == datetime(2025, 6, 16, 15, 20, 3, tzinfo=UTC)
    assert ticket.version.updated_at == ticket.fields.updated_at


def test_on_hold_and_updated_at_default_to_false_and_none_when_absent() -> None:
    ticket = SOURCE.to_ticket(TicketPayload.model_validate(body()), MappingOptions())
    assert ticket.fields.on_hold is False
    assert ticket.fields.updated_at is None


def test_on_hold_is_rejected_when_not_a_boolean() -> None:
    with pytest.raises(ValidationError) as caught:
        TicketPayload.model_validate(body(on_hold="maybe"))
    assert [error["loc"] for error in caught.value.errors()] == [("on_hold",)]


def test_schema_documents_on_hold_and_updated_at_when_published() -> None:
    properties = TicketPayload.model_json_schema()["properties"]
    assert properties["on_hold"]["type"] == "boolean"
    assert "pause" in properties["on_hold"]["description"]
    assert "hold" in properties["updated_at"]["description"]
