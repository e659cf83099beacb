"""ServiceNow incident webhooks (Table API record shape): the payload model and its mapper."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from vigie_common.events.tickets import (
    EARLIEST,
    LATEST,
    Nature,
    Site,
    TicketFields,
    TicketState,
)

from vigie_ingest.sources import parse_local, payload_digest
from vigie_ingest.sources.base import MappedTicket, MappingError, MappingOptions, UpstreamVersion

__all__ = ["ON_HOLD", "ServiceNowPayload", "ServiceNowReference", "ServiceNowSource"]

TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
"""How the Table API writes date-times: ``2025-06-16 14:55:40`` (UTC unless configured)."""
TIMESTAMP_PATTERN: Final = r"^\s*(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})?\s*$"
"""The same, as the schema states it (an empty value means "not set")."""

STATES: Final[dict[str, tuple[str, TicketState]]] = {
    "1": ("New", TicketState.OPEN),
    "2": ("In Progress", TicketState.OPEN),
    "3": ("On Hold", TicketState.OPEN),
    "6": ("Resolved", TicketState.RESTORED),
    "7": ("Closed", TicketState.CLOSED),
    "8": ("Canceled", TicketState.CLOSED),
}
"""Incident ``state`` codes: label upstream, state in vigie."""

ON_HOLD: Final = frozenset({"3"})
"""``state`` codes that freeze the GTR clock (``on_hold``): On Hold, whatever its reason.

An On Hold incident is still ``open`` in vigie's states (nobody said the service is back);
``on_hold`` says the clock is paused. ServiceNow's default incident SLAs pause on the same
condition. Resolved, Closed and Canceled are never on hold: the clock stops there anyway.
"""

NATURES: Final[dict[str, Nature]] = {
    "1": Nature.DOWN,
    "2": Nature.DEGRADED,
    "3": Nature.NO_IMPACT,
}
"""``impact`` (1 High, 2 Medium, 3 Low) read as how the service is affected.

High means the service is down, Medium degraded, Low no impact on the service. ServiceNow
has no notion of a backup link carrying the traffic, so nothing maps to ``backup_active``.
"""

_SYS_ID = "9d385017c611228701d22104cc95c371"
_INSTANCE = "https://example.service-now.com/api/now/table"

EXAMPLE: Final[dict[str, Any]] = {
    "sys_id": _SYS_ID,
    "number": "INC0012345",
    "state": "2",
    "impact": "2",
    "urgency": "2",
    "priority": "3",
    "contact_type": "monitoring",
    "category": "Téléphonie",
    "subcategory": "IP Phone - Softphonie",
    "short_description": "Softphones de Moirans ne s'enregistrent plus",
    "description": "Perte d'enregistrement SIP depuis 14:50, lien d'accès à vérifier.",
    "opened_at": "2025-06-16 14:55:40",
    "sys_updated_on": "2025-06-16 15:20:03",
    "sys_mod_count": "4",
    "resolved_at": "",
    "closed_at": "",
    "company": {
        "display_value": "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
        "link": f"{_INSTANCE}/core_company/31bea3d53790200044e0bfc8bcbe5dec",
        "value": "31bea3d53790200044e0bfc8bcbe5dec",
    },
    "caller_id": {
        "link": f"{_INSTANCE}/sys_user/5137153cc611227c000bbd1bd8cd2005",
        "value": "5137153cc611227c000bbd1bd8cd2005",
    },
    "assignment_group": {
        "display_value": "SAV Réseau N2",
        "value": "287ebd7da9fe198100f92cc8d1d2154e",
    },
    "cmdb_ci": "",
    "location": "MOIRANS",
    "u_site_a": {
        "display_value": "INL_MOIRA_EVPN_LA1",
        "value": "a9a2d0c3c6112276018f7705562f9cb0",
    },
    "u_site_b": "INU_CONF5_EVPN_LA1",
    "u_commitment": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
    "u_access_reference": "0050VKF3",
    "u_environment": "Production",
}


class ServiceNowReference(BaseModel):
    """A reference field as an object: ``{display_value, value}`` or ``{value, link}``."""

    model_config = ConfigDict(frozen=True, extra="allow")

    display_value: str | None = Field(default=None, description="What a user sees")
    value: str | None = Field(default=None, description="sys_id of the referenced record")
    link: str | None = Field(default=None, description="Table API URL of the record")


Reference = str | ServiceNowReference
"""A reference field: the Table API gives a plain string or an object, per query options."""

_REFERENCE: Final = TypeAdapter(Reference | None)


def _timestamp_field(description: str = "YYYY-MM-DD HH:MM:SS, or empty") -> Any:
    """An optional Table API date-time field."""
    return Field(
        default=None,
        pattern=TIMESTAMP_PATTERN,
        description=description,
        examples=["2025-06-16 14:55:40"],
    )


class ServiceNowPayload(BaseModel):
    """An incident record as the Table API shapes it: every value a string.

    Instances add their own ``u_*`` fields; they are accepted, kept in ``raw``, and the ones
    named in :class:`MappingOptions` give the sites, the commitment and the access reference.
    An empty string means "no value", as in ServiceNow.
    """

    model_config = ConfigDict(frozen=True, extra="allow", json_schema_extra={"examples": [EXAMPLE]})

    number: str = Field(min_length=1, max_length=200, examples=["INC0012345"])
    sys_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="The record's 32-hex-digit id")
    state: str = Field(
        description="1 New, 2 In Progress, 3 On Hold (GTR clock paused), 6 Resolved, "
        "7 Closed, 8 Canceled",
        json_schema_extra={"enum": list(STATES)},
    )
    opened_at: str = Field(
        pattern=TIMESTAMP_PATTERN,
        description="YYYY-MM-DD HH:MM:SS",
        examples=["2025-06-16 14:55:40"],
    )
    sys_updated_on: str | None = _timestamp_field(
        "Last update, YYYY-MM-DD HH:MM:SS, or empty: orders versions, and dates when a hold "
        "starts or ends"
    )
    resolved_at: str | None = _timestamp_field()
    closed_at: str | None = _timestamp_field()
    sys_mod_count: str | None = Field(
        default=None, pattern=r"^\d{1,9}$", description="Update counter; orders versions"
    )
    impact: str | None = Field(default=None, pattern=r"^[1-3]?$", description="1 High .. 3 Low")
    urgency: str | None = Field(default=None, pattern=r"^[1-3]?$", description="1 High .. 3 Low")
    priority: str | None = Field(
        default=None, pattern=r"^[1-5]?$", description="1 Critical .. 5 Planning"
    )
    short_description: str | None = Field(default=None, max_length=1000)
    description: str | None = Field(default=None, max_length=20_000)
    company: Reference | None = None
    caller_id: Reference | None = None
    assignment_group: Reference | None = None
    cmdb_ci: Reference | None = None
    location: Reference | None = None
    contact_type: str | None = None
    category: str | None = None
    subcategory: str | None = None


def _text(value: str | None) -> str | None:
    """An empty or blank string means "no value"."""
    return value if value and value.strip() else None


def _display(payload: ServiceNowPayload, field: str, max_length: int) -> str | None:
    """A plain-string or reference field (declared or custom) as the text a user sees."""
    value = (
        getattr(payload, field)
        if field in ServiceNowPayload.model_fields
        else (payload.model_extra or {}).get(field)
    )
    try:
        reference = _REFERENCE.validate_python(value)
    except ValidationError:
        msg = "expected a string or a reference object with display_value"
        raise MappingError((field,), msg) from None
    text = _text(
        reference.display_value if isinstance(reference, ServiceNowReference) else reference
    )
    if text is not None and len(text) > max_length:
        raise MappingError((field,), f"longer than {max_length} characters")
    return text


def _site(payload: ServiceNowPayload, field: str) -> Site | None:
    code = _display(payload, field, max_length=200)
    return Site(code=code) if code else None


def _timestamp(payload: ServiceNowPayload, field: str, options: MappingOptions) -> datetime | None:
    """A Table API date-time in ``options.servicenow_tz``, as a plausible UTC instant.

    The range is checked here, not by the canonical model, so that the error names the
    ServiceNow field (``sys_updated_on``, ``resolved_at``) rather than the canonical one.
    """
    text = _text(getattr(payload, field))
    if text is None:
        return None
    try:
        instant = parse_local(text, TIMESTAMP_FORMAT, options.servicenow_tz)
    except ValueError:
        raise MappingError((field,), f"expected YYYY-MM-DD HH:MM:SS, got {text!r}") from None
    if not EARLIEST <= instant <= LATEST:
        raise MappingError((field,), "must be between 1970-01-01 and 2200-01-01")
    return instant


def _state(code: str) -> TicketState:
    try:
        return STATES[code.strip()][1]
    except KeyError:
        accepted = ", ".join(f"{key} ({label})" for key, (label, _) in STATES.items())
        raise MappingError(
            ("state",), f"unknown state code {code!r}; expected one of {accepted}"
        ) from None


class ServiceNowSource:
    """Maps ServiceNow incidents; ``sys_mod_count`` then ``sys_updated_on`` order versions."""

    name: str = "servicenow"
    payload_model: type[BaseModel] = ServiceNowPayload
    example: dict[str, Any] = EXAMPLE

    def to_ticket(self, payload: BaseModel, options: MappingOptions) -> MappedTicket:
        """Map a :class:`ServiceNowPayload` to the canonical fields.

        Args:
            payload: A validated :class:`ServiceNowPayload`.
            options: The zone of the timestamps and the names of the custom ``u_`` fields.

        Returns:
            The mapped ticket, ``upstream_id`` being the incident ``number``.

        Raises:
            MappingError: For an unknown ``state`` code, a timestamp that is not
                ``YYYY-MM-DD HH:MM:SS`` (or falls outside 1970-2200), an empty ``opened_at``
                or a custom field that is neither a string nor a reference object.
            TypeError: When ``payload`` is not a :class:`ServiceNowPayload`.
        """
        if not isinstance(payload, ServiceNowPayload):
            raise TypeError(f"expected ServiceNowPayload, got {type(payload).__name__}")
        raw = payload.model_dump(mode="json", exclude_unset=True)
        opened_at = _timestamp(payload, "opened_at", options)
        if opened_at is None:
            raise MappingError(("opened_at",), "must not be empty")
        impact = _text(payload.impact)
        priority = _text(payload.priority)
        updated_at = _timestamp(payload, "sys_updated_on", options)
        fields = TicketFields(
            opened_at=opened_at,
            state=_state(payload.state),
            customer=_display(payload, "company", max_length=500),
            nature=NATURES[impact] if impact else None,
            priority=int(priority) if priority else None,
            commitment=_display(payload, options.servicenow_fields.commitment, max_length=500),
            site_a=_site(payload, options.servicenow_fields.site_a),
            site_b=_site(payload, options.servicenow_fields.site_b),
            access_reference=_display(
                payload, options.servicenow_fields.access_reference, max_length=200
            ),
            title=_text(payload.short_description),
            notes=_text(payload.description),
            restored_at=_timestamp(payload, "resolved_at", options),
            closed_at=_timestamp(payload, "closed_at", options),
            on_hold=payload.state.strip() in ON_HOLD,
            updated_at=updated_at,
        )
        sequence = _text(payload.sys_mod_count)
        version = UpstreamVersion(
            digest=payload_digest(raw),
            sequence=int(sequence) if sequence else None,
            updated_at=updated_at,
        )
        return MappedTicket(
            source=self.name,
            upstream_id=payload.number,
            version=version,
            fields=fields,
            raw=raw,
        )
