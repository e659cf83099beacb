"""What goes to the broker, and the protocol of whatever sends it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One message for the broker."""

    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class Publisher(Protocol):
    """What the relay publishes through (``vigie_common.kafka.producer.EventProducer``)."""

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        """Send in order; return, per record, ``None`` when acknowledged or the error."""
        ...
