"""The CloudEvents 1.0 envelope (structured JSON mode) with a typed ``data`` per event type."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

CONTENT_TYPE: Final = "application/cloudevents+json"
"""The Kafka ``content-type`` header value of a structured-mode CloudEvent."""

T = TypeVar("T", bound=BaseModel)


class CloudEvent(BaseModel, Generic[T]):
    """A CloudEvents 1.0 event; ``subject`` is the ticket id, also used as the Kafka key."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1, description="URI reference of the producing service")
    type: str = Field(min_length=1, description="Reverse-DNS type, e.g. vigie.ticket.received.v1")
    time: AwareDatetime
    subject: str = Field(min_length=1)
    datacontenttype: Literal["application/json"] = "application/json"
    data: T


class InvalidEnvelope(ValueError):
    """The bytes are not a CloudEvent of the expected type; carries the validation detail."""

    def __init__(self, reason: str, *, detail: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def new_event(
    *, type: str, source: str, subject: str, data: T, time: datetime, id: str | None = None
) -> CloudEvent[T]:
    """Build an event; pass ``id`` for deterministic ids (same fact → same id → deduplicated)."""
    return CloudEvent[T](
        id=id or str(uuid.uuid4()), source=source, type=type, subject=subject, time=time, data=data
    )


def encode(event: CloudEvent[Any]) -> bytes:
    """Serialise an event to structured-mode JSON bytes."""
    return event.model_dump_json(by_alias=True).encode()


def peek_head(raw: bytes) -> EnvelopeHead:
    """Read ``id`` and ``type`` without validating ``data``, to deduplicate and dispatch."""
    try:
        return EnvelopeHead.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEnvelope("not a CloudEvents 1.0 JSON envelope", detail=_errors(exc)) from exc


def decode(raw: bytes, data_type: type[T]) -> CloudEvent[T]:
    """Parse and validate an event whose ``data`` must be a ``data_type``."""
    try:
        return CloudEvent[data_type].model_validate_json(raw)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise InvalidEnvelope(f"invalid {data_type.__name__} event", detail=_errors(exc)) from exc


class EnvelopeHead(BaseModel):
    """The attributes every consumer needs before it knows the payload type."""

    model_config = ConfigDict(extra="ignore")
    specversion: Literal["1.0"]
    id: str
    type: str


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
