"""The one Kafka producer every service uses: acks=all, retries, idempotence when the broker has it.

It starts lazily and survives a broker that is not there yet: a service comes up, accepts
work into its outbox, and publishes once the broker answers. Through an outage of hours it
holds one bounded description of the root cause (never the previous error wrapped again) and
logs a repeated start failure once per interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import BrokerResponseError, KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from vigie_common.backoff import Backoff
from vigie_common.kafka.failures import RecordRefused, bounded, describe
from vigie_common.kafka.records import OutgoingRecord
from vigie_common.kafka.security import ClientOptions, security_options
from vigie_common.logs import Throttle, get_logger
from vigie_common.settings import ServiceSettings

log = get_logger(__name__)

AIOKAFKA_MAX_REQUEST_SIZE = 1_048_576
"""aiokafka's ``max_request_size`` when the options do not set it."""
SIZE_SLACK = 1024
"""More than a record batch's own overhead (about 90 bytes) above its key, value and headers."""
IDEMPOTENCE_REFUSED = "idempotent producer refused: set VIGIE_KAFKA_IDEMPOTENCE=false"


class BrokerUnavailable(ConnectionError):
    """The producer could not start; the send is to be tried again later.

    Its message is the producer's bounded ``last_error``: the root cause, never a chain.
    """


def producer_options(settings: ServiceSettings, *, client_id: str) -> ClientOptions:
    """Aiokafka producer options from the shared settings (TLS and SASL included)."""
    return ClientOptions(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        retry_backoff_ms=200,
        linger_ms=5,
        max_request_size=settings.kafka_max_message_bytes,
        **security_options(settings),
    )


class EventProducer:
    """A lazily started ``AIOKafkaProducer`` that reconnects after failing to start.

    Two texts say what is wrong: :attr:`last_error` for the logs (it may name the bootstrap
    address) and :attr:`problem` for anyone (``/readyz``): a short reason, no host names.
    """

    def __init__(
        self,
        options: dict[str, Any],
        *,
        start_backoff: float = 1.0,
        max_start_backoff: float = 10.0,
        log_every: float = 60.0,
    ) -> None:
        self._options = options
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        # Each failed start doubles the wait before the next, up to the ceiling: an outage of
        # hours costs one connection attempt (and one aiokafka error line) every few seconds.
        self._start_backoff = Backoff(start_backoff, max(start_backoff, max_start_backoff))
        self._next_attempt = 0.0
        self._partitioner = DefaultPartitioner()
        self._max_bytes = int(options.get("max_request_size", AIOKAFKA_MAX_REQUEST_SIZE))
        self._throttle = Throttle(log_every)
        self._logged: str | None = None
        self._problem: str | None = "not connected yet"
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        """Started, and the last send (if any) was acknowledged."""
        return self._producer is not None and self.last_error is None

    @property
    def problem(self) -> str | None:
        """Why the producer is not healthy, safe to show publicly; ``None`` when healthy."""
        if self.healthy:
            return None
        return self._problem or "not connected"

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
                self._next_attempt = loop.time() + self._start_backoff.next()
                await _quiet_stop(producer)
                self._start_failed(exc)
                raise BrokerUnavailable(self.last_error) from None
            self._producer = producer
            self._recovered()
            log.info("kafka producer started", bootstrap=self._options["bootstrap_servers"])
            return producer

    def _start_failed(self, exc: BaseException) -> None:
        """Describe the failure (root cause only) and log it, once per interval per reason.

        Once connected, aiokafka starts the idempotent producer with ``InitProducerId``; a
        broker error (not a connection error) at that step is the broker refusing it.
        """
        bootstrap = self._options["bootstrap_servers"]
        if self._options.get("enable_idempotence") and isinstance(exc, BrokerResponseError):
            self._problem = IDEMPOTENCE_REFUSED
            self.last_error = bounded(
                "the broker refused the idempotent producer (InitProducerId: "
                f"{describe(exc)}); set VIGIE_KAFKA_IDEMPOTENCE=false for brokers without it "
                f"(e.g. Tansu); bootstrap {bootstrap}"
            )
        else:
            self._problem = f"unreachable ({type(exc).__name__})"
            self.last_error = describe(exc, prefix=f"cannot reach Kafka at {bootstrap}")
        held = self._throttle.allow(self._problem)
        if held is not None:
            self._logged = self._problem
            log.warning("kafka producer not started", error=self.last_error, suppressed=held)

    def _recovered(self) -> None:
        self.last_error = None
        self._problem = None
        self._start_backoff.reset()
        if self._logged is not None:
            self._throttle.reset(self._logged)
            self._logged = None

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        """Send in order and wait for every acknowledgement; errors are returned, not raised.

        Records are grouped per partition into record batches (the default partitioner on
        the key, as a plain ``send`` would do), which costs far less CPU than one ``send``
        per record; each partition still receives its records in the given order. A record
        over the size limit fails alone with :class:`RecordRefused`, before anything is sent;
        a broker's per-record error is returned as aiokafka's exception.
        """
        if not records:
            return []
        results: list[BaseException | None] = [self._refusal(r) for r in records]
        wanted = [i for i, error in enumerate(results) if error is None]
        if not wanted:
            return results
        try:
            producer = await self.ensure_started()
            groups = await self._by_partition(producer, records, wanted)
        except BrokerUnavailable as exc:
            return [exc if error is None else error for error in results]
        except KafkaError as exc:
            self._send_failed(exc)
            return [exc if error is None else error for error in results]
        for error, indexes in await self._ship_groups(producer, records, groups):
            for index in indexes:
                results[index] = error
        failure = next((r for r in results if r is not None and not _refused(r)), None)
        if failure is None:
            self._recovered()
        else:
            self._send_failed(failure)
        return results

    def _refusal(self, record: OutgoingRecord) -> RecordRefused | None:
        """A record the broker would refuse for its size, refused here and now."""
        # Cheap bound first (UTF-8 takes at most 4 bytes a character): most records are small.
        rough = len(record.value) + 4 * len(record.key)
        rough += sum(4 * len(name) + len(value) + 10 for name, value in record.headers)
        if rough + SIZE_SLACK <= self._max_bytes:
            return None
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            record.key.encode(), record.value, list(record.headers)
        )
        if size <= self._max_bytes:
            return None
        return RecordRefused(
            f"record of {size} bytes is over the {self._max_bytes}-byte limit "
            "(VIGIE_KAFKA_MAX_MESSAGE_BYTES)"
        )

    def _send_failed(self, error: BaseException) -> None:
        self.last_error = describe(error)
        self._problem = f"publish failing ({type(error).__name__})"

    async def _by_partition(
        self, producer: AIOKafkaProducer, records: Sequence[OutgoingRecord], wanted: list[int]
    ) -> dict[tuple[str, int], list[int]]:
        partitions: dict[str, list[int]] = {}
        groups: dict[tuple[str, int], list[int]] = {}
        for index in wanted:
            record = records[index]
            if record.topic not in partitions:
                partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
            known = partitions[record.topic]
            partition = self._partitioner(record.key.encode(), known, known)
            groups.setdefault((record.topic, partition), []).append(index)
        return groups

    async def _ship_groups(
        self,
        producer: AIOKafkaProducer,
        records: Sequence[OutgoingRecord],
        groups: dict[tuple[str, int], list[int]],
    ) -> list[tuple[BaseException | None, list[int]]]:
        """Ship every partition's batches, then wait for each: its error and its records."""
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
        outcomes: list[tuple[BaseException | None, list[int]]] = []
        for future, indexes in sent:
            error: BaseException | None = future if isinstance(future, BaseException) else None
            if error is None:
                try:
                    await future  # type: ignore[misc]
                except KafkaError as exc:
                    error = exc
            outcomes.append((error, indexes))
        return outcomes

    async def stop(self) -> None:
        """Flush and stop; safe to call when never started."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await _quiet_stop(producer)


def _refused(error: BaseException) -> bool:
    """Refused for its size: says nothing about the broker's health."""
    return isinstance(error, RecordRefused)


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
        log.warning("kafka producer stop failed", error=describe(exc))
