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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ticket": {
                        "id": "4b0c5a8e-0d7c-5f3e-9a51-1f2d3c4b5a69",
                        "source": "oceane",
                        "upstream_id": "2505057242",
                        "version": 2,
                        "opened_at": "2025-05-30T07:52:00Z",
                        "state": "restored",
                        "customer": "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
                        "nature": "degraded",
                        "commitment": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
                        "site_a": {"code": "INL_MOIRA_EVPN_LA1", "city": "MOIRANS"},
                        "site_b": {"code": "INU_CONF5_EVPN_LA1", "city": "MOIRANS"},
                        "raw": {"numero": "2505057242", "dernier_etat": "Rétabli"},
                    },
                    "history": [
                        {
                            "upstream_version_key": "sha256:9f2c…",
                            "version": 1,
                            "stale": False,
                            "state": "open",
                            "event_id": "a3f1c2d4-5e6f-5a7b-8c9d-0e1f2a3b4c5d",
                            "received_at": "2025-05-30T07:53:10Z",
                        },
                        {
                            "upstream_version_key": "sha256:41d7…",
                            "version": 2,
                            "stale": False,
                            "state": "restored",
                            "event_id": "0cb3b7c6-07aa-57c2-8ad6-673299e7a3f2",
                            "received_at": "2025-06-16T14:12:02Z",
                        },
                    ],
                }
            ]
        }
    )

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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": 42,
                            "source": "oceane",
                            "received_at": "2025-06-16T14:12:02Z",
                            "status_code": 422,
                            "reason": "dernier_etat: unknown value 'Perdu'",
                            "errors": [
                                {"loc": "dernier_etat", "msg": "unknown value", "type": "mapping"}
                            ],
                            "content_type": "application/json",
                            "body_size": 612,
                            "body": '{"numero": "2505057242", "dernier_etat": "Perdu", …}',
                            "body_truncated": False,
                        }
                    ],
                    "next_before": None,
                }
            ]
        }
    )

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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "checks": {
                        "database": "ok",
                        "broker": "ok",
                        "outbox": {"backlog": 0, "oldest_age_s": 0.0},
                    },
                }
            ]
        }
    )

    status: str
    checks: dict[str, Any] = Field(default_factory=dict)


class DeadEventRead(BaseModel):
    """An event the broker refused for good, set aside so it blocks no other ticket."""

    seq: int = Field(description="Its place in the outbox; pass the last one as `before`")
    event_id: str
    topic: str
    key: str = Field(description="The ticket id")
    size: int = Field(description="Bytes of the event")
    created_at: datetime
    dead_at: datetime
    attempts: int
    last_error: str | None = Field(description="Why the broker refused it (bounded)")


class DeadEventPage(BaseModel):
    """Newest first; pass ``next_before`` as ``before`` for the next page."""

    items: list[DeadEventRead]
    next_before: int | None


class RequeuedRead(BaseModel):
    """A set-aside event put back in the queue."""

    event_id: str
    requeued: bool = True
