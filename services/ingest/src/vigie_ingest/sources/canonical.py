"""vigie's own documented ticket shape, for upstream systems that can map to it themselves."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator
from vigie_common.events.tickets import MAX_VERSION, Instant, TicketFields

from vigie_ingest.sources import payload_digest
from vigie_ingest.sources.base import MappedTicket, MappingOptions, UpstreamVersion

__all__ = ["RESERVED_SOURCE_NAMES", "CanonicalSource", "TicketPayload"]

RESERVED_SOURCE_NAMES: Final = frozenset({"servicenow", "oceane"})
"""Sources with their own endpoint: the canonical one must not impersonate them."""

EXAMPLE: Final[dict[str, Any]] = {
    "source": "supervision",
    "upstream_id": "ALM-2025-000871",
    "version": 3,
    "updated_at": "2025-06-16T15:20:03Z",
    "opened_at": "2025-06-16T14:55:40Z",
    "state": "in_observation",
    "customer": "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
    "nature": "degraded",
    "priority": 3,
    "commitment": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
    "site_a": {
        "code": "INL_MOIRA_EVPN_LA1",
        "service_reference": "CD0HG0FDC",
        "city": "MOIRANS",
        "timezone": "Europe/Paris",
    },
    "site_b": {"code": "INU_CONF5_EVPN_LA1", "city": "MOIRANS", "timezone": "Europe/Paris"},
    "access_reference": "0050VKF3",
    "access_type": "Nominal",
    "product": "RSS - Support DSL ETH",
    "title": "Perte de continuité sur l'EVPN de Moirans",
    "notes": "[BES2] INTER BOA 16/06 17h30",
    "alerts": ["Offre Service Client : Service Client Réseau"],
    "restored_at": "2025-06-16T16:10:44Z",
    "on_hold": False,
}


class TicketPayload(TicketFields):
    """The canonical ticket fields plus who sent them and which version they are.

    Every :class:`TicketFields` field passes through as sent, ``on_hold`` and ``updated_at``
    included (a version with ``on_hold: true`` pauses the GTR clock until one without it).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_extra={"examples": [EXAMPLE]}
    )

    source: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{1,31}$",
        description="The sending system; not servicenow or oceane (they have their own endpoint)",
        examples=["supervision"],
    )
    upstream_id: str = Field(min_length=1, max_length=200, description="The ticket id upstream")
    version: int = Field(
        ge=1, le=MAX_VERSION, description="Upstream's version counter; a higher one is newer"
    )
    updated_at: Instant | None = Field(
        default=None,
        description="When upstream made this version (its own clock): orders versions after "
        "`version`, and dates when a hold (`on_hold`) starts or ends",
    )

    @field_validator("source")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_SOURCE_NAMES:
            raise ValueError(f"{value!r} is reserved: post to the /{value} endpoint instead")
        return value


class CanonicalSource:
    """Takes tickets already in vigie's shape; the payload's ``version`` orders versions."""

    name: str = "canonical"
    payload_model: type[BaseModel] = TicketPayload
    example: dict[str, Any] = EXAMPLE

    def to_ticket(self, payload: BaseModel, options: MappingOptions) -> MappedTicket:
        """Split a :class:`TicketPayload` into identity, version and ticket fields.

        Args:
            payload: A validated :class:`TicketPayload`.
            options: Unused: the payload is already canonical.

        Returns:
            The mapped ticket; its ``source`` is the payload's ``source``.

        Raises:
            TypeError: When ``payload`` is not a :class:`TicketPayload`.
        """
        if not isinstance(payload, TicketPayload):
            raise TypeError(f"expected TicketPayload, got {type(payload).__name__}")
        raw = payload.model_dump(mode="json", exclude_unset=True)
        fields = TicketFields.model_validate(
            {name: getattr(payload, name) for name in TicketFields.model_fields}
        )
        return MappedTicket(
            source=payload.source,
            upstream_id=payload.upstream_id,
            version=UpstreamVersion(
                digest=payload_digest(raw), sequence=payload.version, updated_at=payload.updated_at
            ),
            fields=fields,
            raw=raw,
        )
