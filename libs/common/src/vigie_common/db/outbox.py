"""Transactional outbox: events are rows written with the state change, published by a relay.

The relay publishes pending rows in ``seq`` order (so in order per ticket, since one ticket's
events share a key and so a partition), marks them sent, and never blocks the writers: while
Kafka is away the rows wait and the backlog is visible in ``/metrics``. A row the broker
refuses for good is set aside as dead, listed and re-queued by the service's edge. On
PostgreSQL one relay per service works at a time (an advisory lock keyed by the service), so
replicas cannot reorder a ticket.

This module is the outbox's public face; the parts live in :mod:`~vigie_common.db.outbox_rows`
(table, rows), :mod:`~vigie_common.db.relay` (the relay), :mod:`~vigie_common.db.relay_lock`
and :mod:`~vigie_common.db.relay_metrics`.
"""

from __future__ import annotations

from vigie_common.db.outbox_rows import (
    ERROR_TEXT_LIMIT,
    DeadEvent,
    OutboxMixin,
    add_event,
    count_dead,
    error_text,
    list_dead,
    requeue_dead,
)
from vigie_common.db.relay import OutboxRelay
from vigie_common.db.relay_lock import relay_lock_key
from vigie_common.db.relay_metrics import RelayMetrics

__all__ = [
    "ERROR_TEXT_LIMIT",
    "DeadEvent",
    "OutboxMixin",
    "OutboxRelay",
    "RelayMetrics",
    "add_event",
    "count_dead",
    "error_text",
    "list_dead",
    "relay_lock_key",
    "requeue_dead",
]
