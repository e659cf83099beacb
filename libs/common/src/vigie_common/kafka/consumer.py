"""The consume loop every service uses: check the head → skip if seen → handle + remember → commit.

Offsets are committed only after the effect and the processed-event row are stored in one
transaction, so a crash redelivers and the inbox turns the redelivery into a no-op. Poison
messages go to ``<topic>.dlq`` with the reason in headers and are then committed: that includes
an envelope whose head cannot be stored (an id longer than the inbox column, control
characters, a value over the size bound), refused before the database is touched. Transient
errors (``RetryableError``, the database away: see :func:`~vigie_common.kafka.errors.is_transient`)
are retried after a growing, bounded backoff without committing, logged once per interval;
anything else stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigie_common.backoff import Backoff
from vigie_common.clock import Clock
from vigie_common.db.inbox import ProcessedEventMixin, remember, seen, seen_among
from vigie_common.events.envelope import InvalidEnvelope
from vigie_common.events.topics import dead_letter
from vigie_common.kafka.errors import InvalidEvent, describe, is_transient
from vigie_common.kafka.head import MAX_EVENT_BYTES, EventHead, read_head
from vigie_common.kafka.records import OutgoingRecord, Publisher
from vigie_common.kafka.security import ClientOptions, security_options
from vigie_common.logs import Throttle, get_logger
from vigie_common.settings import ServiceSettings

log = get_logger(__name__)

T = TypeVar("T")

DEAD_LETTER_SAMPLE_BYTES: Final = 64 * 1024
"""What the dead-letter topic keeps of a message over the size bound (its original size in
the ``vigie-original-bytes`` header)."""


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """A message whose envelope head was read; the handler decodes ``raw`` to its type."""

    topic: str
    partition: int
    offset: int
    key: str | None
    raw: bytes
    event_id: str
    event_type: str


Handler = Callable[[AsyncSession, ReceivedEvent], Awaitable[None]]
"""Stores the effect of one event in ``session``; raises an ``EventError`` to steer the loop."""


class Outcome(StrEnum):
    """What became of one message."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"


class ConsumerMetrics:
    """Messages by outcome, and lag per partition, for the consumer-lag dashboards."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.messages = Counter(
            f"{prefix}_consumer_messages_total",
            "Messages consumed, by topic and outcome",
            ["topic", "outcome"],
            registry=registry,
        )
        self.lag = Gauge(
            f"{prefix}_consumer_lag",
            "Messages between the committed position and the end of the partition",
            ["topic", "partition"],
            registry=registry,
        )
        self.assigned = Gauge(
            f"{prefix}_consumer_assigned_partitions",
            "Partitions this member holds; 0 until it has joined its group",
            registry=registry,
        )


def consumer_options(settings: ServiceSettings, *, group_id: str, client_id: str) -> dict[str, Any]:
    """Aiokafka consumer options: manual commits, start from the beginning for a new group.

    TLS / SASL as the settings say; a partition fetch takes the largest record the producer
    may send, so a large record never leaves a consumer stuck below it.
    """
    return ClientOptions(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=settings.kafka_request_timeout_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(settings.kafka_session_timeout_ms // 3, 100),
        max_partition_fetch_bytes=settings.kafka_max_message_bytes,
        **security_options(settings),
    )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumeLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: Any) -> None:
        log.info("partitions revoked", partitions=sorted(str(tp) for tp in revoked))
        self._loop.partitions = None  # rejoining: not a member until the next assignment
        if self._loop.metrics is not None:
            self._loop.metrics.assigned.set(0)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned", partitions=sorted(str(tp) for tp in assigned))
        self._loop.partitions = len(assigned)
        if self._loop.metrics is not None:
            self._loop.metrics.assigned.set(len(assigned))


class ConsumeLoop:
    """One consumer group member running ``handler`` over ``topics``.

    Args:
        retry_backoff: First wait before retrying a message that failed transiently; it
            doubles on each further failure up to ``max_retry_backoff``, and starts again
            after a success.
        max_event_bytes: Larger messages are dead-lettered unread.
        on_processed: Called after each newly processed message's transaction commits (the
            worker wakes its outbox relay with it).
        batch_size: Messages of one partition stored in one transaction (one inbox query,
            one commit). A batch that fails in any way is rolled back and its messages are
            processed again one by one, so a poison message, a retry or a duplicate behaves
            exactly as with ``1``; a handler must then keep its effects in the session.
        log_interval: Seconds between two log lines about the same repeated failure.
    """

    def __init__(
        self,
        *,
        options: dict[str, Any],
        topics: Sequence[str],
        handler: Handler,
        sessions: async_sessionmaker[AsyncSession],
        inbox: type[ProcessedEventMixin],
        dead_letters: Publisher,
        clock: Clock,
        metrics: ConsumerMetrics | None = None,
        retry_backoff: float = 0.5,
        max_retry_backoff: float = 10.0,
        max_records: int = 100,
        max_event_bytes: int = MAX_EVENT_BYTES,
        on_processed: Callable[[], None] | None = None,
        log_interval: float = 60.0,
        batch_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._batch_size = batch_size
        self._options = options
        self._topics = list(topics)
        self._handler = handler
        self._sessions = sessions
        self._inbox = inbox
        self._dead_letters = dead_letters
        self._clock = clock
        self.metrics = metrics
        self._backoff = Backoff(retry_backoff, max_retry_backoff)
        self._max_records = max_records
        self._max_event_bytes = max_event_bytes
        self._on_processed = on_processed
        self._throttle = Throttle(log_interval, now=clock.monotonic)
        self._failing = False
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        """Set once the Kafka consumer started (the group join follows in the background)."""
        self.partitions: int | None = None
        """Partitions held since the last assignment; ``None`` while not a group member."""

    @property
    def joined(self) -> bool:
        """True once the group assigned this member its partitions (possibly none)."""
        return self.partitions is not None

    def stop(self) -> None:
        """Finish the message in hand, commit, and leave the group."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until :meth:`stop`; a broker that is not there yet is waited for."""
        consumer = await self._start()
        if consumer is None:
            return
        try:
            while not self._stopping.is_set():
                batch = await self._unless_stopped(
                    consumer.getmany(timeout_ms=500, max_records=self._max_records)
                )
                for tp, messages in (batch or {}).items():
                    await self._partition(consumer, tp, messages)
                    await self._update_lag(consumer, tp)
        finally:
            await _close(consumer)

    async def _start(self) -> AIOKafkaConsumer | None:
        backoff = self._backoff.initial
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(**self._options)
            consumer.subscribe(self._topics, listener=_Rebalance(self))
            try:
                # Joining the group can hang while the broker is away: stop() must still work.
                started = await self._unless_stopped(_started(consumer))
            except (KafkaError, OSError) as exc:
                log.warning("kafka consumer not started", error=repr(exc), retry_in=backoff)
                await _close(consumer)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            except BaseException:  # cancelled: leave no consumer task behind
                await _close(consumer)
                raise
            if not started:
                await _close(consumer)
                return None
            self.ready.set()
            return consumer
        return None

    async def _unless_stopped(self, awaitable: Awaitable[T]) -> T | None:
        """Await ``awaitable`` unless :meth:`stop` comes first (then cancel it, return None)."""
        work = asyncio.ensure_future(awaitable)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not work.done():
                work.cancel()
                await asyncio.wait({work})
        return work.result() if not work.cancelled() else None

    async def _partition(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, messages: Any
    ) -> None:
        done: int | None = None
        messages = list(messages)
        start = 0
        while start < len(messages):
            chunk = messages[start : start + self._batch_size]
            start += len(chunk)
            if len(chunk) > 1 and await self._batch(chunk):
                done = chunk[-1].offset
                continue
            for message in chunk:
                outcome = await self.process(message)
                self._count(message.topic, outcome)
                if outcome is Outcome.RETRY:
                    # Fetch it again after the wait: the same message, never skipped.
                    consumer.seek(tp, message.offset)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), timeout=self._backoff.next())
                    start = len(messages)
                    break
                self._backoff.reset()
                done = message.offset
        if done is not None:
            try:
                await consumer.commit({tp: done + 1})
            except KafkaError as exc:  # e.g. a rebalance: redelivered, and the inbox skips it
                log.warning("offset commit failed", partition=str(tp), error=repr(exc))

    def _count(self, topic: str, outcome: Outcome) -> None:
        if self.metrics is not None:
            self.metrics.messages.labels(topic, outcome.value).inc()

    async def _batch(self, messages: Sequence[Any]) -> bool:
        """Store ``messages`` in one transaction; False (nothing stored) if any of them fails.

        The caller then takes them one by one, where each failure gets its usual treatment.
        """
        events: list[ReceivedEvent] = []
        for message in messages:
            raw: bytes = message.value or b""
            try:
                head = read_head(raw, max_bytes=self._max_event_bytes)
            except (InvalidEvent, InvalidEnvelope):
                return False
            events.append(_received(message, raw, head))
        outcomes: list[Outcome] = []
        try:
            async with self._sessions() as session, session.begin():
                done = await seen_among(session, self._inbox, (e.event_id for e in events))
                for event in events:
                    if event.event_id in done:
                        outcomes.append(Outcome.DUPLICATE)
                        continue
                    await self._handle(session, event)
                    done.add(event.event_id)
                    outcomes.append(Outcome.PROCESSED)
        except Exception as exc:  # noqa: BLE001 - each is handled again, one message at a time
            log.debug("batch rolled back; one by one", size=len(events), error=describe(exc))
            return False
        if self._failing:
            self._failing = False
            self._throttle.reset("event will be retried")
            log.info("events are processed again", event_id=events[0].event_id)
        self._backoff.reset()
        for event, outcome in zip(events, outcomes, strict=True):
            self._count(event.topic, outcome)
        if Outcome.PROCESSED in outcomes and self._on_processed is not None:
            self._on_processed()
        return True

    async def process(self, message: Any) -> Outcome:
        """Handle one message and say what became of it; never raises for poison or retries."""
        raw: bytes = message.value or b""
        try:
            head = read_head(raw, max_bytes=self._max_event_bytes)
        except (InvalidEvent, InvalidEnvelope) as exc:
            return await self._dead_letter(message, exc.reason, exc.detail)
        event = _received(message, raw, head)
        try:
            outcome = await self._store(event)
        except (InvalidEvent, InvalidEnvelope) as exc:
            return await self._dead_letter(message, exc.reason, exc.detail)
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._failing = True
            self._log_throttled("event will be retried", event_id=event.event_id, exc=exc)
            return Outcome.RETRY
        if self._failing:
            self._failing = False
            self._throttle.reset("event will be retried")
            log.info("events are processed again", event_id=event.event_id)
        if outcome is Outcome.PROCESSED and self._on_processed is not None:
            self._on_processed()
        return outcome

    async def _handle(self, session: AsyncSession, event: ReceivedEvent) -> None:
        """The handler's effect and the inbox row, in the caller's transaction."""
        await self._handler(session, event)
        remember(
            session,
            self._inbox,
            event_id=event.event_id,
            topic=event.topic,
            event_type=event.event_type,
            now=self._clock.now(),
        )

    async def _store(self, event: ReceivedEvent) -> Outcome:
        """The handler's effect and the inbox row, in one transaction."""
        try:
            async with self._sessions() as session, session.begin():
                if await seen(session, self._inbox, event.event_id):
                    return Outcome.DUPLICATE
                await self._handle(session, event)
        except IntegrityError:
            # Another member stored the same event meanwhile (a rebalance redelivery).
            async with self._sessions() as session:
                if await seen(session, self._inbox, event.event_id):
                    return Outcome.DUPLICATE
            raise
        return Outcome.PROCESSED

    def _log_throttled(self, message: str, *, event_id: str, exc: BaseException) -> None:
        """One line per ``log_interval`` for a failure that repeats (an outage), with a count."""
        suppressed = self._throttle.allow(message)
        if suppressed is not None:
            log.warning(message, event_id=event_id, error=describe(exc), suppressed=suppressed)

    async def _dead_letter(self, message: Any, reason: str, detail: Any) -> Outcome:
        value: bytes = message.value or b""
        headers: tuple[tuple[str, bytes], ...] = (
            ("vigie-error", reason.encode()[:1000]),
            ("vigie-error-detail", repr(detail).encode()[:4000]),
            ("vigie-original-topic", message.topic.encode()),
            ("vigie-original-partition", str(message.partition).encode()),
            ("vigie-original-offset", str(message.offset).encode()),
            ("vigie-consumer-group", str(self._options.get("group_id", "")).encode()),
        )
        if len(value) > self._max_event_bytes:
            # Too large for our own producer too: keep its start, or it would block forever.
            headers += (("vigie-original-bytes", str(len(value)).encode()),)
            value = value[:DEAD_LETTER_SAMPLE_BYTES]
        record = OutgoingRecord(
            topic=dead_letter(message.topic),
            key=message.key.decode(errors="replace") if message.key else "",
            value=value,
            headers=headers,
        )
        [error] = await self._dead_letters.send_many([record])
        if error is not None:
            self._log_throttled("dead-letter publish failed", event_id="", exc=error)
            return Outcome.RETRY
        log.warning(
            "event dead-lettered",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=reason,
        )
        return Outcome.DEAD_LETTERED

    async def _update_lag(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        if self.metrics is None:
            return
        highwater = consumer.highwater(tp)
        if highwater is None:
            return
        with contextlib.suppress(KafkaError, AssertionError):
            position = await consumer.position(tp)
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(highwater - position, 0))


def _received(message: Any, raw: bytes, head: EventHead) -> ReceivedEvent:
    """The message as the handler gets it, once its envelope head was read."""
    return ReceivedEvent(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key.decode(errors="replace") if message.key else None,
        raw=raw,
        event_id=head.id,
        event_type=head.type,
    )


async def _started(consumer: AIOKafkaConsumer) -> bool:
    await consumer.start()
    return True


async def _close(consumer: AIOKafkaConsumer) -> None:
    """Stop the consumer; errors of a broker that went away are logged, not raised."""
    try:
        await asyncio.wait_for(consumer.stop(), timeout=10)
    except (KafkaError, OSError, TimeoutError) as exc:
        log.warning("kafka consumer stop failed", error=repr(exc))
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled: let it through
        # aiokafka cancels its own fetch task when the broker died; that is not ours.
        log.warning("kafka consumer stop interrupted by a dead broker")
