"""The French telco tool's ticket webhook (Oceane): its payload model and its mapper."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from vigie_common.events.tickets import Nature, Site, TicketFields, TicketState

from vigie_ingest.sources import parse_local, payload_digest
from vigie_ingest.sources.base import MappedTicket, MappingError, MappingOptions, UpstreamVersion

__all__ = ["OceanePayload", "OceaneSource", "parse_date_creation"]

_T = TypeVar("_T")

DATE_FORMAT: Final = "%d/%m/%Y %H:%M"
"""``date_creation`` as the tool writes it: ``30/05/2025 09:52``, local time."""

EXAMPLE: Final[dict[str, Any]] = {
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


@functools.lru_cache(maxsize=1024)
def _fold(label: str) -> str:
    """Normalise a label for matching: no accents, case-folded, single spaces."""
    decomposed = unicodedata.normalize("NFKD", label)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


STATES: Final[dict[str, TicketState]] = {
    "En cours": TicketState.OPEN,
    "Rétabli": TicketState.RESTORED,
    "En observation": TicketState.IN_OBSERVATION,
    "Clos": TicketState.CLOSED,
}
"""``dernier_etat`` labels as the tool spells them."""

NATURES: Final[dict[str, Nature]] = {
    "Service interrompu": Nature.DOWN,
    "Service dégradé": Nature.DEGRADED,
    "Avec secours actif": Nature.BACKUP_ACTIVE,
    "Sans perturbation": Nature.NO_IMPACT,
}
"""``nature_initiale`` labels as the tool spells them."""


class OceanePayload(BaseModel):
    """The ticket the telco tool posts, with its French field names.

    Fields the contract does not list are accepted and kept in the ticket's ``raw``.
    ``gel_gtr`` is vigie's addition to the design's contract (the tool's GTR freeze); the
    contract has no last-modification time, so the mapped ticket's ``updated_at`` is null.
    """

    model_config = ConfigDict(frozen=True, extra="allow", json_schema_extra={"examples": [EXAMPLE]})

    numero: str = Field(min_length=1, max_length=200, description="Ticket number")
    date_creation: str = Field(
        pattern=(
            r"^\s*(0?[1-9]|[12]\d|3[01])/(0?[1-9]|1[0-2])/(19[7-9]\d|20\d\d|21\d\d)"
            r" ([01]?\d|2[0-3]):[0-5]\d\s*$"
        ),
        description="Creation time, dd/mm/yyyy hh:mm, local time of the product's ends",
        examples=["30/05/2025 09:52"],
    )
    initiateur: str = Field(max_length=500, description="Who opened the ticket")
    raison_sociale: str = Field(max_length=500, description="Customer's company name")
    nature_initiale: str = Field(
        max_length=100,
        description="One of these labels; accents, case and spacing do not matter",
        json_schema_extra={"enum": list(NATURES)},
    )
    dernier_etat: str = Field(
        max_length=100,
        description="One of these labels; accents, case and spacing do not matter",
        json_schema_extra={"enum": list(STATES)},
    )
    engagement: str = Field(max_length=500, description="GTR commitment string")
    site_extremite_a: str = Field(min_length=1, max_length=200, description="Site code, end A")
    site_extremite_b: str | None = Field(
        default=None, max_length=200, description="Site code, end B (point-to-point offers only)"
    )
    identifiant_ressource_cedre: str = Field(max_length=200, description="Inventory resource id")
    acces_ethernet: str = Field(max_length=200, description="Access reference")
    type_acces: str = Field(max_length=200, description="Access type, e.g. Nominal")
    type_produit: str = Field(max_length=500, description="Product")
    alertes: list[str] | None = Field(default=None, description="Alerts raised on the ticket")
    donnees_complementaires: str | None = Field(
        default=None, max_length=20_000, description="Free text added by technicians"
    )
    ville: str = Field(max_length=200, description="City of the site")
    gel_gtr: bool | None = Field(
        default=None,
        strict=True,
        description="GTR freeze: true while the customer has frozen the GTR clock (site "
        "closed, customer unavailable…); false, null or absent when it runs. Send it on every "
        "version while the freeze lasts: the first version without it ends the freeze. "
        "JSON true or false only",
        examples=[True],
    )


def _text(value: str | None) -> str | None:
    """An empty or blank string means "not given"."""
    return value if value and value.strip() else None


@functools.cache
def _folded(labels: tuple[tuple[str, _T], ...]) -> dict[str, _T]:
    """The label table keyed by folded label, built once per table."""
    return {_fold(label): item for label, item in labels}


def _lookup(labels: Mapping[str, _T], field: str, value: str) -> _T:
    """Find a label ignoring accents, case and spacing, or say which values are accepted."""
    try:
        found: _T = _folded(tuple(labels.items()))[_fold(value)]
    except KeyError:
        accepted = ", ".join(repr(label) for label in labels)
        raise MappingError(
            (field,), f"unknown value {value!r}; expected one of {accepted}"
        ) from None
    return found


def parse_date_creation(value: str, options: MappingOptions) -> datetime:
    """Read ``date_creation`` as a wall-clock time in ``options.default_tz``.

    An ambiguous time (autumn fold) takes its first occurrence; a nonexistent one (spring
    gap) is moved forward by the gap (see :func:`vigie_ingest.sources.parse_local`).

    Args:
        value: ``dd/mm/yyyy hh:mm``, e.g. ``30/05/2025 09:52``.
        options: Gives the zone.

    Returns:
        The instant, aware, in UTC.

    Raises:
        MappingError: On ``date_creation`` when the text is not a valid date in that format.
    """
    try:
        return parse_local(value, DATE_FORMAT, options.default_tz)
    except ValueError:
        raise MappingError(
            ("date_creation",), f"expected a date as dd/mm/yyyy hh:mm, got {value!r}"
        ) from None


class OceaneSource:
    """Maps the telco tool's tickets; versions are told apart by payload digest only."""

    name: str = "oceane"
    payload_model: type[BaseModel] = OceanePayload
    example: dict[str, Any] = EXAMPLE

    def to_ticket(self, payload: BaseModel, options: MappingOptions) -> MappedTicket:
        """Map an :class:`OceanePayload` to the canonical fields.

        Args:
            payload: A validated :class:`OceanePayload`.
            options: Gives the zone of ``date_creation``.

        Returns:
            The mapped ticket; its version is the SHA-256 of the payload, with no sequence.
            ``on_hold`` is ``gel_gtr`` as sent, whatever the state; ``updated_at`` is None.

        Raises:
            MappingError: For an unknown ``dernier_etat`` or ``nature_initiale`` (accents,
                case and spacing are ignored) or a ``date_creation`` that is not a date.
            TypeError: When ``payload`` is not an :class:`OceanePayload`.
        """
        if not isinstance(payload, OceanePayload):
            raise TypeError(f"expected OceanePayload, got {type(payload).__name__}")
        raw = payload.model_dump(mode="json", exclude_unset=True)
        reference = _text(payload.identifiant_ressource_cedre)
        city = _text(payload.ville)
        site_b = _text(payload.site_extremite_b)
        fields = TicketFields(
            opened_at=parse_date_creation(payload.date_creation, options),
            state=_lookup(STATES, "dernier_etat", payload.dernier_etat),
            nature=_lookup(NATURES, "nature_initiale", payload.nature_initiale),
            customer=_text(payload.raison_sociale),
            commitment=_text(payload.engagement),
            site_a=Site(code=payload.site_extremite_a, service_reference=reference, city=city),
            site_b=(Site(code=site_b, service_reference=reference, city=city) if site_b else None),
            access_reference=_text(payload.acces_ethernet),
            access_type=_text(payload.type_acces),
            product=_text(payload.type_produit),
            notes=_text(payload.donnees_complementaires),
            alerts=tuple(alert for alert in payload.alertes or () if alert.strip()),
            on_hold=payload.gel_gtr is True,
        )
        return MappedTicket(
            source=self.name,
            upstream_id=payload.numero,
            version=UpstreamVersion(digest=payload_digest(raw)),
            fields=fields,
            raw=raw,
        )
