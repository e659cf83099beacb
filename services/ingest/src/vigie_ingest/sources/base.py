"""What a ticket source is: a payload model and a pure mapper to the canonical fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from vigie_common.events.tickets import TicketFields


class ServiceNowFields(BaseModel):
    """The names of the custom ``u_`` fields each ServiceNow instance chooses.

    Configured once, as ``VIGIE_INGEST_SERVICENOW_FIELDS__SITE_A`` and so on.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    site_a: str = Field(default="u_site_a", min_length=1, description="Site code, end A")
    site_b: str = Field(default="u_site_b", min_length=1, description="Site code, end B")
    commitment: str = Field(default="u_commitment", min_length=1, description="GTR commitment")
    access_reference: str = Field(
        default="u_access_reference", min_length=1, description="Access reference"
    )


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """Per-deployment choices the mappers need (built from ``IngestSettings``)."""

    default_tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Paris"))
    """Zone of local ``dd/mm/yyyy hh:mm`` times when the site does not say (Oceane)."""
    servicenow_tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    """Zone of ServiceNow ``YYYY-MM-DD HH:MM:SS`` values (the Table API gives UTC)."""
    servicenow_fields: ServiceNowFields = field(default_factory=ServiceNowFields)


@dataclass(frozen=True, slots=True)
class UpstreamVersion:
    """How upstream orders the versions of one ticket.

    ``sequence`` (ServiceNow ``sys_mod_count``, canonical ``version``) and ``updated_at``
    (``sys_updated_on``) order versions when present; ``digest`` (SHA-256 of the payload's
    canonical JSON) identifies a version when upstream gives nothing else (Oceane), in which
    case a new digest counts as newer (arrival order).
    """

    digest: str
    sequence: int | None = None
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        """Identity of the version: same key → same event (idempotent re-sends)."""
        if self.sequence is not None:
            return f"seq:{self.sequence}"
        if self.updated_at is not None:
            return f"at:{self.updated_at.isoformat()}"
        return f"sha256:{self.digest}"

    @property
    def ordered(self) -> bool:
        """True when upstream says which version is newer (else: arrival order, by digest)."""
        return self.sequence is not None or self.updated_at is not None

    def is_older_than(self, other: UpstreamVersion) -> bool:
        """True when upstream says this version precedes ``other`` (so it must emit nothing)."""
        if (
            self.sequence is not None
            and other.sequence is not None
            and self.sequence != other.sequence
        ):
            return self.sequence < other.sequence
        if self.updated_at is not None and other.updated_at is not None:
            return self.updated_at < other.updated_at
        return False


@dataclass(frozen=True, slots=True)
class MappedTicket:
    """A payload turned into canonical terms, before vigie gives it an id and a version number."""

    source: str
    upstream_id: str
    version: UpstreamVersion
    fields: TicketFields
    raw: dict[str, Any]


class MappingError(ValueError):
    """A payload passed its schema but a value cannot be mapped (unknown state code, bad date).

    ``loc`` is the field path as in a pydantic error, so the 422 body reads the same.
    """

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(f"{'.'.join(map(str, loc))}: {msg}")
        self.loc = loc
        self.msg = msg


class Source(Protocol):
    """A family of webhooks: its name in the URL, its payload model, its mapper."""

    name: str
    """Path segment and secret name, e.g. ``servicenow``."""
    payload_model: type[BaseModel]
    """Validates the JSON body; its JSON schema is the endpoint's OpenAPI request body."""
    example: dict[str, Any]
    """A realistic payload, shown in the OpenAPI docs."""

    def to_ticket(self, payload: BaseModel, options: MappingOptions) -> MappedTicket:
        """Map a validated payload; raise :class:`MappingError` for values it cannot map."""
        ...
