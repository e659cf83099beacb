"""The outbox figures operators watch, under a service's metric prefix."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RelayMetrics:
    """Backlog and its age, throughput, errors, delay, and the rows set aside as dead."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.backlog = Gauge(
            f"{prefix}_outbox_backlog", "Events written but not yet published", registry=registry
        )
        self.oldest_age = Gauge(
            f"{prefix}_outbox_oldest_age_seconds",
            "Age of the oldest unpublished event (0 when none)",
            registry=registry,
        )
        self.published = Counter(
            f"{prefix}_outbox_published_total", "Events published to Kafka", registry=registry
        )
        self.errors = Counter(
            f"{prefix}_outbox_publish_errors_total",
            "Publish attempts that failed, by error",
            ["error"],
            registry=registry,
        )
        self.delay = Histogram(
            f"{prefix}_outbox_publish_delay_seconds",
            "From the event row's commit to the broker's acknowledgement",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.dead = Gauge(
            f"{prefix}_outbox_dead",
            "Events the broker refused for good, set aside until re-queued",
            registry=registry,
        )
        # Not ``…_outbox_dead_total``: a counter family of that name would also claim the
        # name ``…_outbox_dead``, which the gauge above has.
        self.set_aside = Counter(
            f"{prefix}_outbox_set_aside",
            "Events set aside as dead by this process (exposed as …_outbox_set_aside_total)",
            registry=registry,
        )
