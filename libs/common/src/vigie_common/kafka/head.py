"""The envelope head the consume loop reads and bounds before it touches the database.

An event whose id does not fit the inbox column, or that holds a NUL PostgreSQL refuses,
would fail its transaction on every redelivery and block its partition for good: it is
refused here, as poison, with a reason that names the attribute.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigie_common.events.envelope import InvalidEnvelope
from vigie_common.kafka.errors import InvalidEvent

__all__ = ["HEAD_BOUNDS", "MAX_EVENT_BYTES", "EventHead", "read_head"]

HEAD_BOUNDS: Final = {"id": 200, "type": 200, "source": 500, "subject": 200}
"""Characters per envelope attribute: ``id`` and ``type`` go to the inbox's String(200)
columns, ``subject`` keys the events a worker derives (the outbox's String(200) ``key``)."""
MAX_EVENT_BYTES: Final = 4 * 1024 * 1024
"""Bytes: the least bound on a message; ``run_worker`` raises it to the producers'
``kafka_max_message_bytes`` when that is larger, so vigie's own events always pass."""


class EventHead(BaseModel):
    """The envelope attributes the loop needs before it knows the payload type."""

    model_config = ConfigDict(extra="ignore")
    specversion: Literal["1.0"]
    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    source: str | None = None
    subject: str | None = None


def read_head(raw: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> EventHead:
    """Parse and bound the envelope head, so that what the inbox stores always fits.

    Raises:
        InvalidEvent: over ``max_bytes``; an attribute over :data:`HEAD_BOUNDS` or holding
            control characters (PostgreSQL refuses NUL in text). The reason names it.
        InvalidEnvelope: not a CloudEvents 1.0 JSON envelope.
    """
    if len(raw) > max_bytes:
        raise InvalidEvent(f"event over {max_bytes} bytes", detail={"bytes": len(raw)})
    try:
        head = EventHead.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidEnvelope("not a CloudEvents 1.0 JSON envelope", detail=errors) from exc
    for name, bound in HEAD_BOUNDS.items():
        value: str | None = getattr(head, name)
        if value is None:
            continue
        if len(value) > bound:
            raise InvalidEvent(
                f"envelope attribute too long: {name} (at most {bound} characters)",
                detail={"attribute": name, "length": len(value)},
            )
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise InvalidEvent(f"envelope attribute holds control characters: {name}")
    return head
