"""Outbox-to-Kafka latency, seen from both ends.

From the consumer side: a real aiokafka consumer (no group, from the earliest offset) reads
``vigie.tickets.v1`` while the load runs and notes, for each event, its arrival time minus the
CloudEvent ``time`` (when ingest accepted the webhook). That is the delay a downstream service
actually experiences: database commit, relay poll, publish, broker, fetch.

From the relay side: ingest's own histogram ``vigie_ingest_outbox_publish_delay_seconds``
(event row created → Kafka ack), read from ``/metrics``; a histogram only gives a bucket's upper
bound for a percentile, so it is reported as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

RELAY_HISTOGRAM = "vigie_ingest_outbox_publish_delay_seconds"
BACKLOG_GAUGE = "vigie_ingest_outbox_backlog"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class ConsumedEvents:
    """What the consumer saw: how many messages, how many distinct events, their delays."""

    messages: int
    distinct_ids: int
    delays_ms: list[float]
    unparsable: int

    def delay_ms(self, q: float) -> float | None:
        """Percentile ``q`` of the arrival delays in milliseconds."""
        return percentile(self.delays_ms, q)


class EventTimer:
    """Consume a topic from its beginning in the background, noting each message's arrival.

    Parsing is deferred to :meth:`result` so the consumer costs as little CPU as possible
    while the load runs on the same machine.
    """

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._arrivals: list[tuple[float, bytes]] = []

    @property
    def count(self) -> int:
        """Messages received so far."""
        return len(self._arrivals)

    async def start(self, timeout_s: float = 30.0) -> None:
        """Connect, assign every partition of the topic from offset 0, start reading."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._consumer = consumer
        await asyncio.wait_for(consumer.start(), timeout=timeout_s)
        partitions: set[int] | None = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            await consumer.topics()  # refreshes metadata
            partitions = consumer.partitions_for_topic(self.topic)
            if partitions:
                break
            await asyncio.sleep(0.2)
        if not partitions:
            raise RuntimeError(f"topic {self.topic} has no partitions after {timeout_s}s")
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        self._task = asyncio.create_task(self._read(consumer), name="bench-event-timer")

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            now = time.time()
            for messages in batches.values():
                self._arrivals.extend((now, message.value) for message in messages)

    async def wait_for(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` messages arrived; False after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.count < count and time.monotonic() < deadline:
            self._raise_if_failed()
            await asyncio.sleep(0.1)
        return self.count >= count

    def _raise_if_failed(self) -> None:
        if self._task is not None and self._task.done() and not self._task.cancelled():
            exc = self._task.exception()
            if exc is not None:
                raise RuntimeError(f"the benchmark's consumer failed: {exc!r}") from exc

    async def stop(self) -> None:
        """Stop reading and disconnect (bounded)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), timeout=10)

    def result(self) -> ConsumedEvents:
        """Parse every message received and compute its delay from the CloudEvent ``time``."""
        delays: list[float] = []
        ids: set[str] = set()
        unparsable = 0
        for arrival, value in self._arrivals:
            try:
                event = json.loads(value)
                accepted_at = datetime.fromisoformat(event["time"]).timestamp()
                ids.add(str(event["id"]))
            except (ValueError, KeyError, TypeError):
                unparsable += 1
                continue
            delays.append((arrival - accepted_at) * 1000)
        return ConsumedEvents(
            messages=len(self._arrivals),
            distinct_ids=len(ids),
            delays_ms=delays,
            unparsable=unparsable,
        )


@dataclass(frozen=True)
class RelayFigures:
    """The relay's own view, from ``/metrics``."""

    published: int | None
    delay_p50_ms: float | None
    delay_p99_ms: float | None
    backlog: float | None


def histogram_quantile_upper_bound(buckets: dict[float, float], q: float) -> float | None:
    """Upper bound of the bucket holding quantile ``q`` (0..1) of cumulative ``buckets``."""
    if not buckets:
        return None
    total = buckets.get(math.inf, max(buckets.values()))
    if total <= 0:
        return None
    for bound in sorted(buckets):
        if buckets[bound] >= q * total:
            return bound
    return math.inf


def relay_figures(metrics_text: str) -> RelayFigures:
    """Read the relay histogram and backlog gauge (summed over their labels) from /metrics."""
    buckets: dict[float, float] = {}
    count: float | None = None
    backlog: float | None = None
    for family in text_string_to_metric_families(metrics_text):
        if family.name == RELAY_HISTOGRAM:
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
                elif sample.name.endswith("_count"):
                    count = (count or 0.0) + sample.value
        elif family.name == BACKLOG_GAUGE:
            backlog = sum(sample.value for sample in family.samples)

    def ms(bound: float | None) -> float | None:
        return None if bound is None else bound * 1000

    return RelayFigures(
        published=None if count is None else int(count),
        delay_p50_ms=ms(histogram_quantile_upper_bound(buckets, 0.50)),
        delay_p99_ms=ms(histogram_quantile_upper_bound(buckets, 0.99)),
        backlog=backlog,
    )
