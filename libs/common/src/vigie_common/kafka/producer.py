"""The one Kafka producer every service uses: acks=all, retries, idempotence when the broker has it.

It starts lazily and survives a broker that is not there yet: a service comes up, accepts
work into its outbox, and publishes once the broker answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from vigie_common.kafka.records import OutgoingRecord
from vigie_common.logs import get_logger
from vigie_common.settings import ServiceSettings

log = get_logger(__name__)


class BrokerUnavailable(ConnectionError):
    """The producer could not reach the broker; the send is to be tried again later."""


def producer_options(settings: ServiceSettings, *, client_id: str) -> dict[str, Any]:
    """Aiokafka producer options from the shared settings."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "retry_backoff_ms": 200,
        "linger_ms": 5,
        "security_protocol": settings.kafka_security_protocol,
    }


class EventProducer:
    """A lazily started ``AIOKafkaProducer`` that reconnects after failing to start."""

    def __init__(self, options: dict[str, Any], *, start_backoff: float = 1.0) -> None:
        self._options = options
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._start_backoff = start_backoff
        self._next_attempt = 0.0
        self._partitioner = DefaultPartitioner()
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        """Started, and the last send (if any) was acknowledged."""
        return self._producer is not None and self.last_error is None

    async def connect(self, *, retry_every: float = 2.0) -> None:
        """Start as soon as the broker answers (run as a task; readiness reads :attr:`healthy`)."""
        while True:
            try:
                await self.ensure_started()
            except BrokerUnavailable:
                await asyncio.sleep(retry_every)
            else:
                return

    async def ensure_started(self) -> AIOKafkaProducer:
        """Return a started producer, or raise :class:`BrokerUnavailable` (rate limited)."""
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is not None:
                return self._producer
            loop = asyncio.get_running_loop()
            if loop.time() < self._next_attempt:
                raise BrokerUnavailable(self.last_error or "broker not reached yet")
            producer = AIOKafkaProducer(**self._options)
            try:
                await producer.start()
            except asyncio.CancelledError:
                await _quiet_stop(producer)  # half-open connections would outlive the loop
                raise
            except (KafkaError, OSError) as exc:
                self.last_error = (
                    f"cannot reach Kafka at {self._options['bootstrap_servers']}: {exc!r}"
                )
                self._next_attempt = loop.time() + self._start_backoff
                await _quiet_stop(producer)
                log.warning("kafka producer not started", error=self.last_error)
                raise BrokerUnavailable(self.last_error) from exc
            self._producer = producer
            self.last_error = None
            log.info("kafka producer started", bootstrap=self._options["bootstrap_servers"])
            return producer

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        """Send in order and wait for every acknowledgement; errors are returned, not raised.

        Records are grouped per partition into record batches (the default partitioner on
        the key, as a plain ``send`` would do), which costs far less CPU than one ``send``
        per record; each partition still receives its records in the given order.
        """
        if not records:
            return []
        try:
            producer = await self.ensure_started()
            groups = await self._by_partition(producer, records)
        except (BrokerUnavailable, KafkaError) as exc:
            self.last_error = repr(exc)
            return [exc] * len(records)
        sent: list[tuple[asyncio.Future[Any] | BaseException, list[int]]] = []
        for (topic, partition), members in groups.items():
            batch = producer.create_batch()
            indexes: list[int] = []
            for index in members:
                record = records[index]
                fields = {
                    "key": record.key.encode(),
                    "value": record.value,
                    "timestamp": None,
                    "headers": list(record.headers),
                }
                if batch.append(**fields) is None:  # full: ship it, start another
                    sent.append((await _ship(producer, batch, topic, partition), indexes))
                    batch, indexes = producer.create_batch(), []
                    batch.append(**fields)
                indexes.append(index)
            sent.append((await _ship(producer, batch, topic, partition), indexes))
        results: list[BaseException | None] = [None] * len(records)
        for future, indexes in sent:
            error: BaseException | None = future if isinstance(future, BaseException) else None
            if error is None:
                try:
                    await future  # type: ignore[misc]
                except KafkaError as exc:
                    error = exc
            for index in indexes:
                results[index] = error
        failures = [r for r in results if r is not None]
        self.last_error = repr(failures[0]) if failures else None
        return results

    async def _by_partition(
        self, producer: AIOKafkaProducer, records: Sequence[OutgoingRecord]
    ) -> dict[tuple[str, int], list[int]]:
        partitions: dict[str, list[int]] = {}
        groups: dict[tuple[str, int], list[int]] = {}
        for index, record in enumerate(records):
            if record.topic not in partitions:
                partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
            known = partitions[record.topic]
            partition = self._partitioner(record.key.encode(), known, known)
            groups.setdefault((record.topic, partition), []).append(index)
        return groups

    async def stop(self) -> None:
        """Flush and stop; safe to call when never started."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await _quiet_stop(producer)


async def _ship(
    producer: AIOKafkaProducer, batch: Any, topic: str, partition: int
) -> asyncio.Future[Any] | BaseException:
    try:
        future = await producer.send_batch(batch, topic, partition=partition)
    except KafkaError as exc:
        error: BaseException = exc  # aiokafka is untyped: say what it is
        return error
    return cast("asyncio.Future[Any]", future)


async def _quiet_stop(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout=10)
    except (KafkaError, OSError, TimeoutError) as exc:
        log.warning("kafka producer stop failed", error=repr(exc))
