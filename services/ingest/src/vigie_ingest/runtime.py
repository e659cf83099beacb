"""What the HTTP edge needs at run time, built once by ``main`` and held by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.clock import Clock
from vigie_common.db.outbox import OutboxRelay
from vigie_common.kafka.producer import EventProducer
from vigie_common.logs import Throttle
from vigie_common.metrics import LATENCY_BUCKETS

from vigie_ingest.admission import Credentials
from vigie_ingest.intake import TicketIntake
from vigie_ingest.settings import IngestSettings
from vigie_ingest.sources.base import MappingOptions, Source


class IngestMetrics:
    """Webhooks by source and status, their latency, and what became of accepted ones."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhooks = Counter(
            "vigie_ingest_webhooks_total",
            "Webhooks answered, by source and HTTP status",
            ["source", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "vigie_ingest_webhook_duration_seconds",
            "Time to answer a webhook, by source",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.outcomes = Counter(
            "vigie_ingest_tickets_total",
            "Accepted webhooks by source, outcome (accepted, duplicate, stale) and the ticket "
            "state they carry (open, restored, in_observation, closed)",
            ["source", "outcome", "state"],
            registry=registry,
        )
        self.pruned = Counter(
            "vigie_ingest_pruned_rows_total",
            "Rows deleted by the retention policy, by table",
            ["table"],
            registry=registry,
        )


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything a request handler may touch."""

    settings: IngestSettings
    sessions: async_sessionmaker[AsyncSession]
    producer: EventProducer
    relay: OutboxRelay
    intake: TicketIntake
    clock: Clock
    metrics: IngestMetrics
    sources: dict[str, Source]
    mapping: MappingOptions
    credentials: dict[str, Credentials]
    refusal_log: Throttle
