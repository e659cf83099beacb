"""The ServiceNow incident payload model and mapper."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from vigie_common.events.tickets import Nature, Site, TicketState
from vigie_ingest.sources import default_sources, payload_digest
from vigie_ingest.sources.base import (
    MappedTicket,
    MappingError,
    MappingOptions,
    ServiceNowFields,
)
from vigie_ingest.sources.servicenow import ServiceNowPayload, ServiceNowSource

SOURCE = ServiceNowSource()
SYS_ID = "46d44a5ea9fe198100b5bd7bb1d8c0e5"


def ref(display: str, sys_id: str = "31bea3d53790200044e0bfc8bcbe5dec") -> dict[str, str]:
    return {"display_value": display, "value": sys_id}


def with_references() -> dict[str, Any]:
    """As sent with ``sysparm_display_value=all``: references are objects."""
    return {
        "sys_id": SYS_ID,
        "number": "INC0012345",
        "state": "2",
        "impact": "1",
        "urgency": "2",
        "priority": "2",
        "short_description": "Site de Moirans injoignable",
        "description": "Plus de ping sur l'ETX depuis 14:50.\nLien d'accès à vérifier.",
        "opened_at": "2025-06-16 14:55:40",
        "sys_updated_on": "2025-06-16 15:20:03",
        "sys_mod_count": "4",
        "resolved_at": "",
        "closed_at": "",
        "company": ref("RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE"),
        "assignment_group": ref("SAV Réseau N2"),
        "caller_id": {"value": "5137153cc611227c000bbd1bd8cd2005", "link": "https://x/sys_user/5"},
        "cmdb_ci": ref("RTE-INU_CONF5_EVPN_LA1-CD0HGFUXC7"),
        "location": ref("MOIRANS"),
        "u_site_a": ref("INL_MOIRA_EVPN_LA1"),
        "u_site_b": ref("INU_CONF5_EVPN_LA1"),
        "u_commitment": ref("GTR S2 240 mn Lundi au Samedi 8h à 18h"),
        "u_access_reference": ref("0050VKF3"),
    }


def with_strings() -> dict[str, Any]:
    """As sent with ``sysparm_display_value=true``: references are plain display strings."""
    body = with_references()
    for key, value in body.items():
        if isinstance(value, dict):
            body[key] = value.get("display_value", value["value"])
    return body


def mapped(body: dict[str, Any], options: MappingOptions | None = None) -> MappedTicket:
    return SOURCE.to_ticket(ServiceNowPayload.model_validate(body), options or MappingOptions())


@pytest.mark.parametrize("body", [with_references(), with_strings()], ids=["objects", "strings"])
def test_fields_map_when_references_are_objects_or_strings(body: dict[str, Any]) -> None:
    ticket = mapped(body)

    assert ticket.source == "servicenow"
    assert ticket.upstream_id == "INC0012345"
    fields = ticket.fields
    assert fields.opened_at == datetime(2025, 6, 16, 14, 55, 40, tzinfo=UTC)
    assert fields.state is TicketState.OPEN
    assert fields.customer == "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE"
    assert fields.nature is Nature.DOWN
    assert fields.priority == 2
    assert fields.title == "Site de Moirans injoignable"
    assert fields.notes == body["description"]
    assert fields.site_a == Site(code="INL_MOIRA_EVPN_LA1")
    assert fields.site_b == Site(code="INU_CONF5_EVPN_LA1")
    assert fields.commitment == "GTR S2 240 mn Lundi au Samedi 8h à 18h"
    assert fields.access_reference == "0050VKF3"
    assert fields.restored_at is None
    assert fields.closed_at is None
    assert ticket.raw == body


def test_version_uses_sys_mod_count_and_sys_updated_on_when_present() -> None:
    body = with_references()
    version = mapped(body).version
    assert version.sequence == 4
    assert version.updated_at == datetime(2025, 6, 16, 15, 20, 3, tzinfo=UTC)
    assert version.digest == payload_digest(body)
    assert version.key == "seq:4"


def test_version_has_no_sequence_when_sys_mod_count_absent() -> None:
    body = with_references()
    del body["sys_mod_count"]
    version = mapped(body).version
    assert version.sequence is None
    assert version.key == "at:2025-06-16T15:20:03+00:00"


def test_reference_without_display_value_maps_to_none_when_only_sys_id_given() -> None:
    body = with_references() | {"company": {"value": "31bea3d5", "link": "https://x/core/31"}}
    assert mapped(body).fields.customer is None


def test_site_field_names_follow_options_when_configured() -> None:
    body = with_strings() | {"u_extremite_a": "SITE_A", "u_gtr": "GTR S1 4h 24/7"}
    options = MappingOptions(
        servicenow_fields=ServiceNowFields(
            site_a="u_extremite_a",
            site_b="u_absent",
            commitment="u_gtr",
            access_reference="location",
        ),
    )
    fields = mapped(body, options).fields
    assert fields.site_a == Site(code="SITE_A")
    assert fields.site_b is None
    assert fields.commitment == "GTR S1 4h 24/7"
    assert fields.access_reference == "MOIRANS"


@pytest.mark.parametrize("value", [42, ["INL"], {"display_value": 3}])
def test_custom_field_raises_mapping_error_when_not_string_or_reference(value: object) -> None:
    with pytest.raises(MappingError) as caught:
        mapped(with_strings() | {"u_site_a": value})
    assert caught.value.loc == ("u_site_a",)


def test_custom_field_raises_mapping_error_when_too_long() -> None:
    with pytest.raises(MappingError) as caught:
        mapped(with_strings() | {"u_access_reference": "X" * 201})
    assert caught.value.loc == ("u_access_reference",)


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("1", TicketState.OPEN),
        ("2", TicketState.OPEN),
        ("3", TicketState.OPEN),
        ("6", TicketState.RESTORED),
        ("7", TicketState.CLOSED),
        ("8", TicketState.CLOSED),
    ],
)
def test_state_maps_when_code_known(code: str, state: TicketState) -> None:
    assert mapped(with_strings() | {"state": code}).fields.state is state


@pytest.mark.parametrize("code", ["4", "5", "0", "", "In Progress", "-1"])
def test_state_raises_mapping_error_when_code_unknown(code: str) -> None:
    with pytest.raises(MappingError) as caught:
        mapped(with_strings() | {"state": code})
    assert caught.value.loc == ("state",)
    assert "1 (New)" in caught.value.msg
    assert "8 (Canceled)" in caught.value.msg


@pytest.mark.parametrize(
    ("impact", "nature"),
    [("1", Nature.DOWN), ("2", Nature.DEGRADED), ("3", Nature.NO_IMPACT), ("", None)],
)
def test_nature_follows_impact_when_given(impact: str, nature: Nature | None) -> None:
    assert mapped(with_strings() | {"impact": impact}).fields.nature is nature


@pytest.mark.parametrize(("field", "value"), [("impact", "4"), ("priority", "6"), ("urgency", "0")])
def test_payload_is_rejected_when_matrix_value_out_of_range(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        ServiceNowPayload.model_validate(with_strings() | {field: value})


@pytest.mark.parametrize("missing", ["number", "sys_id", "state", "opened_at"])
def test_payload_is_rejected_when_required_field_missing(missing: str) -> None:
    body = with_strings()
    del body[missing]
    with pytest.raises(ValidationError):
        ServiceNowPayload.model_validate(body)


def test_resolution_times_map_when_resolved_and_closed() -> None:
    body = with_strings() | {
        "state": "7",
        "resolved_at": "2025-06-16 16:10:44",
        "closed_at": "2025-06-19 09:00:00",
    }
    fields = mapped(body).fields
    assert fields.restored_at == datetime(2025, 6, 16, 16, 10, 44, tzinfo=UTC)
    assert fields.closed_at == datetime(2025, 6, 19, 9, 0, tzinfo=UTC)


def test_timestamps_are_read_in_servicenow_tz_when_configured() -> None:
    options = MappingOptions(servicenow_tz=ZoneInfo("Europe/Paris"))
    ticket = mapped(with_strings(), options)
    assert ticket.fields.opened_at == datetime(2025, 6, 16, 12, 55, 40, tzinfo=UTC)
    assert ticket.version.updated_at == datetime(2025, 6, 16, 13, 20, 3, tzinfo=UTC)


@pytest.mark.parametrize("field", ["opened_at", "sys_updated_on", "resolved_at", "closed_at"])
def test_timestamp_is_refused_by_the_schema_when_malformed(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        mapped(with_strings() | {field: "16/06/2025 14:55"})
    assert caught.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize("field", ["opened_at", "sys_updated_on", "resolved_at", "closed_at"])
def test_timestamp_raises_mapping_error_when_not_a_real_date(field: str) -> None:
    with pytest.raises(MappingError) as caught:
        mapped(with_strings() | {field: "2025-02-30 14:55:00"})
    assert caught.value.loc == (field,)


def test_opened_at_raises_mapping_error_when_empty() -> None:
    with pytest.raises(MappingError) as caught:
        mapped(with_strings() | {"opened_at": ""})
    assert caught.value.loc == ("opened_at",)


def test_empty_strings_map_to_none_when_fields_blank() -> None:
    body = with_strings() | {
        "company": "",
        "priority": "",
        "short_description": " ",
        "description": "",
        "u_site_a": "",
        "u_site_b": {"display_value": "", "value": ""},
    }
    fields = mapped(body).fields
    assert (fields.customer, fields.priority, fields.title, fields.notes) == (None,) * 4
    assert (fields.site_a, fields.site_b) == (None, None)


def test_example_maps_when_registered() -> None:
    source = default_sources()["servicenow"]
    ticket = source.to_ticket(source.payload_model.model_validate(source.example), MappingOptions())
    assert ticket.upstream_id == "INC0012345"
    assert ticket.fields.site_a == Site(code="INL_MOIRA_EVPN_LA1")
    assert ticket.raw == source.example


def test_to_ticket_raises_type_error_when_payload_is_another_model() -> None:
    with pytest.raises(TypeError, match="ServiceNowPayload"):
        SOURCE.to_ticket(Site(code="X"), MappingOptions())


@given(
    mod_count=st.integers(0, 999_999_999),
    extra=st.dictionaries(
        st.from_regex(r"u_[a-z]{1,8}", fullmatch=True), st.text(max_size=20), max_size=4
    ),
)
def test_version_sequence_is_sys_mod_count_for_any_count(
    mod_count: int, extra: dict[str, str]
) -> None:
    body = extra | with_strings() | {"sys_mod_count": str(mod_count)}
    ticket = mapped(body)
    assert ticket.version.sequence == mod_count
    assert ticket.raw == body


@pytest.mark.parametrize(
    ("code", "on_hold"),
    [("1", False), ("2", False), ("3", True), (" 3 ", True), ("6", False), ("7", False)],
)
def test_on_hold_is_true_only_when_state_is_on_hold(code: str, on_hold: bool) -> None:
    fields = mapped(with_strings() | {"state": code}).fields
    assert fields.on_hold is on_hold


def test_on_hold_incident_stays_open_when_mapped() -> None:
    assert mapped(with_strings() | {"state": "3"}).fields.state is TicketState.OPEN


def test_updated_at_is_sys_updated_on_when_given() -> None:
    ticket = mapped(with_strings())
    assert ticket.fields.updated_at == datetime(2025, 6, 16, 15, 20, 3, tzinfo=UTC)
    assert ticket.fields.updated_at == ticket.version.updated_at


def test_updated_at_is_read_in_servicenow_tz_when_configured() -> None:
    options = MappingOptions(servicenow_tz=ZoneInfo("Europe/Paris"))
    fields = mapped(with_strings(), options).fields
    assert fields.updated_at == datetime(2025, 6, 16, 13, 20, 3, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "   ", None])
def test_updated_at_is_none_when_sys_updated_on_empty(value: str | None) -> None:
    assert mapped(with_strings() | {"sys_updated_on": value}).fields.updated_at is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sys_updated_on", "2300-01-01 00:00:00"),
        ("sys_updated_on", "1969-12-31 23:59:59"),
        ("resolved_at", "2300-01-01 00:00:00"),
    ],
)
def test_timestamp_raises_mapping_error_naming_the_field_when_implausible(
    field: str, value: str
) -> None:
    with pytest.raises(MappingError) as caught:
        mapped(with_strings() | {field: value})
    assert caught.value.loc == (field,)
    assert "1970" in caught.value.msg


def test_version_key_changes_when_hold_ends_with_next_mod_count() -> None:
    held = mapped(with_strings() | {"state": "3", "sys_mod_count": "5"})
    released = mapped(with_strings() | {"state": "2", "sys_mod_count": "6"})
    assert (held.fields.on_hold, released.fields.on_hold) == (True, False)
    assert held.version.key != released.version.key
    assert released.version.is_older_than(held.version) is False
