"""Deterministic ids for the events a handler emits because of another event.

A consumer may see its cause event twice (a redelivery after a crash, a rebalance). If the
events it emits got fresh random ids, the second run would emit them again under new ids and
nobody downstream could tell. Deriving each id from the cause's id and what the emitted
event is makes the second run produce the same ids, which the outbox (unique ``event_id``)
and every consumer's inbox then drop.
"""

from __future__ import annotations

import json
import uuid
from typing import Final

NAMESPACE: Final = uuid.UUID("5b0e4c8e-2f4a-5d8e-9c1b-7669676965a1")
"""vigie's UUIDv5 namespace for derived event ids (fixed forever: changing it changes ids)."""


def derived_event_id(cause_event_id: str, kind: str, *parts: str) -> str:
    """The id of the ``kind`` event emitted because of ``cause_event_id`` (a UUIDv5 string).

    ``parts`` tell apart several events of one kind from one cause (a site, a recipient).
    The same arguments always give the same id; any different argument a different one
    (they are encoded as a JSON list, so ``("a-b", "c")`` and ``("a", "b-c")`` differ).

    Raises:
        ValueError: an empty cause id or kind.
    """
    if not cause_event_id or not kind:
        raise ValueError("a derived event id needs the cause's id and the event's kind")
    name = json.dumps([cause_event_id, kind, *parts], ensure_ascii=False, separators=(",", ":"))
    return str(uuid.uuid5(NAMESPACE, name))
