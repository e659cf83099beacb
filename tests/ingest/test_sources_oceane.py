"""The French telco tool's (Oceane) payload model and mapper."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from vigie_common.events.tickets import Nature, Site, TicketFields, TicketState
from vigie_ingest.sources import default_sources
from vigie_ingest.sources.base import MappedTicket, MappingError, MappingOptions
from vigie_ingest.sources.oceane import OceanePayload, OceaneSource

PARIS = ZoneInfo("Europe/Paris")
SOURCE = OceaneSource()


def design_example() -> dict[str, Any]:
    """The payload of design.md, "The webhook contracts upstream systems use"."""
    return {
        "numero": "2505057242",
        "date_creation": "30/05/2025 09:52",
        "initiateur": "Système externe SMILE SMILE",
        "raison_sociale": "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
        "nature_initiale": "Service dégradé",
        "dernier_etat": "En cours",
        "engagement": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
        "site_extremite_a": "INL_MOIRA_EVPN_LA1",
        "site_extremite_b": "INU_CONF5_EVPN_LA1",
        "identifiant_ressource_cedre": "CD0HG0FDC",
        "acces_ethernet": "0050VKF3",
        "type_acces": "Nominal",
        "type_produit": "RSS - Support DSL ETH",
        "alertes": ["Offre Service Client : Service Client Réseau"],
        "donnees_complementaires": "[BES2] INTER BOA 16/06 17h30",
        "ville": "MOIRANS",
    }


def mapped(options: MappingOptions | None = None, **changes: Any) -> MappedTicket:
    body = design_example() | changes
    return SOURCE.to_ticket(OceanePayload.model_validate(body), options or MappingOptions())


def test_example_maps_to_canonical_fields_when_from_design() -> None:
    ticket = mapped()

    assert ticket.source == "oceane"
    assert ticket.upstream_id == "2505057242"
    assert ticket.fields == TicketFields(
        opened_at=datetime(2025, 5, 30, 7, 52, tzinfo=UTC),
        state=TicketState.OPEN,
        customer="RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
        nature=Nature.DEGRADED,
        commitment="GTR S2 240 mn Lundi au Samedi 8h à 18h",
        site_a=Site(code="INL_MOIRA_EVPN_LA1", service_reference="CD0HG0FDC", city="MOIRANS"),
        site_b=Site(code="INU_CONF5_EVPN_LA1", service_reference="CD0HG0FDC", city="MOIRANS"),
        access_reference="0050VKF3",
        access_type="Nominal",
        product="RSS - Support DSL ETH",
        notes="[BES2] INTER BOA 16/06 17h30",
        alerts=("Offre Service Client : Service Client Réseau",),
    )
    assert ticket.raw == design_example()


def test_registry_example_is_the_design_example_when_registered() -> None:
    assert default_sources()["oceane"].example == design_example()
    assert default_sources()["oceane"].payload_model is OceanePayload


def test_version_is_sha256_of_canonical_json_without_sequence() -> None:
    body = design_example()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    version = mapped().version

    assert version.digest == hashlib.sha256(canonical.encode()).hexdigest()
    assert version.sequence is None
    assert version.updated_at is None


def test_version_digest_is_stable_when_keys_are_reordered() -> None:
    reordered = dict(reversed(list(design_example().items())))
    ticket = SOURCE.to_ticket(OceanePayload.model_validate(reordered), MappingOptions())
    assert ticket.version == mapped().version


def test_version_digest_changes_when_any_field_changes() -> None:
    assert mapped(dernier_etat="Rétabli").version.digest != mapped().version.digest


def test_extra_fields_are_kept_in_raw_when_unknown() -> None:
    ticket = mapped(priorite_client="haute")
    assert ticket.raw["priorite_client"] == "haute"
    assert ticket.version.digest != mapped().version.digest


def test_optional_fields_map_to_nothing_when_absent() -> None:
    body = design_example()
    for key in ("site_extremite_b", "alertes", "donnees_complementaires"):
        del body[key]
    ticket = SOURCE.to_ticket(OceanePayload.model_validate(body), MappingOptions())

    assert ticket.fields.site_b is None
    assert ticket.fields.alerts == ()
    assert ticket.fields.notes is None
    assert ticket.raw == body


def test_site_b_is_none_when_empty_string() -> None:
    assert mapped(site_extremite_b="", alertes=None).fields.site_b is None


@pytest.mark.parametrize(
    ("label", "state"),
    [
        ("En cours", TicketState.OPEN),
        ("EN COURS", TicketState.OPEN),
        ("Rétabli", TicketState.RESTORED),
        ("retabli", TicketState.RESTORED),
        ("RÉTABLI", TicketState.RESTORED),
        ("Re\u0301tabli", TicketState.RESTORED),
        ("En observation", TicketState.IN_OBSERVATION),
        ("  en   Observation ", TicketState.IN_OBSERVATION),
        ("Clos", TicketState.CLOSED),
        ("clos", TicketState.CLOSED),
    ],
)
def test_state_maps_when_accents_or_case_differ(label: str, state: TicketState) -> None:
    assert mapped(dernier_etat=label).fields.state is state


def test_state_raises_mapping_error_when_unknown() -> None:
    with pytest.raises(MappingError) as caught:
        mapped(dernier_etat="Suspendu")
    assert caught.value.loc == ("dernier_etat",)
    for accepted in ("'En cours'", "'Rétabli'", "'En observation'", "'Clos'"):
        assert accepted in caught.value.msg
    assert "'Suspendu'" in caught.value.msg


@pytest.mark.parametrize(
    ("label", "nature"),
    [
        ("Service interrompu", Nature.DOWN),
        ("SERVICE INTERROMPU", Nature.DOWN),
        ("Service dégradé", Nature.DEGRADED),
        ("service degrade", Nature.DEGRADED),
        ("Avec secours actif", Nature.BACKUP_ACTIVE),
        ("Sans perturbation", Nature.NO_IMPACT),
    ],
)
def test_nature_maps_when_accents_or_case_differ(label: str, nature: Nature) -> None:
    assert mapped(nature_initiale=label).fields.nature is nature


def test_nature_raises_mapping_error_when_unknown() -> None:
    with pytest.raises(MappingError) as caught:
        mapped(nature_initiale="Service perturbé")
    assert caught.value.loc == ("nature_initiale",)
    assert "'Sans perturbation'" in caught.value.msg


def test_opened_at_takes_first_occurrence_when_in_autumn_fold() -> None:
    opened = mapped(date_creation="26/10/2025 02:30").fields.opened_at
    assert opened == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert opened.astimezone(PARIS).utcoffset() == timedelta(hours=2)


def test_opened_at_moves_forward_by_gap_when_in_spring_gap() -> None:
    opened = mapped(date_creation="30/03/2025 02:30").fields.opened_at
    assert opened == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    wall = opened.astimezone(PARIS).replace(tzinfo=None)
    assert wall == datetime(2025, 3, 30, 3, 30)  # noqa: DTZ001 - a wall-clock time


def test_opened_at_uses_default_tz_when_configured() -> None:
    options = MappingOptions(default_tz=ZoneInfo("America/Guadeloupe"))
    opened = mapped(options, date_creation="30/05/2025 09:52").fields.opened_at
    assert opened == datetime(2025, 5, 30, 13, 52, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["2025-05-30 09:52", "30/05/2025", "", "hier", "30/05/2025 24:00", "30/13/2025 10:00"]
)
def test_date_creation_is_refused_by_the_schema_when_not_dd_mm_yyyy_hh_mm(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        mapped(date_creation=text)
    assert caught.value.errors()[0]["loc"] == ("date_creation",)


@pytest.mark.parametrize("text", ["31/02/2025 10:00", "29/02/2025 10:00", "31/04/2025 10:00"])
def test_date_creation_raises_mapping_error_when_not_a_real_date(text: str) -> None:
    with pytest.raises(MappingError) as caught:
        mapped(date_creation=text)
    assert caught.value.loc == ("date_creation",)
    assert "dd/mm/yyyy hh:mm" in caught.value.msg


@pytest.mark.parametrize("missing", ["numero", "date_creation", "dernier_etat", "site_extremite_a"])
def test_payload_is_rejected_when_required_field_missing(missing: str) -> None:
    body = design_example()
    del body[missing]
    with pytest.raises(ValidationError) as caught:
        OceanePayload.model_validate(body)
    assert caught.value.errors()[0]["loc"] == (missing,)


def test_to_ticket_raises_type_error_when_payload_is_another_model() -> None:
    with pytest.raises(TypeError, match="OceanePayload"):
        SOURCE.to_ticket(Site(code="X"), MappingOptions())


ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "UTC"]


WALL_MIN = datetime(1971, 1, 1)  # noqa: DTZ001 - wall-clock bounds
WALL_MAX = datetime(2099, 12, 31)  # noqa: DTZ001


@given(
    wall=st.datetimes(min_value=WALL_MIN, max_value=WALL_MAX),
    zone=st.sampled_from(ZONES),
)
def test_opened_at_round_trips_wall_clock_when_not_in_gap(wall: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    wall = wall.replace(second=0, microsecond=0)
    options = MappingOptions(default_tz=tz)

    opened = mapped(options, date_creation=wall.strftime("%d/%m/%Y %H:%M")).fields.opened_at

    assert opened.tzinfo is not None
    before = wall.replace(tzinfo=tz, fold=0).utcoffset()
    after = wall.replace(tzinfo=tz, fold=1).utcoffset()
    assert before is not None
    assert after is not None
    back = opened.astimezone(tz).replace(tzinfo=None)
    if after > before:  # in a gap: moved forward by its length
        assert back == wall + (after - before)
    else:  # normal time, or a fold where the first occurrence (pre-transition offset) wins
        assert back == wall
        assert opened.utcoffset() == timedelta(0)
        assert opened == (wall - before).replace(tzinfo=UTC)


def test_on_hold_is_true_when_gel_gtr_true() -> None:
    ticket = mapped(gel_gtr=True)
    assert ticket.fields.on_hold is True
    assert ticket.fields.state is TicketState.OPEN
    assert ticket.raw["gel_gtr"] is True


@pytest.mark.parametrize("changes", [{}, {"gel_gtr": False}, {"gel_gtr": None}])
def test_on_hold_is_false_when_gel_gtr_false_null_or_absent(changes: dict[str, Any]) -> None:
    assert mapped(**changes).fields.on_hold is False


@pytest.mark.parametrize("state", ["Rétabli", "En observation", "Clos"])
def test_on_hold_follows_gel_gtr_as_sent_whatever_the_state(state: str) -> None:
    assert mapped(dernier_etat=state, gel_gtr=True).fields.on_hold is True


@pytest.mark.parametrize("value", ["maybe", "true", "oui", 1, 0, [], {}])
def test_gel_gtr_is_refused_by_the_schema_when_not_a_json_boolean(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        OceanePayload.model_validate(design_example() | {"gel_gtr": value})
    assert [error["loc"] for error in caught.value.errors()] == [("gel_gtr",)]


def test_updated_at_is_none_when_contract_has_no_modification_time() -> None:
    assert mapped().fields.updated_at is None
    assert mapped(gel_gtr=True).fields.updated_at is None


def test_version_digest_changes_when_freeze_starts_or_ends() -> None:
    digests = {
        mapped().version.digest,
        mapped(gel_gtr=True).version.digest,
        mapped(gel_gtr=False).version.digest,
    }
    assert len(digests) == 3
    assert mapped(gel_gtr=True).version.digest == mapped(gel_gtr=True).version.digest
