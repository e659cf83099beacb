"""Small Kafka helpers shared by the common, prober and notifier tests (all bounded)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from vigie_common.events.topics import dead_letter
from vigie_common.kafka.tansu import ensure_topics


def unique_topic() -> str:
    """A topic no other test uses."""
    return f"vigie.test.{uuid.uuid4().hex}.v1"


def unique_group() -> str:
    """A consumer group no other test uses (a new group starts from the beginning)."""
    return f"vigie-test-{uuid.uuid4().hex}"


async def create_topic_with_dlq(bootstrap: str, topic: str, partitions: int = 1) -> None:
    """``topic`` and ``<topic>.dlq``, so that consumers can subscribe before anything is sent."""
    await ensure_topics(
        bootstrap,
        [
            NewTopic(topic, num_partitions=partitions, replication_factor=1),
            NewTopic(dead_letter(topic), num_partitions=partitions, replication_factor=1),
        ],
    )


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[str, bytes]],
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Send ``(key, value)`` records in order and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(
                topic, value=value, key=key.encode(), headers=list(headers)
            )
    finally:
        await producer.stop()


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int:
    """The group's committed offset of one partition, -1 when none (does not join the group)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        tp = TopicPartition(topic, partition)
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return -1 if meta is None else int(meta.offset)


async def read_records(
    bootstrap: str,
    topic: str,
    *,
    keys: set[str],
    expect: int,
    within: float = 20.0,
    grace: float = 0.5,
) -> list[Any]:
    """Records of ``topic`` keyed by one of ``keys``: waits for ``expect``, then ``grace``."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + within
        settled: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(r for r in records if r.key and r.key.decode() in keys)
            if len(found) >= expect:
                settled = settled or time.monotonic()
                if time.monotonic() - settled >= grace:
                    break
    finally:
        await consumer.stop()
    return found


async def eventually(
    predicate: Callable[[], Awaitable[bool]], *, within: float, every: float = 0.1
) -> None:
    """Poll ``predicate`` until it is true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within} s")
