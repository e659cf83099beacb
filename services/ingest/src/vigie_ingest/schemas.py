"""Ingest's HTTP I/O types (``<Noun>Read`` for answers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from vigie_common.events.tickets import CanonicalTicket, TicketState


class AcceptedRead(BaseModel):
    """The 202 answer: what became of the webhook."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "accepted",
                    "ticket_id": "4b0c5a8e-0d7c-5f3e-9a51-1f2d3c4b5a69",
                    "version": 1,
                    "event_id": "a3f1c2d4-5e6f-5a7b-8c9d-0e1f2a3b4c5d",
                    "duplicate": False,
                    "stale": False,
                    "ticket_url": "/v1/tickets/4b0c5a8e-0d7c-5f3e-9a51-1f2d3c4b5a69",
                }
            ]
        }
    )

    status: str = Field(description="accepted, duplicate or stale")
    ticket_id: str
    version: int | None = Field(description="vigie's version number; null when stale")
    event_id: str | None = Field(description="The event on vigie.tickets.v1; null when stale")
    duplicate: bool = Field(description="This exact version was received before")
    stale: bool = Field(description="A newer version was already received: nothing emitted")
    ticket_url: str


class TicketVersionRead(BaseModel):
    """One received version of a ticket."""

    upstream_version_key: str
    version: int | None
    stale: bool
    state: TicketState
    event_id: str | None
    received_at: datetime


class TicketRead(BaseModel):
    """A ticket's current canonical form and its history."""

    ticket: CanonicalTicket
    history: list[TicketVersionRead]


class RejectionRead(BaseModel):
    """A webhook that passed authentication but was refused."""

    id: int
    source: str
    received_at: datetime
    status_code: int
    reason: str
    errors: list[dict[str, Any]] | None
    content_type: str | None
    body_size: int
    body: str = Field(description="The body as received, cut at the configured limit")
    body_truncated: bool


class RejectionPage(BaseModel):
    """Newest first; pass ``next_before`` as ``before`` for the next page."""

    items: list[RejectionRead]
    next_before: int | None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class Health(BaseModel):
    """Liveness and readiness answers."""

    status: str
    checks: dict[str, Any] = Field(default_factory=dict)
